"""Typed records of what the hostmaster knows (read-only snapshots, no IO here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class SiteStatus(IntEnum):
    """``hosting_site.status`` (Aegir 3)."""

    DELETED = -2
    DISABLED = -1
    QUEUED = 0
    ENABLED = 1

    @property
    def label(self) -> str:
        return self.name.lower()


class PlatformStatus(IntEnum):
    """``hosting_platform.status``."""

    DELETED = -2
    LOCKED = -1
    QUEUED = 0
    ENABLED = 1

    @property
    def label(self) -> str:
        return self.name.lower()


class TaskStatus(IntEnum):
    """``hosting_task.task_status`` (hosting 7.x-3.x, hosting_task.module)."""

    PROCESSING = -1
    QUEUED = 0
    SUCCESS = 1
    ERROR = 2
    WARNING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Server:
    nid: int
    title: str  # the host name
    context: str | None  # drush alias name without '@', e.g. server_master
    http_type: str | None  # apache, nginx, cluster, pack, ... (None: no http service)
    status: int | None = None


@dataclass(frozen=True)
class Platform:
    nid: int
    title: str
    context: str | None  # platform_<name>
    publish_path: str
    web_server: int  # server node nid (may be a cluster/pack virtual server)
    web_server_title: str
    status: PlatformStatus
    core_version: str | None  # version of the platform's 'platform'-type package ("drupal")
    fronts: tuple[str, ...]  # host names of the real web fronts
    site_count: int = 0
    verified: int = 0

    @property
    def core_major(self) -> int | None:
        from .versions import core_major

        return core_major(self.core_version)


@dataclass(frozen=True)
class Site:
    nid: int
    uri: str
    status: SiteStatus
    platform_nid: int
    platform: str  # platform title
    profile_nid: int
    profile: str | None  # profile short name
    client: str | None
    db_server_nid: int
    db_server: str | None
    db_name: str | None
    verified: int
    web_server: str  # platform's web server node title
    fronts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackageInstance:
    """One package as installed on a site or available on a platform/profile."""

    package_nid: int
    short_name: str
    package_type: str  # module, theme, profile, platform, engine
    version: str | None
    schema_version: int | None
    status: int  # 1 enabled (site side); platform/profile rows are stored as 0
    old_short_name: str | None = None


@dataclass(frozen=True)
class ProfileInstance:
    """The profile package as present on a platform: its iid owns the target package set."""

    iid: int
    platform_nid: int
    package_nid: int
    short_name: str
    old_short_name: str | None = None


@dataclass
class Inventory:
    """Everything listed in one refresh."""

    sites: list[Site] = field(default_factory=list)
    platforms: list[Platform] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    schema: str = "aegir3"


@dataclass(frozen=True)
class SiteRecord:
    """The hostmaster's record of one site node, as it is now (what a run's bookkeeping changes)."""

    nid: int
    platform: int
    title: str
    context: str | None
