"""``qm-tui demo``: build (first run) or reuse the demo sandbox, then open the TUI on it.

``--no-tui`` builds it, prints the config path (first stdout line) and the ``export`` line a shell
needs to use the CLI on it, and leaves its private MariaDB running; ``--stop`` stops that server.
Without ``--no-tui`` the server is stopped when the TUI exits (also on Ctrl-C or an error).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from ..cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command
from ..sandbox.demo import BIG_SITE_MB, Demo, default_dir, env_line, is_sandbox, open_demo, stop_demo
from ..sandbox.mariadb_private import INSTALL_HINT, MariaDBUnavailable, missing_binaries


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reset", action="store_true", help="remove the sandbox and build it again")
    p.add_argument("--path", metavar="DIR", type=Path, default=None,
                   help=f"where the sandbox lives (default: {default_dir()})")
    p.add_argument("--no-tui", action="store_true",
                   help="build or reuse it, print its config path and leave its database running for the CLI")
    p.add_argument("--stop", action="store_true", help="stop the sandbox's database (left running by --no-tui)")
    p.add_argument("--big-site-mb", metavar="MB", type=int, default=BIG_SITE_MB,
                   help=f"size of the big site's files on a (re)build (default: {BIG_SITE_MB})")


def _progress(msg: str) -> None:
    print(f"demo: {msg}", file=sys.stderr, flush=True)


@command("demo", "open the TUI on a self-contained sandbox (private MariaDB, drush stand-in)", _args)
def demo(args: argparse.Namespace) -> int:
    base: Path = (args.path or default_dir()).expanduser().resolve()
    if args.stop:
        if not is_sandbox(base):
            print(f"qm-tui: {base} is not a demo sandbox", file=sys.stderr)
            return EXIT_USAGE
        print("demo: database stopped" if stop_demo(base) else "demo: database was not running", file=sys.stderr)
        return EXIT_OK
    missing = missing_binaries()
    if missing:
        print(f"qm-tui: {', '.join(missing)} not found: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sandbox = open_demo(base, reset=args.reset, big_site_mb=args.big_site_mb, progress=_progress)
    except MariaDBUnavailable as exc:
        print(f"qm-tui: {exc}", file=sys.stderr)
        return EXIT_FAILED
    verb = "built" if sandbox.built else "reused"
    _progress(f"sandbox {verb} in {sandbox.seconds:.1f} s: {sandbox.base}")
    if args.no_tui:
        return _print_usage(sandbox)
    return _run_tui(sandbox, read_only=bool(getattr(args, "read_only", False)))


def _print_usage(sandbox: Demo) -> int:
    print(sandbox.config_path, flush=True)
    print(env_line(sandbox.config_path, sandbox.env), flush=True)
    _progress("its MariaDB keeps running for the CLI: paste the export line above (or source "
              f"{sandbox.base / 'env.sh'}), then e.g. qm-tui sites; stop it with: qm-tui demo --stop"
              + ("" if sandbox.base == default_dir().resolve() else f" --path {sandbox.base}"))
    return EXIT_OK


def _run_tui(sandbox: Demo, read_only: bool) -> int:
    def hangup(signum: int, _frame: FrameType | None) -> None:
        # The terminal is gone (or we are told to go): stop the database, then die of the same signal.
        sandbox.stop()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGHUP, hangup)
    signal.signal(signal.SIGTERM, hangup)
    try:
        os.environ.update(sandbox.env)  # the engine's mariadb/mariadb-dump find the private socket
        os.environ["QM_TUI_CONFIG"] = str(sandbox.config_path)  # for runners and commands it spawns
        from ..app import run_app
        from ..config import load_config

        return run_app(load_config(sandbox.config_path), read_only=read_only)
    finally:
        _stop_unless_busy(sandbox)


def _stop_unless_busy(sandbox: Demo) -> None:
    try:
        live = sandbox.live_runs()
    except Exception:  # noqa: BLE001 - an unreadable journal must not keep the database running
        live = []
    if live:
        where = "" if sandbox.base == default_dir().resolve() else f" --path {sandbox.base}"
        _progress(f"run {', '.join(live)} is still running: the sandbox's MariaDB stays up for it; "
                  f"stop it afterwards with: qm-tui demo --stop{where}")
        return
    _progress("stopping the sandbox's MariaDB")
    sandbox.stop()
