"""A single-server Aegir on this machine: the hostmaster is the only web server, no SSH.

``build_local(base)`` writes an aegir_root under ``base`` (every path in every file names it, never
/var/aegir), loads the ``local_scenario`` hostmaster and site databases, installs the drush stand-in as
``<aegir_root>/bin/drush`` and writes a qm-tui config with ``hostmaster.server: localhost`` (so the
engine runs every command locally). Used by ``tests/test_local_layout.py`` and ``qm-tui demo``.

Database: a private MariaDB under ``base/mysql`` (``mariadb_private``) unless ``admin`` names an
existing server, whose databases and accounts are then prefixed and dropped by ``close()``.

The config is all a qm-tui process needs: with a private server it names the socket twice, for qm-tui's
own hostmaster connection (``hostmaster.db.unix_socket``) and for the engine's mariadb-dump/mariadb, which
run on this machine for sites whose drushrc.php says ``db_host`` 'localhost', as Aegir writes it
(``migrate.db_socket``; without it they would reach the system's default socket, not the private one).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import hostmaster_db
from .drush_standin import standin_python
from .hostmaster_db import AdminParams, HostmasterAccounts, create_hostmaster, drop_hostmaster, drop_prefix
from .local_scenario import build_local_world
from .mariadb_private import PrivateMariaDB, start_private
from .site_db import create_site_dbs, drop_site_dbs
from .trees import TreeManifest, build_trees
from .twins import add_twins
from .world import DbCreds, World

Progress = Callable[[str], None]

SHIM = """#!{python}
# drush stand-in (qm-tui) for a local single-server sandbox; see qm_lab/drush_standin.py.
# On a real server drush runs as the aegir user whose HOME is the aegir root; here the root is set.
import os
import sys
os.environ["QM_STANDIN_AEGIR_ROOT"] = {root!r}
sys.path[:0] = {paths!r}
{socket}from qm_lab.drush_standin import main
raise SystemExit(main())
"""
# PHP's mysql driver reaches 'localhost' through php.ini's default socket: here, the private server's.
SOCKET = "os.environ['QM_STANDIN_MYSQL_SOCKET'] = {sock!r}\n"


@dataclass
class LocalLab:
    base: Path
    aegir_root: Path
    world: World
    admin: AdminParams
    prefix: str
    accounts: HostmasterAccounts
    site_creds: dict[int, DbCreds]
    manifest: TreeManifest
    config_path: Path
    state_dir: Path
    drush: Path
    db: PrivateMariaDB | None  # None: an existing server (``admin``)
    env: dict[str, str] = field(default_factory=dict)  # what a qm-tui process needs besides the config: nothing
    closed: bool = field(default=False)

    def site_dir(self, uri: str, platform_title: str) -> Path:
        return Path(f"{self.world.platform(platform_title).publish_path}/sites/{uri}")

    def close(self) -> None:
        """Stop the private server, or drop this lab's databases and accounts on the shared one.
        Files under ``base`` stay: the caller owns that directory."""
        if self.closed:
            return
        self.closed = True
        if self.db is not None:
            self.db.stop()
            return
        _drop(self.admin, self.prefix, list(self.site_creds), self.accounts.database)

    def __enter__(self) -> LocalLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop(admin: AdminParams, prefix: str, nids: list[int], database: str | None) -> None:
    try:
        drop_site_dbs(admin, prefix, nids)
        if database:
            drop_hostmaster(admin, database, prefix)
    finally:
        drop_prefix(admin, prefix)


def build_local(base: Path, *, admin: AdminParams | None = None, big_site_mb: int = 0,
                progress: Progress | None = None, master: str = "localhost",
                title: str = "local single-server sandbox (drush stand-in)",
                twins: Sequence[tuple[str, str]] = ()) -> LocalLab:
    """Build the sandbox under ``base``; on any failure whatever was created is removed (or stopped).

    ``admin``: an existing server to use instead of a private one. ``big_site_mb``: MiB of 1 MiB files
    for ``big-d7.local.test``. ``master``: the server_master node's title (also its remote_host);
    qm-tui reaches it as ``localhost`` either way. ``twins``: (platform, twin title) pairs for
    ``twins.add_twin_platform`` (ping-pong migrations). Raises ``MariaDBUnavailable`` (one line, with the
    install hint) when no admin is given and the server binaries are missing.
    """
    say = progress or (lambda _msg: None)
    base = Path(base).resolve()  # paths are checked to be normalised and under aegir_root
    root = base / "aegir"
    base.mkdir(parents=True, exist_ok=True)
    db: PrivateMariaDB | None = None
    if admin is None:
        say("Starting a private MariaDB server (no TCP port)")
        db = start_private(base / "mysql")
        admin = db.admin
    prefix = f"qmt{secrets.token_hex(4)}_"
    creds: dict[int, DbCreds] = {}
    accounts: HostmasterAccounts | None = None
    try:
        world = build_local_world(prefix, str(root), master=master, big_site_mb=big_site_mb)
        add_twins(world, twins)
        live = [s for s in world.sites if s.installed]
        say(f"Loading the hostmaster database ({len(world.sites)} sites, {len(world.platforms)} platforms)")
        accounts = create_hostmaster(admin, f"{prefix}hostmaster", world, account_prefix=prefix)
        say(f"Creating {len(live) - 1} site databases")
        creds = create_site_dbs(admin, world)
        mb = sum(f.size for s in live for f in s.files) / 2**20
        say(f"Writing the Aegir tree: {len(world.platforms)} platforms, {len(live)} sites, {mb:.0f} MiB of files")
        manifest = build_trees(world, {world.master_host: root}, site_creds=creds, hostmaster_creds=accounts.rw,
                               aegir_root=str(root))
        hostmaster_db.stamp_verified(admin, accounts.database, world, int(time.time()) + 1)  # deployed, then verified
        say("Installing the drush stand-in")
        drush = install_local_drush(root, db.socket if db else None)
        check = subprocess.run([str(drush), "--version"], capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
        if check.returncode != 0:
            raise RuntimeError(f"the drush stand-in does not run: {(check.stderr or check.stdout).strip()[-300:]}")
        state = base / "state"
        config_path = write_local_config(base, root, admin, accounts.ro, state, drush, title)
    except BaseException:
        if db is not None:
            db.stop()
        else:
            _drop(admin, prefix, list(creds), accounts.database if accounts else None)
        raise
    say("Ready")
    return LocalLab(base, root, world, admin, prefix, accounts, creds, manifest, config_path, state, drush, db)


def install_local_drush(root: Path, socket: Path | None = None) -> Path:
    """``<root>/bin/drush``: the stand-in bound to this aegir root (and to a private server's socket)."""
    python, paths = standin_python()
    text = SHIM.format(python=python, root=str(root), paths=paths,
                       socket=SOCKET.format(sock=str(socket)) if socket else "")
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    path, tmp = bin_dir / "drush", bin_dir / f".drush.{os.getpid()}.tmp"
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return path


def write_local_config(base: Path, root: Path, admin: AdminParams, ro: DbCreds, state_dir: Path, drush: Path,
                       title: str) -> Path:
    client = base / "client"
    client.mkdir(mode=0o700, exist_ok=True)
    pw = client / "db.pw"
    pw.write_text(ro.password + "\n")
    pw.chmod(0o600)
    known = client / "known_hosts"  # nothing goes over SSH; keep qm-tui off the user's ~/.ssh
    known.touch()
    db: dict[str, object] = {"user": ro.user, "password_file": str(pw), "name": ro.name}
    db |= {"unix_socket": admin.unix_socket} if admin.unix_socket else {"host": ro.host, "port": ro.port}
    data = {
        "hostmaster": {"db": db, "server": "localhost"},
        "aegir_root": str(root),
        "ssh": {"known_hosts": str(known)},
        "state_dir": str(state_dir),
        "title": title,
        # The engine's mariadb/mariadb-dump run here: 'localhost' must be the private server, not the system's.
        "migrate": {"drush": str(drush)} | ({"db_socket": admin.unix_socket} if admin.unix_socket else {}),
    }
    path = client / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    path.chmod(0o600)
    return path
