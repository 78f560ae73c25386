"""The facts of one operation on a site (validated before anything can reach a command line).

``SiteMoveContext`` is what every operation that moves a site's directory shares: migrate (another
platform, same name) and rename (same platform, another name) are both Aegir's "migrate" task, which
takes a target platform and a new URI. Contexts are frozen and round-trip through JSON: the journal
keeps one per run, and recovery rebuilds the same steps from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Self

from ...config import Config
from ...errors import QmError
from .. import drush
from ..model import Platform, PlatformStatus, Site, SiteStatus
from ..safety import check_context, check_host, check_path, check_uri
from ..versions import core_major

LOCAL = "localhost"


@dataclass(frozen=True)
class SiteMoveContext:
    kind: ClassVar[str] = ""
    run_id: str
    site: Site
    source: Platform
    target: Platform
    master: str  # connect name of the hostmaster M ("localhost" = local)
    master_title: str  # M's server node title (a front with this title is M)
    fronts: tuple[str, ...]  # web fronts of the source platform (server titles)
    aegir_root: str
    web_type: str | None  # http service type of the source platform's web server node
    drush_cmd: str
    templates: dict[str, dict[str, str]]
    parking_dir: str
    dump_dir: str
    step_timeout: float
    long_timeout: float
    source_profile: str = ""
    target_profile: str = ""  # short name on the target: differs after a profile rename (default -> standard)
    # migrate.db_socket at the start of the run (journaled: a rollback restores into the server it dumped)
    db_socket: str | None = None
    # the site's aliases and redirection in the front end (passed to provision-save, as Aegir's tasks do)
    aliases: tuple[str, ...] = ()
    redirection: str = ""
    aegir_verify_task: bool = False  # migrate.aegir_verify_task at the start of the run
    pack_masters: tuple[str, ...] = ()  # a pack's master web servers (server titles): they hold its code
    new_uri: str = ""  # the site's name after the operation ("": unchanged)
    post_check: bool = False  # migrate.post_check at the start of the run
    # migrate.http_check at the start of the run, each front's URL resolved ({}: no HTTP check)
    http_check: dict[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """The site's name when the run started (names its parking dir, dump and journal record)."""
        return self.site.uri

    @property
    def src_uri(self) -> str:
        return self.site.uri

    @property
    def dst_uri(self) -> str:
        return self.new_uri or self.site.uri

    @property
    def renamed(self) -> bool:
        return self.dst_uri != self.src_uri

    @property
    def src_dir(self) -> str:
        return f"{self.source.publish_path}/sites/{self.src_uri}"

    @property
    def dst_dir(self) -> str:
        return f"{self.target.publish_path}/sites/{self.dst_uri}"

    @property
    def park_dir(self) -> str:
        return f"{self.aegir_root}/{self.parking_dir}/{self.uri}.{self.run_id}"

    @property
    def park_glob_dir(self) -> str:
        return f"{self.aegir_root}/{self.parking_dir}"

    @property
    def dump_path(self) -> str:
        return f"{self.aegir_root}/{self.dump_dir}/{self.uri}-{self.run_id}.sql"

    @property
    def lock_keys(self) -> tuple[str, ...]:
        """Every name the run holds: no other run may touch the site under either of them."""
        return tuple(dict.fromkeys((self.src_uri, self.dst_uri)))

    @property
    def lock_dirs(self) -> tuple[str, ...]:
        return tuple(f"{self.aegir_root}/.qm-tui/locks/{k}" for k in self.lock_keys)

    @property
    def lock_dir(self) -> str:
        return self.lock_dirs[0]

    @property
    def tmp_dir(self) -> str:
        return f"{self.aegir_root}/.qm-tui/tmp"

    @property
    def src_major(self) -> int | None:
        return core_major(self.source.core_version)

    @property
    def dst_major(self) -> int | None:
        return core_major(self.target.core_version)

    @property
    def is_cluster(self) -> bool:
        return self.web_type in ("cluster", "pack")

    def is_master(self, front: str) -> bool:
        return front == self.master_title or front == self.master

    def connect_name(self, host: str) -> str:
        """The name to open a transport to: M's fronts entry maps to M's configured name."""
        return self.master if self.is_master(host) else host

    @property
    def remote_fronts(self) -> tuple[str, ...]:
        return tuple(f for f in self.fronts if not self.is_master(f))

    @property
    def master_is_front(self) -> bool:
        return any(self.is_master(f) for f in self.fronts)

    @property
    def files_hosts(self) -> tuple[str, ...]:
        """Every host holding a copy of the site's files: the fronts, and M (as ``master``) when it is
        not one of them. Each copy is renamed with the site, none is deleted."""
        return self.fronts if self.master_is_front else (*self.fronts, self.master)

    @property
    def authoritative_front(self) -> str | None:
        """The web server provision fetches the site dir from before it moves it: a single remote web
        server, or a pack's first master (unless M is one). None on a cluster, whose master copy is M's."""
        if self.web_type == "pack":
            return None if any(self.is_master(m) for m in self.pack_masters) else next(iter(self.pack_masters), None)
        if self.is_cluster or len(self.fronts) != 1 or self.master_is_front:
            return None
        return self.fronts[0]

    def drush(self, name: str, major: int | None, uri: str | None = None, **values: str | int) -> str:
        return drush.render(self.templates, name, major, drush=self.drush_cmd, uri=uri or self.src_uri,
                            aliases=",".join(self.aliases), redirection=self.redirection or "0",
                            site_nid=self.site.nid, **values)

    def drush_src(self, name: str, **values: str | int) -> str:
        """A drush command on the site as it was: its old name, the source platform's core."""
        return self.drush(name, self.src_major, self.src_uri, **values)

    def drush_dst(self, name: str, **values: str | int) -> str:
        """A drush command on the site as it will be: its new name, the target platform's core."""
        return self.drush(name, self.dst_major, self.dst_uri, **values)

    # --- the journal's copy ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("templates", None)  # from today's config on recovery
        return d

    @classmethod
    def from_json(cls, cfg: Config, d: dict[str, Any]) -> Self:
        site = dict(d["site"])
        site["status"] = SiteStatus(site["status"])
        site["fronts"] = tuple(site.get("fronts") or ())
        plats = []
        for key in ("source", "target"):
            p = dict(d[key])
            p["status"] = PlatformStatus(p["status"])
            p["fronts"] = tuple(p.get("fronts") or ())
            plats.append(Platform(**p))
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names and k not in ("site", "source", "target")}
        for key in ("fronts", "aliases", "pack_masters"):
            values[key] = tuple(values.get(key) or ())
        values["templates"] = drush.merge_templates(cfg.migrate.templates)
        return cls(site=Site(**site), source=plats[0], target=plats[1], **values)


def build_context(cls: type[SiteMoveContext], cfg: Config, run_id: str, site: Site, source: Platform,
                  target: Platform, master_title: str, web_type: str | None, target_profile: str | None = None,
                  aliases: tuple[Sequence[str], str] = ((), ""),
                  pack_masters: Sequence[str] = (), new_uri: str = "") -> Any:
    """Validate every untrusted value before it can reach a command line."""
    root = str(cfg.aegir_root).rstrip("/") or "/"
    check_uri(site.uri)
    if new_uri:
        check_uri(new_uri)
    site_aliases, redirection = aliases
    for a in (*site_aliases, *([redirection] if redirection else [])):
        check_uri(a)  # from the hostmaster DB: untrusted, and it reaches a command line
    for p in (source, target):
        check_path(p.publish_path, root, f"platform {p.title!r} path")
        if p.context:
            check_context(p.context)
    if not target.context:
        raise QmError(f"platform {target.title!r} has no drush context in the hostmaster")
    master = cfg.hostmaster.server
    check_host(master)
    for f in (*source.fronts, *pack_masters):
        check_host(f)
    mc = cfg.migrate
    return cls(
        run_id=run_id, site=site, source=source, target=target, master=master,
        master_title=master_title, fronts=tuple(source.fronts), aegir_root=root, web_type=web_type,
        drush_cmd=mc.drush, templates=drush.merge_templates(mc.templates),
        parking_dir=mc.parking_dir.strip("/"), dump_dir=mc.dump_dir.strip("/"),
        step_timeout=mc.step_timeout, long_timeout=mc.long_step_timeout,
        source_profile=_check_profile(site.profile or ""),
        target_profile=_check_profile(target_profile or site.profile or ""),
        db_socket=mc.db_socket, aliases=tuple(site_aliases), redirection=redirection,
        aegir_verify_task=mc.aegir_verify_task, pack_masters=tuple(pack_masters),
        new_uri=new_uri, post_check=mc.post_check, http_check=_http_check(cfg, source.fronts),
    )


def _http_check(cfg: Config, fronts: Sequence[str]) -> dict[str, Any]:
    h = cfg.migrate.http_check
    if not h.enabled:
        return {}
    return {"urls": {f: h.url_for(f) for f in fronts}, "path": h.path, "expect_status": h.expect_status,
            "marker": h.marker, "timeout": h.timeout}


def _check_profile(name: str) -> str:
    if name and not name.replace("_", "").isalnum():
        raise QmError(f"install profile name {name!r} is not a plain machine name; refusing to use it")
    return name
