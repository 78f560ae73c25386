"""``qm-tui demo``: build (first run) or reuse the demo sandbox, then open the TUI on one of its layouts.

``--layout local`` (default: the single-server Aegir) or ``cluster`` (the SSH cluster, built when running
as root with namespaces). ``--no-tui`` builds it, prints that layout's config path (first stdout line)
and the ``export`` line a shell needs to use the CLI on it, and leaves its private MariaDB and the
cluster's sshd hosts running; ``--stop`` stops them. Without ``--no-tui`` they are stopped when the TUI
exits (also on Ctrl-C or an error), unless a detached migration still runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from qm_lab.demo_defaults import BIG_SITE_MB, CLUSTER_ENV_FILE, ENV_FILE, LAYOUTS, default_dir

from ..cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, command

if TYPE_CHECKING:
    from qm_lab.demo import Demo


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reset", action="store_true", help="remove the sandbox and build it again")
    p.add_argument("--path", metavar="DIR", type=Path, default=None,
                   help=f"where the sandbox lives (default: {default_dir()})")
    p.add_argument("--layout", choices=LAYOUTS, default="local",
                   help="local: single server, no SSH (default); cluster: hostmaster and web fronts over SSH "
                        "(root only)")
    p.add_argument("--no-tui", action="store_true",
                   help="build or reuse it, print the layout's config path, leave its database (and hosts) running")
    p.add_argument("--stop", action="store_true",
                   help="stop the sandbox's database and hosts (left running by --no-tui)")
    p.add_argument("--big-site-mb", metavar="MB", type=int, default=BIG_SITE_MB,
                   help=f"size of the big site's files on a (re)build (default: {BIG_SITE_MB})")


def _progress(msg: str) -> None:
    print(f"demo: {msg}", file=sys.stderr, flush=True)


@command("demo", "open the TUI on a self-contained sandbox (private MariaDB, drush stand-in)", _args)
def demo(args: argparse.Namespace) -> int:
    # The builders import the whole sandbox: only here, not on every qm-tui command.
    from qm_lab.demo import DemoError, is_sandbox, open_demo, stop_demo
    from qm_lab.mariadb_private import INSTALL_HINT, MariaDBUnavailable, missing_binaries
    from qm_lab.sshd import lab_unavailable_reason

    base: Path = (args.path or default_dir()).expanduser().resolve()
    if args.stop:
        if not is_sandbox(base):
            print(f"qm-tui: {base} is not a demo sandbox", file=sys.stderr)
            return EXIT_USAGE
        db, hosts = stop_demo(base)
        what = [*(["database"] if db else []), *([f"{hosts} hosts"] if hosts else [])]
        _progress(f"{' and '.join(what)} stopped" if what else "nothing was running")
        return EXIT_OK
    missing = missing_binaries()
    if missing:
        print(f"qm-tui: {', '.join(missing)} not found: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    why = lab_unavailable_reason() if args.layout == "cluster" else None
    if why:
        print(f"qm-tui: the cluster layout needs the lab hosts: {why}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sandbox = open_demo(base, reset=args.reset, big_site_mb=args.big_site_mb, progress=_progress)
    except MariaDBUnavailable as exc:
        print(f"qm-tui: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        sandbox.config(args.layout)
    except DemoError as exc:  # the cluster's build failed, or it was built without it
        print(f"qm-tui: {exc}", file=sys.stderr)
        sandbox.stop()
        return EXIT_FAILED
    verb = "built" if sandbox.built else "reused"
    _progress(f"sandbox {verb} in {sandbox.seconds:.1f} s: {sandbox.base}")
    if args.no_tui:
        return _print_usage(sandbox, args.layout)
    return _run_tui(sandbox, args.layout, read_only=bool(getattr(args, "read_only", False)))


def _where(sandbox: Demo) -> str:
    return "" if sandbox.base == default_dir().resolve() else f" --path {sandbox.base}"


def _print_usage(sandbox: Demo, layout: str) -> int:
    from qm_lab.demo import env_line

    sandbox.detach()  # the hosts must outlive this process
    config = sandbox.config(layout)
    print(config, flush=True)
    print(env_line(config), flush=True)
    env_file = sandbox.base / (ENV_FILE if layout == "local" else CLUSTER_ENV_FILE)
    running = "its MariaDB" + (" and its cluster's hosts keep" if sandbox.cluster else " keeps")
    _progress(f"{running} running for the CLI: paste the export line above (or source {env_file}), then e.g. "
              f"qm-tui sites; stop them with: qm-tui demo --stop{_where(sandbox)}")
    return EXIT_OK


def _run_tui(sandbox: Demo, layout: str, read_only: bool) -> int:
    def hangup(signum: int, _frame: FrameType | None) -> None:
        # The terminal is gone (or we are told to go): stop the database, then die of the same signal.
        sandbox.stop()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGHUP, hangup)
    signal.signal(signal.SIGTERM, hangup)
    try:
        config = sandbox.config(layout)
        os.environ["QM_TUI_CONFIG"] = str(config)  # for runners and commands it spawns
        from ..app import run_app
        from ..config import load_config

        return run_app(load_config(config), read_only=read_only)
    finally:
        _stop_unless_busy(sandbox)


def _stop_unless_busy(sandbox: Demo) -> None:
    try:
        live = sandbox.live_runs()
    except Exception:  # noqa: BLE001 - an unreadable journal must not keep the database running
        live = []
    if live:
        sandbox.detach()
        _progress(f"run {', '.join(live)} is still running: the sandbox's MariaDB (and hosts) stay up for it; "
                  f"stop them afterwards with: qm-tui demo --stop{_where(sandbox)}")
        return
    _progress("stopping the sandbox's MariaDB" + (" and its cluster's hosts" if sandbox.cluster else ""))
    sandbox.stop()
