"""The whole lab in one object: sshd hosts, hostmaster and site databases, Aegir trees, drush, config.

Used by the integration tests (``tests/lab``) and by the demo sandbox's cluster layout (``demo_cluster``).
``build_lab`` returns a ``Lab`` whose ``config_path`` is a qm-tui config pointing at it; ``Lab.close()``
removes everything it created (hosts, databases, accounts).
"""

from __future__ import annotations

import grp
import hashlib
import os
import secrets
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from . import hostmaster_db
from .drush_standin import install_standin
from .hostmaster_db import AdminParams, HostmasterAccounts, create_hostmaster, drop_hostmaster, drop_prefix
from .hosts import HostLab, HostSpec
from .http_front import HttpFronts
from .scenario import build_lab_world
from .site_db import create_site_dbs, drop_site_dbs
from .sshd import ensure_aegir_user
from .trees import TreeManifest, build_trees
from .twins import add_twins
from .world import DbCreds, World

MASTER = "aegir.lab.test"
CLUSTER = ("web1.lab.test", "web2.lab.test", "web3.lab.test")
STANDALONE = "web4.lab.test"
AEGIR_ROOT = "/var/aegir"
GLUSTER = "/srv/gluster"


def lab_specs() -> list[HostSpec]:
    """The lab's real hosts: the hostmaster, the three cluster fronts, web4. The hostmaster mounts the
    cluster's shared /srv/gluster too: provision's master copy of a cluster site is authoritative and
    every verify runs provision's mkdirs through its ``files`` symlink (a dangling one fails verify)."""
    return [HostSpec(MASTER, ["gluster"]), *(HostSpec(h, ["gluster"]) for h in CLUSTER), HostSpec(STANDALONE)]


def host_path(hosts: HostLab, host: str, in_host: str) -> Path:
    """Controller-side path of an in-host absolute path (under /var/aegir or /srv/gluster)."""
    if in_host.startswith(GLUSTER + "/") or in_host == GLUSTER:
        return hosts.shared["gluster"] / in_host[len(GLUSTER):].lstrip("/")
    assert in_host.startswith(AEGIR_ROOT), in_host
    return hosts[host].root / in_host[len(AEGIR_ROOT):].lstrip("/")


class HostPaths(Protocol):
    """What ``files_state`` needs: a ``Lab``, or the demo's cluster (whose hosts another process started)."""

    def root(self, host: str) -> Path: ...

    def path(self, host: str, in_host: str) -> Path: ...


@dataclass(frozen=True)
class LocalTree:
    """``HostPaths`` of a single-server layout: its one host's tree is this machine's ``aegir_root``."""

    aegir_root: Path

    def root(self, host: str) -> Path:
        return self.aegir_root

    def path(self, host: str, in_host: str) -> Path:
        return Path(in_host)


@dataclass
class Lab:
    base: Path
    hosts: HostLab
    world: World
    admin: AdminParams
    prefix: str
    accounts: HostmasterAccounts
    site_creds: dict[int, DbCreds]
    manifest: TreeManifest
    config_path: Path
    state_dir: Path
    http: HttpFronts = field(default_factory=HttpFronts)  # a web server stand-in per host
    closed: bool = field(default=False)

    def root(self, host: str) -> Path:
        """Controller-side path of ``host``'s /var/aegir."""
        return self.hosts[host].root

    def path(self, host: str, in_host: str) -> Path:
        """Controller-side path of an in-host absolute path (under /var/aegir or /srv/gluster)."""
        return host_path(self.hosts, host, in_host)

    def site_dir(self, host: str, uri: str, platform_title: str) -> Path:
        return self.path(host, f"{self.world.platform(platform_title).publish_path}/sites/{uri}")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.http.stop()
            self.hosts.close()
        finally:
            try:
                drop_site_dbs(self.admin, self.prefix, list(self.site_creds))
                drop_hostmaster(self.admin, self.accounts.database, self.prefix)
            finally:
                drop_prefix(self.admin, self.prefix)


def build_lab(base: Path, admin: AdminParams | None = None, big_files: int = 40,
              big_file_size: int = 16384, twins: Sequence[tuple[str, str]] = (), *,
              binds: Mapping[str, Path] | None = None, open_ancestors: bool = True, title: str = "lab",
              progress: Callable[[str], None] | None = None) -> Lab:
    """Build and start everything. On any failure, whatever was created is removed again.

    ``twins``: (platform, twin title) pairs to add with ``twins.add_twin_platform`` (ping-pong migrations).
    ``binds``, ``open_ancestors``: ``HostLab``'s (the demo binds its private server's socket dir at
    /run/mysqld on every host, so 'localhost' there is that server, and widens no ancestor of ``base``).
    """
    say = progress or (lambda _msg: None)
    admin = admin or AdminParams.discover()
    user = ensure_aegir_user()
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    prefix = f"qmt{secrets.token_hex(4)}_"
    say(f"Starting {len(lab_specs())} lab hosts: real sshd on 127.0.0.1, each in its own mount namespace")
    hosts = HostLab(base, lab_specs(), master=MASTER, binds=binds, open_ancestors=open_ancestors).start(say)
    world = build_lab_world(prefix, big_files=big_files, big_file_size=big_file_size)
    creds: dict[int, DbCreds] = {}
    accounts: HostmasterAccounts | None = None
    http = HttpFronts()
    try:
        add_twins(world, twins)  # inside the try: a bad pair must not leave the hosts running
        say(f"Loading the cluster's hostmaster database ({len(world.sites)} sites, {len(world.platforms)} platforms)")
        accounts = create_hostmaster(admin, f"{prefix}hostmaster", world, account_prefix=prefix)
        say("Creating the cluster's site databases")
        creds = create_site_dbs(admin, world)
        www = grp.getgrnam("www-data").gr_gid
        say(f"Writing the Aegir trees of {len(hosts.hosts)} hosts and the shared /srv/gluster")
        manifest = build_trees(world, {h: hosts[h].root for h in hosts.hosts},
                               shared_roots={GLUSTER: hosts.shared["gluster"]}, site_creds=creds,
                               hostmaster_creds=accounts.rw, owner=(user.pw_uid, user.pw_gid), web_gid=www)
        hostmaster_db.stamp_verified(admin, accounts.database, world, int(time.time()) + 1)  # deployed, then verified
        drush = install_standin(hosts[MASTER].root / "bin")
        os.chown(drush, user.pw_uid, user.pw_gid)
        check = hosts[MASTER].exec_in(["drush", "--version"])
        if check.returncode != 0:
            raise RuntimeError(f"the drush stand-in does not run as aegir on {MASTER}: "
                               f"{(check.stderr or check.stdout).strip()[-300:]}")
        say(f"Starting a web server stand-in on each of the {len(hosts.hosts)} hosts")
        for name, host in hosts.hosts.items():
            http.start(host, next(s.context for s in world.servers if s.real and s.title == name))
        http.wait()
        state = base / "state"
        config_path = write_config(base, hosts, accounts.ro, state, admin.unix_socket, title, http.urls)
    except BaseException:
        http.stop()
        hosts.close()
        drop_site_dbs(admin, prefix, list(creds))
        if accounts is not None:
            drop_hostmaster(admin, accounts.database, prefix)
        drop_prefix(admin, prefix)
        raise
    return Lab(base, hosts, world, admin, prefix, accounts, creds, manifest, config_path, state, http)


def write_config(base: Path, hosts: HostLab, ro: DbCreds, state_dir: Path, unix_socket: str | None = None,
                 title: str = "lab", http_urls: Mapping[str, str] | None = None) -> Path:
    """The qm-tui config for the lab; ``unix_socket``: reach the hostmaster DB there (a private server).
    ``http_urls``: each host's web server stand-in, for the HTTP check (off: a test turns it on)."""
    pw = base / "client" / "db.pw"
    pw.write_text(ro.password + "\n")
    pw.chmod(0o600)
    db: dict[str, object] = {"user": ro.user, "password_file": str(pw), "name": ro.name}
    db |= {"unix_socket": unix_socket} if unix_socket else {"host": ro.host, "port": ro.port}
    data = {
        "hostmaster": {"db": db, "server": MASTER},
        "aegir_root": AEGIR_ROOT,
        "ssh": {"config_file": str(hosts.ssh_config), "known_hosts": str(hosts.known_hosts),
                "client_keys": [str(hosts.client_key)], "user": "aegir", "connect_timeout": 10,
                "keepalive_interval": 5, "keepalive_count_max": 3},
        "state_dir": str(state_dir),
        "title": title,
    }
    if http_urls:
        data["migrate"] = {"http_check": {"enabled": False, "servers": dict(http_urls)}}
    path = base / "client" / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class FileState:
    """Where a site's files are on one front: every place a files entry exists, and its content."""

    places: tuple[str, ...]  # in-host paths holding a `files` entry for the site
    inode: int | None  # of the single files entry (link or dir)
    digest: str  # of every file's relative path, size and bytes (followed through a symlink)


def files_state(lab: HostPaths, host: str, uri: str, label: str = "files") -> FileState:
    """Scan the host's whole tree for the site's `files` (or `private/files`) entry."""
    root = lab.root(host)
    sub = "files" if label == "files" else "private/files"
    places = []
    for plat in sorted((root / "platforms").iterdir()):
        p = plat / "sites" / uri / sub
        if os.path.lexists(p):
            places.append(str(p))
    parking = root / "qm-tui-parking"
    if parking.is_dir():
        for d in sorted(parking.iterdir()):
            if d.name.startswith(uri + "."):
                p = d / ("files" if label == "files" else "private_files")
                if os.path.lexists(p):
                    places.append(str(p))
    inode = os.lstat(places[0]).st_ino if len(places) == 1 else None
    digest = _digest(Path(places[0]), lab) if len(places) == 1 else ""
    return FileState(tuple(places), inode, digest)


def _digest(path: Path, lab: HostPaths) -> str:
    if path.is_symlink():
        target = os.readlink(path)
        path = lab.path("web1.lab.test", target) if target.startswith(GLUSTER) else path.resolve()
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(os.fsencode(path)):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            h.update(os.path.relpath(full, os.fsencode(path)) + b"\0" + str(st.st_size).encode())
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()
