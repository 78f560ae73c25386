"""The ``qm-tui demo`` sandbox: build once under the user's state dir, reuse it afterwards.

``open_demo(base)`` returns a running ``Demo``: a single-server Aegir (``local.build_local``: the
hostmaster is the only web server, no SSH) with its own private MariaDB (``mariadb_private``: datadir
and unix socket under ``base/mysql``, no TCP port). A finished build leaves ``base/demo.json``; a later
call finds it, restarts the private server and checks the hostmaster database is there, else rebuilds.
``reset=True`` stops the server and removes the sandbox first. ``stop_demo(base)`` stops a server a
``--no-tui`` run left running (its pid file names it).

A directory is only ever removed when it is a sandbox (``demo.json``) or holds nothing but what a
sandbox build writes (an interrupted build): ``--path`` pointing at someone's data is refused.

Only the single-server layout is built here; the SSH cluster layout (``lab.build_lab``) needs a
MariaDB reachable over TCP from the lab's namespaces, which the socket-only private server is not.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import QmError
from .local import build_local
from .local_scenario import BIG_SITE
from .mariadb_private import PrivateMariaDB, _reap_stale, start_private

Progress = Callable[[str], None]

MARKER = "demo.json"
ENV_FILE = "env.sh"
VERSION = 1
BIG_SITE_MB = 300
TITLE = "demo sandbox · drush stand-in, not a real Aegir"
# What a sandbox build writes under its base: an unfinished build holding only these may be removed.
_OURS = frozenset({"aegir", "mysql", "client", "state", MARKER, ENV_FILE})


class DemoError(QmError):
    """The sandbox cannot be built or reused here (one line for the user)."""


def default_dir() -> Path:
    """``$XDG_STATE_HOME/qm-tui/demo``, else ``~/.local/state/qm-tui/demo`` (qm-tui's default state_dir)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "qm-tui" / "demo"


@dataclass
class Demo:
    base: Path
    config_path: Path
    db: PrivateMariaDB
    built: bool  # True: built by this call; False: an existing sandbox reused
    seconds: float  # time taken by open_demo
    info: dict[str, object] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """What a qm-tui process driving the sandbox needs in its environment (the client's socket)."""
        return dict(self.db.env)

    @property
    def aegir_root(self) -> Path:
        return self.base / "aegir"

    def stop(self) -> None:
        self.db.stop()

    def live_runs(self) -> list[str]:
        """Ids of migrations whose runner still runs (a detached run outlives the TUI that started it)."""
        from ..engine.journal import Journal

        if not (self.base / "state" / "journal.sqlite").exists():
            return []
        journal = Journal(self.base / "state", read_only=True)
        try:
            return [r.id for r in journal.list_runs() if r.state in ("running", "rolling_back") and r.runner_alive]
        finally:
            journal.close()


def _say(progress: Progress | None) -> Progress:
    start = time.monotonic()

    def say(msg: str) -> None:
        if progress is not None:
            progress(f"[{time.monotonic() - start:5.1f}s] {msg}")

    return say


def is_sandbox(base: Path) -> bool:
    return (base / MARKER).is_file()


def read_marker(base: Path) -> dict[str, object]:
    try:
        data = json.loads((base / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stop_demo(base: Path) -> bool:
    """Stop the sandbox's mariadbd if one runs (checked by its pid file and command line). True if it did."""
    pid_file = Path(base).resolve() / "mysql" / "mysqld.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    running = Path(f"/proc/{pid}").exists()
    _reap_stale(pid_file)
    return running and not Path(f"/proc/{pid}").exists()


def remove_demo(base: Path) -> None:
    """Stop the server and delete the sandbox; refuses a directory that is not one."""
    base = Path(base).resolve()
    if not base.exists():
        return
    if not base.is_dir():
        raise DemoError(f"{base} is not a directory")
    entries = {p.name for p in base.iterdir()}
    if not is_sandbox(base) and not entries <= _OURS:
        raise DemoError(f"{base} is not a qm-tui demo sandbox (no {MARKER}); choose a new or empty directory")
    stop_demo(base)
    shutil.rmtree(base)


def open_demo(base: Path | None = None, *, reset: bool = False, big_site_mb: int = BIG_SITE_MB,
              progress: Progress | None = None) -> Demo:
    """The sandbox at ``base`` (default ``default_dir()``), running: reused if healthy, else built.

    Raises ``DemoError`` for a directory that is not a sandbox, ``MariaDBUnavailable`` (one line with
    the install hint) when the server binaries are missing or the server does not start.
    """
    base = Path(base or default_dir()).expanduser().resolve()
    say = _say(progress)
    t0 = time.monotonic()
    if reset and base.exists():
        say(f"Removing the sandbox at {base}")
        remove_demo(base)
    if is_sandbox(base):
        demo = _reuse(base, say)
        if demo is not None:
            demo.seconds = time.monotonic() - t0
            say("Ready")
            return demo
        say("The sandbox is incomplete or damaged: rebuilding it")
        remove_demo(base)
    elif base.exists() and any(base.iterdir()):
        remove_demo(base)  # an interrupted build (only our entries), or refused
    say(f"Building the demo sandbox in {base}")
    lab = build_local(base, big_site_mb=big_site_mb, progress=say, title=TITLE)
    assert lab.db is not None
    try:
        info: dict[str, object] = {
            "version": VERSION, "config": str(lab.config_path), "aegir_root": str(lab.aegir_root),
            "drush": str(lab.drush), "big_site": BIG_SITE, "big_site_mb": big_site_mb,
            "built_seconds": round(time.monotonic() - t0, 1),
            "sites": {s.uri: lab.world.platform_of(s).title for s in lab.world.sites if s.installed},
        }
        write_env_file(base, lab.config_path, lab.env)
        tmp = base / f".{MARKER}.tmp"
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, base / MARKER)  # last: a sandbox without it is an unfinished build
    except BaseException:
        lab.close()
        raise
    return Demo(base, lab.config_path, lab.db, True, time.monotonic() - t0, info)


def _reuse(base: Path, say: Progress) -> Demo | None:
    info = read_marker(base)
    config = Path(str(info.get("config", "")))
    if info.get("version") != VERSION or not config.is_file() or not Path(str(info.get("drush", ""))).is_file():
        return None
    say(f"Reusing the demo sandbox in {base} (qm-tui demo --reset rebuilds it)")
    say("Starting its private MariaDB server (no TCP port)")
    db = start_private(base / "mysql")
    try:
        with db.admin.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", ("%hostmaster",))
            found = cur.fetchall()
    except BaseException:
        db.stop()
        raise
    if not found:
        db.stop()
        return None
    write_env_file(base, config, db.env)
    return Demo(base, config, db, False, 0.0, info)


def env_line(config_path: Path, env: dict[str, str]) -> str:
    """``export QM_TUI_CONFIG=... MYSQL_HOME=...``: what a shell needs to use the CLI on the sandbox."""
    pairs = {"QM_TUI_CONFIG": str(config_path), **env}
    return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in pairs.items())


def write_env_file(base: Path, config_path: Path, env: dict[str, str]) -> Path:
    path = base / ENV_FILE
    text = "# source this file to use the qm-tui CLI on the demo sandbox\n" + env_line(config_path, env) + "\n"
    bin_dir = Path(sys.executable).parent  # the venv qm-tui is installed in: put its qm-tui on PATH
    if (bin_dir / "qm-tui").is_file():
        text += f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"\n'
    path.write_text(text)
    return path
