"""In-memory model of an Aegir 3 hostmaster and the code/data behind it (lab and ``qm-tui demo``).

A ``World`` is what ``hostmaster_db`` loads into MariaDB, what ``site_db`` turns into per-site
databases and what ``trees`` writes as Aegir file trees, so all three agree by construction.

It follows Aegir's storage rules (research brief aegir.md §1):

* every object is a node with a ``nid`` and a current ``vid``; ``Node.history`` holds the older
  revisions as full snapshots, written to the type tables under their own ``vid`` exactly as Aegir
  keeps them (``revise`` makes one);
* package instances are created the way ``hosting_package_instance_sync`` does after a verify:
  ``verify_platform`` writes ``rid = platform nid`` (base + sites/all) and one set per profile with
  ``rid = iid of that profile's own instance`` (base + profile + sites/all); ``verify_site`` writes
  ``rid = site nid`` (every module/theme of its system table, its profile with status 1, the core
  ``drupal`` package with status 0, site-local code with ``platform = -1``).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Self, TypeVar

BASE_TIME = 1_704_067_200  # 2024-01-01T00:00:00Z: fixed so every build is identical
PLATFORM_EXCLUDE = -1  # HOSTING_PACKAGE_INSTANCE_EXCLUDE: site-local code


@dataclass(frozen=True)
class DbCreds:
    host: str
    port: int
    name: str
    user: str
    password: str


# --- code on a platform -------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeExt:
    """One module/theme/profile in a platform's (or a site's) code.

    ``update_n`` is the highest ``hook_update_N`` in its ``.install`` (0: none). ``scope`` says
    where it lives: ``core``, ``contrib``, ``custom`` (sites/all or modules/ on D8+), ``profile:<p>``
    (inside that profile) or ``site`` (sites/<uri>/modules). ``parent`` is the project directory of
    a sub-module (``views_ui`` lives in ``views/``). ``version`` None means no version line at all.
    """

    short_name: str
    type: str  # module | theme | profile
    name: str
    version: str | None
    update_n: int = 0
    scope: str = "contrib"
    parent: str | None = None
    old_short_name: str = ""
    languages: tuple[str, ...] = ()


def core_major(version: str | None) -> int:
    m = re.match(r"(\d+)\.", version or "")
    if not m:
        raise ValueError(f"not a core version: {version!r}")
    return int(m.group(1))


def code_schema(ext: CodeExt, major: int) -> int:
    """What provision records for the platform side: max hook_update_N, at least major*1000 on D8+."""
    if ext.type != "module":
        return 0
    return max(ext.update_n, major * 1000) if major >= 8 else ext.update_n


def installed_schema(ext: CodeExt, major: int) -> int:
    """The schema an installed module has after its updates ran (D8+: 8000 when it has no hooks)."""
    if ext.type != "module":
        return 0
    return ext.update_n or (8000 if major >= 8 else 0)


def ext_dir(ext: CodeExt, major: int, uri: str | None = None) -> str:
    """Directory of an extension relative to the platform root."""
    d8 = major >= 8
    if ext.type == "profile":
        return f"{'core/' if d8 and ext.scope == 'core' else ''}profiles/{ext.short_name}"
    kind = "modules" if ext.type == "module" else "themes"
    if ext.scope == "core":
        base = f"core/{kind}" if d8 else kind
    elif ext.scope == "contrib":
        base = f"{kind}/contrib" if d8 else f"sites/all/{kind}"
    elif ext.scope == "custom":
        base = f"{kind}/custom" if d8 else f"sites/all/{kind}/custom"
    elif ext.scope.startswith("profile:"):
        p = ext.scope.split(":", 1)[1]
        base = f"profiles/{p}/{kind}"
    elif ext.scope == "site":
        if not uri:
            raise ValueError(f"site-local {ext.short_name} needs the site uri")
        base = f"sites/{uri}/{kind}"
    else:
        raise ValueError(f"unknown scope {ext.scope!r}")
    return f"{base}/{ext.parent or ext.short_name}"


def ext_file(ext: CodeExt, major: int, uri: str | None = None) -> str:
    """Main file (as Drupal's system.filename) relative to the platform root."""
    d = ext_dir(ext, major, uri)
    if ext.type == "module":
        return f"{d}/{ext.short_name}.module"
    if ext.type == "profile" and major < 8:
        return f"{d}/{ext.short_name}.profile"
    return f"{d}/{ext.short_name}.info{'.yml' if major >= 8 else ''}"


# --- nodes --------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Node:
    TYPE: ClassVar[str] = ""
    nid: int
    vid: int
    title: str
    created: int
    changed: int
    log: str = ""
    history: list[Self] = field(default_factory=list, repr=False)  # older revisions, oldest first

    def revisions(self) -> list[Self]:
        """Every revision, oldest first, the current one last."""
        return [*self.history, self]


@dataclass
class Service:
    service: str  # http | db
    type: str  # apache, nginx, cluster, pack, mysql
    port: int = 0
    restart_cmd: str | None = None
    available: int = 1


@dataclass(kw_only=True)
class Server(Node):
    TYPE: ClassVar[str] = "server"
    context: str
    human_name: str = ""
    verified: int = 0
    status: int = 1
    services: list[Service] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    cluster_members: list[int] = field(default_factory=list)  # server nids
    pack_members: list[tuple[int, str]] = field(default_factory=list)  # (nid, master|slave)
    db_user: str | None = None
    db_passwd: str | None = None
    real: bool = True  # a real host (own tree and sshd); cluster/pack nodes are virtual

    def service_type(self, service: str) -> str | None:
        return next((s.type for s in self.services if s.service == service and s.available), None)


@dataclass(kw_only=True)
class Platform(Node):
    TYPE: ClassVar[str] = "platform"
    context: str | None  # None once deleted (hosting_context_delete)
    publish_path: str
    web_server: int
    status: int
    verified: int = 0
    makefile: str = ""
    make_working_copy: int = 0
    core_version: str = "7.98"
    exts: list[CodeExt] = field(default_factory=list, repr=False)
    client_access: list[int] = field(default_factory=list)

    @property
    def major(self) -> int:
        return core_major(self.core_version)

    def profiles(self) -> list[CodeExt]:
        return [e for e in self.exts if e.type == "profile"]

    def ext(self, short_name: str, type_: str = "module") -> CodeExt | None:
        return next((e for e in self.exts if e.short_name == short_name and e.type == type_), None)


@dataclass(kw_only=True)
class Package(Node):
    TYPE: ClassVar[str] = "package"
    package_type: str
    short_name: str
    old_short_name: str = ""
    description: str = ""


@dataclass(kw_only=True)
class Client(Node):
    TYPE: ClassVar[str] = "client"
    uname: str
    users: list[tuple[int, str]] = field(default_factory=list)  # (uid, contact_type)


@dataclass(frozen=True)
class SiteFile:
    """A file under the site dir. ``rel`` is bytes: names need not be UTF-8.

    ``managed``: has a ``file_managed`` row (UTF-8 names only; Drupal cannot store the others).
    On the master's stale copy, ``new`` files are absent and ``changed`` ones have old content.
    """

    rel: bytes  # relative to the site dir: b"files/...", b"private/files/..."
    size: int
    mime: str = "application/octet-stream"
    managed: bool = True
    new: bool = False
    changed: bool = False

    def content(self, uri: str, stale: bool = False) -> bytes:
        seed = hashlib.sha256(b"%s|%s|%s" % (uri.encode(), self.rel, b"old" if stale else b"live")).digest()
        return (seed * (self.size // len(seed) + 1))[: self.size]

    @property
    def scheme(self) -> str:
        return "private" if self.rel.startswith(b"private/") else "public"


@dataclass(kw_only=True)
class SiteAlias:
    alias: str
    automatic: int = 0
    redirection: str = ""


@dataclass(kw_only=True)
class Site(Node):
    TYPE: ClassVar[str] = "site"
    context: str | None
    client: int
    db_server: int
    db_name: str | None
    platform: int
    profile: int  # package nid of the profile
    status: int
    language: str = "en"
    last_cron: int | None = None
    cron_key: str = ""
    verified: int = 0
    aliases: list[SiteAlias] = field(default_factory=list)
    # Lab-only state (not in the hostmaster): what site_db and trees build.
    files: list[SiteFile] = field(default_factory=list, repr=False)
    local_exts: list[CodeExt] = field(default_factory=list)
    maintenance: bool = False
    files_symlink: bool = False  # files -> /srv/gluster/<uri>/files on the fronts

    @property
    def uri(self) -> str:
        return self.title

    @property
    def installed(self) -> bool:
        """Has a site dir and a database (queued: not installed yet; deleted: removed)."""
        return self.status in (1, -1)


@dataclass(kw_only=True)
class Task(Node):
    TYPE: ClassVar[str] = "task"
    task_type: str
    rid: int
    task_status: int | None  # -1 processing, 0 queued, 1 ok, 2 error, 3 warning
    executed: int | None = None
    delta: int | None = None
    arguments: dict[str, str] = field(default_factory=dict)
    log_entries: list[tuple[str, str]] = field(default_factory=list)  # (type, message)


@dataclass(slots=True)
class PackageInstance:
    """A hosting_package_instance row (version_code is computed by the loader)."""

    iid: int
    rid: int
    package_id: int
    filename: str
    schema_version: int
    version: str  # NOT NULL in Aegir: a missing version is stored as 'Unknown'
    status: int
    platform: int


@dataclass(frozen=True)
class Backup:
    bid: int
    site: int
    web_server: int
    description: str
    filename: str
    size: int
    timestamp: int


@dataclass(frozen=True)
class Case:
    """A named scenario handle: which site (and target platform) exercises what."""

    site: str
    target: str | None
    what: str
    package: str | None = None


_N = TypeVar("_N", bound=Node)


# --- the world ----------------------------------------------------------------------------------


def platform_context(title: str) -> str:
    return "platform_" + re.sub(r"[!\W]", "", title, flags=re.ASCII)


def server_context(title: str) -> str:
    return "server_" + re.sub(r"[!\W.\-]", "", title, flags=re.ASCII)


@dataclass
class World:
    prefix: str
    servers: list[Server] = field(default_factory=list)
    platforms: list[Platform] = field(default_factory=list)
    packages: list[Package] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    instances: dict[int, PackageInstance] = field(default_factory=dict, repr=False)  # by iid, in iid order
    languages: dict[int, tuple[str, ...]] = field(default_factory=dict)  # iid -> hosting_package_languages
    backups: list[Backup] = field(default_factory=list)
    cases: dict[str, Case] = field(default_factory=dict)
    master_host: str = "aegir.lab.test"
    clock: int = BASE_TIME
    iid_base: int = 10_000
    _nid: int = 0
    _vid: int = 0
    _iid: int = 0
    _pkg_index: dict[tuple[str, str], Package] = field(default_factory=dict, repr=False)
    _by_rid: dict[int, list[PackageInstance]] = field(default_factory=dict, repr=False)
    _resync: bool = False
    _profile_rids: set[int] = field(default_factory=set, repr=False)
    _touched: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        # iids start above every nid so a profile-set rid (an iid) never equals a site/platform nid:
        # Aegir could not tell such rows apart (see rid_collisions).
        self._iid = self.iid_base

    # allocation
    def tick(self, seconds: int = 600) -> int:
        self.clock += seconds
        return self.clock

    def alloc(self) -> tuple[int, int]:
        self._nid += 1
        self._vid += 1
        return self._nid, self._vid

    def revise(self, node: Node, log: str, **changes: object) -> None:
        """Save a new revision: the current state becomes history, the node gets a new vid."""
        snapshot = copy.deepcopy(node)
        snapshot.history = []
        node.history.append(snapshot)
        self._vid += 1
        node.vid = self._vid
        node.changed = self.tick()
        node.log = log
        for k, v in changes.items():
            if not hasattr(node, k):
                raise AttributeError(f"{type(node).__name__} has no field {k}")
            setattr(node, k, v)

    def nodes(self) -> Iterator[Node]:
        yield from self.servers
        yield from self.platforms
        yield from self.packages
        yield from self.clients
        yield from self.sites
        yield from self.tasks

    # lookups (raise KeyError with the name: a typo in a test should say so)
    def site(self, uri: str) -> Site:
        return _find(self.sites, uri, "site")

    def platform(self, title: str) -> Platform:
        return _find(self.platforms, title, "platform")

    def server(self, title: str) -> Server:
        return _find(self.servers, title, "server")

    def platform_of(self, site: Site) -> Platform:
        """The site's current platform."""
        return next(p for p in self.platforms if p.nid == site.platform)

    def node(self, nid: int) -> Node:
        for n in self.nodes():
            if n.nid == nid:
                return n
        raise KeyError(f"no node {nid}")

    def package(self, short_name: str, type_: str = "module") -> Package:
        try:
            return self._pkg_index[(short_name, type_)]
        except KeyError:
            raise KeyError(f"no {type_} package {short_name!r}") from None

    def instances_of(self, rid: int) -> list[PackageInstance]:
        return list(self._by_rid.get(rid, []))

    def profile_iid(self, platform_title: str, profile: str) -> int:
        """iid of the profile's own instance on a platform: the rid of that profile's package set."""
        p = self.platform(platform_title)
        try:
            return self.profile_iid_by_nid(p.nid, self.package(profile, "profile").nid)
        except KeyError:
            raise KeyError(f"profile {profile!r} not on platform {platform_title!r}") from None

    def fronts(self, server_nid: int) -> list[str]:
        """Real host names serving a web server node (cluster members, pack masters+slaves, itself)."""
        srv = next(s for s in self.servers if s.nid == server_nid)
        if srv.cluster_members:
            nids = list(srv.cluster_members)
        elif srv.pack_members:
            nids = [n for n, _ in srv.pack_members]
        else:
            nids = [srv.nid]
        return [s.title for s in self.servers if s.nid in nids and s.real]

    def context_of(self, nid: int) -> str:
        n = self.node(nid)
        ctx = getattr(n, "context", None)
        if not ctx:
            raise KeyError(f"node {nid} has no context")
        return str(ctx)

    # Aegir operations
    def sync_package(self, ext: CodeExt | None, *, short_name: str = "", type_: str = "",
                     name: str = "", description: str = "") -> Package:
        """``hosting_package_sync``: one package node per (short_name, type), created on demand."""
        key = (ext.short_name, ext.type) if ext else (short_name, type_)
        pkg = self._pkg_index.get(key)
        if pkg is None:
            nid, vid = self.alloc()
            when = self.clock
            pkg = Package(nid=nid, vid=vid, title=ext.name if ext else name, created=when, changed=when,
                          package_type=key[1], short_name=key[0],
                          old_short_name=ext.old_short_name if ext else "", description=description)
            self.packages.append(pkg)
            self._pkg_index[key] = pkg
        return pkg

    def _instance(self, rid: int, pkg: Package, filename: str, schema: int, version: str | None,
                  status: int, platform: int, languages: Iterable[str] = ()) -> PackageInstance:
        """Upsert the (rid, package) row as hosting_package_instance_sync does: an existing row keeps its iid."""
        v = "Unknown" if version is None else version
        rows = self._by_rid.setdefault(rid, [])
        inst = next((i for i in rows if i.package_id == pkg.nid), None) if self._resync else None
        if inst is None:
            self._iid += 1
            inst = PackageInstance(self._iid, rid, pkg.nid, filename, schema, v, status, platform)
            self.instances[inst.iid] = inst
            rows.append(inst)
            if self._resync:
                self._touched.add(inst.iid)
        else:
            inst.filename, inst.schema_version, inst.version = filename, schema, v
            inst.status, inst.platform = status, platform
            self.languages.pop(inst.iid, None)
            self._touched.add(inst.iid)
        if languages:
            self.languages[inst.iid] = tuple(languages)
        return inst

    def _begin_sync(self, rid: int) -> None:
        self._resync, self._touched = bool(self._by_rid.get(rid)), set()

    def _end_sync(self, rid: int) -> None:
        """Delete the rows of ``rid`` this sync did not touch (Aegir's status = -1 sweep)."""
        if self._resync:
            old = {i.iid for i in self._by_rid[rid]} - self._touched
            if old:
                for iid in old:
                    del self.instances[iid]
                    self.languages.pop(iid, None)
                self._by_rid[rid] = [i for i in self._by_rid[rid] if i.iid not in old]
        self._resync = False

    def verify_platform(self, platform: Platform) -> None:
        """Record a platform verify: the base set (rid = platform) and one set per profile."""
        major, root = platform.major, platform.publish_path
        keys = [(e.short_name, e.type) for e in platform.exts]
        if len(keys) != len(set(keys)):
            raise ValueError(f"{platform.title}: duplicate extensions {sorted(k for k in keys if keys.count(k) > 1)}")
        drupal = self.sync_package(None, short_name="drupal", type_="platform", name="Drupal",
                                   description=f"This platform is running Drupal {platform.core_version}")
        base = [e for e in platform.exts if e.scope in ("core", "contrib", "custom") and e.type != "profile"]
        profiles = platform.profiles()

        def add_set(rid: int, exts: list[CodeExt]) -> None:
            self._begin_sync(rid)
            self._instance(rid, drupal, f"{root}/index.php", 0, platform.core_version, 0, platform.nid)
            for prof in profiles:
                self._instance(rid, self.sync_package(prof), f"{root}/{ext_file(prof, major)}", 0,
                               prof.version or platform.core_version, 0, platform.nid, prof.languages)
            for e in exts:
                self._instance(rid, self.sync_package(e), f"{root}/{ext_file(e, major)}",
                               code_schema(e, major), e.version, 0, platform.nid)
            self._end_sync(rid)

        add_set(platform.nid, base)
        for prof in profiles:
            iid = self.profile_iid_by_nid(platform.nid, self.sync_package(prof).nid)
            self._profile_rids.add(iid)
            add_set(iid, base + [e for e in platform.exts if e.scope == f"profile:{prof.short_name}"])

    def profile_iid_by_nid(self, platform_nid: int, package_nid: int) -> int:
        for i in self._by_rid.get(platform_nid, []):
            if i.package_id == package_nid:
                return i.iid
        raise KeyError(f"package {package_nid} has no instance on platform {platform_nid}")

    def verify_site(self, site: Site, enabled: Iterable[str], installed: dict[str, int] | None = None) -> None:
        """Record a site verify from its system table.

        ``enabled``: module/theme short names with status 1. ``installed``: schema overrides, also
        for disabled-but-installed modules (the rest of the disabled ones were never installed:
        schema 0 on D6/D7, -1 on D8+ where provision stores Drupal's SCHEMA_UNINSTALLED as is).
        """
        platform = self.platform_of(site)
        major, root, on = platform.major, platform.publish_path, set(enabled)
        installed = installed or {}
        profile = next(e for e in platform.profiles() if self.sync_package(e).nid == site.profile)
        drupal = self._pkg_index[("drupal", "platform")]
        self._begin_sync(site.nid)
        self._instance(site.nid, drupal, f"{root}/index.php", 0, platform.core_version, 0, platform.nid)
        self._instance(site.nid, self.sync_package(profile), f"{root}/{ext_file(profile, major)}", 0,
                       profile.version or platform.core_version, 1, platform.nid, profile.languages)
        scopes = ("core", "contrib", "custom", f"profile:{profile.short_name}")
        exts = [e for e in platform.exts if e.scope in scopes and e.type != "profile"]
        unknown = (on | set(installed)) - {e.short_name for e in exts + site.local_exts}
        if unknown:
            raise ValueError(f"{site.uri}: not on its platform: {sorted(unknown)}")
        for e in exts + site.local_exts:
            status = 1 if e.short_name in on else 0
            if e.short_name in installed:
                schema = installed[e.short_name]
            elif status:
                schema = installed_schema(e, major)
            else:
                schema = -1 if major >= 8 and e.type == "module" else 0
            local = e.scope == "site"
            self._instance(site.nid, self.sync_package(e), f"{root}/{ext_file(e, major, site.uri)}", schema,
                           e.version, status, PLATFORM_EXCLUDE if local else platform.nid)
        self._end_sync(site.nid)

    def stamp_verified(self, when: int, nids: Iterable[int] | None = None) -> list[int]:
        """Set ``verified`` of these platforms and sites (default: every one ever verified) to ``when``;
        returns their nids. Older revisions keep theirs, as Aegir's verify updates the current one."""
        wanted = None if nids is None else set(nids)
        out = []
        for node in (*self.platforms, *self.sites):
            chosen = node.nid in wanted if wanted is not None else node.verified > 0
            if chosen:
                node.verified = when
                out.append(node.nid)
        return out

    def rid_collisions(self) -> set[int]:
        """Profile-set rids (iids) equal to a site/platform nid: Aegir cannot tell such rows apart
        (the comment in hosting_package_instance_sync). ``iid_base`` keeps the scenarios clear of it."""
        return self._profile_rids & {n.nid for n in (*self.sites, *self.platforms)}


def _find(items: Iterable[_N], title: str, what: str) -> _N:
    for it in items:
        if it.title == title:
            return it
    raise KeyError(f"no {what} {title!r}")
