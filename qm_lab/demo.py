"""The ``qm-tui demo`` sandbox: build once under the user's state dir, reuse it afterwards.

``open_demo(base)`` returns a running ``Demo`` with its own private MariaDB (``mariadb_private``: datadir
and unix socket under ``base/mysql``, no TCP port) holding the hostmaster databases of two layouts:

* ``local``: a single-server Aegir (``local.build_local``: the hostmaster is the only web server, no SSH),
  config ``base/client/config.yaml``; always built.
* ``cluster``: the test lab's hosts over real sshd (``demo_cluster``), config ``base/cluster/client/
  config.yaml``; built when the lab can run here (root, namespaces: ``sshd.lab_unavailable_reason``),
  else the build says in one line why not.

A finished build leaves ``base/demo.json``; a later call finds it, restarts the private server (and the
cluster's hosts), checks the hostmaster databases are there, else rebuilds. ``reset=True`` stops
everything and removes the sandbox first. ``stop_demo(base)`` stops what a ``--no-tui`` run left running.

A directory is only ever removed when it is a sandbox (``demo.json``) or holds nothing but what a
sandbox build writes (an interrupted build): ``--path`` pointing at someone's data is refused.
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

from qm_tui.errors import QmError

from .demo_cluster import CLUSTER_DIR, DemoCluster, build_cluster, start_cluster, stop_cluster
from .demo_defaults import BIG_SITE_MB, CLUSTER_ENV_FILE, ENV_FILE, default_dir
from .local import build_local
from .local_scenario import BIG_SITE
from .mariadb_private import PrivateMariaDB, _reap_stale, start_private
from .sshd import lab_unavailable_reason

Progress = Callable[[str], None]

MARKER = "demo.json"
VERSION = 3  # 2: socket-authenticated admin, socket in mysql/run/, cluster layout; 3: migrate.db_socket
TITLE = "demo sandbox · drush stand-in, not a real Aegir"
# What a sandbox build writes under its base: an unfinished build holding only these may be removed.
_OURS = frozenset({"aegir", "mysql", "client", "state", CLUSTER_DIR, MARKER, ENV_FILE, CLUSTER_ENV_FILE})


class DemoError(QmError):
    """The sandbox cannot be built or reused here (one line for the user)."""


@dataclass
class Demo:
    base: Path
    config_path: Path  # the local layout's
    db: PrivateMariaDB
    built: bool  # True: built by this call; False: an existing sandbox reused
    seconds: float  # time taken by open_demo
    info: dict[str, object] = field(default_factory=dict)
    cluster: DemoCluster | None = None  # running hosts, when the cluster layout is there and can run
    cluster_note: str = ""  # why there is no cluster (one line)

    def config(self, layout: str = "local") -> Path:
        if layout == "local":
            return self.config_path
        if self.cluster is None:
            raise DemoError(f"the cluster layout is not available: {self.cluster_note or 'not built'}")
        return self.cluster.config_path

    @property
    def aegir_root(self) -> Path:
        return self.base / "aegir"

    def stop(self) -> None:
        """Stop the cluster's hosts, then the database."""
        try:
            if self.cluster is not None:
                self.cluster.stop()
        finally:
            self.db.stop()

    def detach(self) -> None:
        """Leave everything running after this process exits (``stop_demo`` stops it)."""
        if self.cluster is not None:
            self.cluster.detach()

    def live_runs(self) -> list[str]:
        """Ids of migrations whose runner still runs (a detached run outlives the TUI that started it)."""
        from qm_tui.engine.journal import Journal

        out = []
        for state in (self.base / "state", self.base / CLUSTER_DIR / "state"):
            if not (state / "journal.sqlite").exists():
                continue
            journal = Journal(state, read_only=True)
            try:
                out += [r.id for r in journal.list_runs() if r.state in ("running", "rolling_back") and r.runner_alive]
            finally:
                journal.close()
        return out


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


def stop_demo(base: Path) -> tuple[bool, int]:
    """Stop the cluster's hosts and the sandbox's mariadbd (checked by pid file and command line).

    Returns (whether a running mariadbd was stopped, how many hosts were)."""
    base = Path(base).resolve()
    hosts = stop_cluster(base) if (base / CLUSTER_DIR).is_dir() else 0
    pid_file = base / "mysql" / "mysqld.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False, hosts
    running = Path(f"/proc/{pid}").exists()
    _reap_stale(pid_file)
    return running and not Path(f"/proc/{pid}").exists(), hosts


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
        old = read_marker(base).get("version") != VERSION
        say("The sandbox was built by another qm-tui version: rebuilding it" if old
            else "The sandbox is incomplete or damaged: rebuilding it")
        remove_demo(base)
    elif base.exists() and any(base.iterdir()):
        remove_demo(base)  # an interrupted build (only our entries), or refused
    say(f"Building the demo sandbox in {base}")
    say("Single-server layout (local): the hostmaster is the only web server")
    lab = build_local(base, big_site_mb=big_site_mb, progress=say, title=TITLE)
    assert lab.db is not None
    cluster: DemoCluster | None = None
    try:
        info: dict[str, object] = {
            "version": VERSION, "config": str(lab.config_path), "aegir_root": str(lab.aegir_root),
            "drush": str(lab.drush), "big_site": BIG_SITE, "big_site_mb": big_site_mb,
            "hostmaster_db": lab.accounts.database,
            "sites": {s.uri: lab.world.platform_of(s).title for s in lab.world.sites if s.installed},
        }
        note = lab_unavailable_reason() or ""
        if note:
            say(f"Only the single-server layout is built: the cluster layout's {note}")
        else:
            say("Cluster layout: a hostmaster, a three-front cluster and web4 over real sshd")
            try:
                cluster, info["cluster"] = build_cluster(base, lab.db, say)
            except Exception as exc:  # noqa: BLE001 - the local layout stays usable; say why in one line
                note = f"its build failed: {' '.join(str(exc).split())[:300]}"
                say(f"Only the single-server layout is built: {note}")
        if note:
            info["cluster_skipped"] = note
        info["built_seconds"] = round(time.monotonic() - t0, 1)
        write_env_file(base, lab.config_path)
        write_env_file(base, cluster.config_path if cluster else None, CLUSTER_ENV_FILE)
        tmp = base / f".{MARKER}.tmp"
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, base / MARKER)  # last: a sandbox without it is an unfinished build
    except BaseException:
        if cluster is not None:
            cluster.stop()
        lab.close()
        raise
    return Demo(base, lab.config_path, lab.db, True, time.monotonic() - t0, info, cluster, note)


def _reuse(base: Path, say: Progress) -> Demo | None:
    info = read_marker(base)
    config = Path(str(info.get("config", "")))
    if info.get("version") != VERSION or not config.is_file() or not Path(str(info.get("drush", ""))).is_file():
        return None
    say(f"Reusing the demo sandbox in {base} (qm-tui demo --reset rebuilds it)")
    say("Starting its private MariaDB server (no TCP port)")
    db = start_private(base / "mysql")
    cinfo = info.get("cluster") if isinstance(info.get("cluster"), dict) else None
    if cinfo is not None and not Path(str(cinfo.get("config", ""))).is_file():
        db.stop()
        return None
    try:
        wanted = {str(info.get("hostmaster_db")), *([str(cinfo.get("hostmaster_db"))] if cinfo else [])}
        with db.admin.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            found = {row[0] for row in cur.fetchall()}
    except BaseException:
        db.stop()
        raise
    if not wanted <= found:
        db.stop()
        return None
    cluster, note = None, str(info.get("cluster_skipped") or "")
    if cinfo is not None:
        note = lab_unavailable_reason() or ""
        if note:
            say(f"Not starting the cluster layout: its {note}")
        else:
            say("Starting the cluster layout's hosts")
            try:
                cluster = start_cluster(base, db, Path(str(cinfo.get("config"))), say)
            except Exception as exc:  # noqa: BLE001 - the local layout stays usable
                note = f"its hosts did not start: {' '.join(str(exc).split())[:300]}"
                say(f"Not starting the cluster layout: {note}")
    elif not lab_unavailable_reason():
        say(f"This sandbox has no cluster layout ({note or 'built without it'}); qm-tui demo --reset builds it")
    write_env_file(base, config)
    write_env_file(base, cluster.config_path if cluster else None, CLUSTER_ENV_FILE)
    return Demo(base, config, db, False, 0.0, info, cluster, note)


def env_line(config_path: Path) -> str:
    """``export QM_TUI_CONFIG=...``: what a shell needs to use the CLI on a layout. Nothing else: the
    local config names the private socket for the engine's mariadb-dump too (``migrate.db_socket``),
    the cluster's runs its dumps on its hostmaster, where /run/mysqld is that socket."""
    return f"export QM_TUI_CONFIG={shlex.quote(str(config_path))}"


def write_env_file(base: Path, config_path: Path | None, name: str = ENV_FILE) -> Path:
    """``base/<name>`` for ``. <name>`` in a shell; removed when the layout is absent (``config_path`` None)."""
    path = base / name
    if config_path is None:
        path.unlink(missing_ok=True)
        return path
    text = "# source this file to use the qm-tui CLI on the demo sandbox\n" + env_line(config_path) + "\n"
    bin_dir = Path(sys.executable).parent  # the venv qm-tui is installed in: put its qm-tui on PATH
    if (bin_dir / "qm-tui").is_file():
        text += f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"\n'
    path.write_text(text)
    return path
