"""Sites, platforms and servers from the hostmaster, with web fronts resolved.

Builds the typed records from the list queries of ``hostmaster_db`` (one query per list) and answers
name look-ups with close-match suggestions.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import QmError
from .hostmaster_db import HostmasterDB, ServerRow
from .model import Inventory, Platform, PlatformStatus, ProfileInstance, Server, Site, SiteStatus


class NotFound(QmError):
    """An unknown site or platform; the message suggests the closest names."""


def resolve_fronts(server_nid: int, servers: dict[int, ServerRow],
                   members: dict[int, list[tuple[int, str]]]) -> tuple[str, ...]:
    """The real hosts behind a platform's web server node.

    A cluster lists its members in ``hosting_web_cluster``; a pack its masters and slaves in
    ``hosting_web_pack``; any other server is its own single front.
    """
    srv = servers.get(server_nid)
    if srv is None:
        return ()
    if srv.http_type in ("cluster", "pack"):
        hosts = [servers[m].title for m, _kind in members.get(server_nid, []) if m in servers]
        return tuple(hosts)
    return (srv.title,)


@dataclass
class Snapshot:
    """Everything listed in one refresh, plus the raw server rows needed to resolve fronts."""

    inventory: Inventory
    servers: dict[int, ServerRow]
    members: dict[int, list[tuple[int, str]]]
    profiles: list[ProfileInstance] = field(default_factory=list)  # every profile on every platform


async def load_inventory(db: HostmasterDB, include_deleted: bool = False,
                         site_uri: str | None = None) -> Snapshot:
    """One consistent snapshot; ``site_uri`` limits the site list to that site (for targets)."""
    await db.begin_snapshot()
    try:
        return await read_inventory(db, include_deleted, site_uri)
    finally:
        if db.conn is not None:
            await db.end_snapshot()


async def read_inventory(db: HostmasterDB, include_deleted: bool = False, site_uri: str | None = None,
                         site_counts: bool = True) -> Snapshot:
    """The list queries, inside the caller's snapshot: a fixed number of queries whatever the size."""
    servers = await db.servers()
    members = await db.web_members()
    prow = await db.platform_rows()
    heads = await db.platform_heads()
    head_meta = await db.packages(("platform", "profile"))
    counts = await db.site_counts() if site_counts else {}
    srows = await db.site_rows(include_deleted, site_uri)
    cores: dict[int, str | None] = {}
    profiles: list[ProfileInstance] = []
    for iid, rid, pkg, version in heads:  # iid order: for a duplicated core row the last one wins
        meta = head_meta.get(pkg)
        if meta is None:
            continue
        if meta.package_type == "platform":
            cores[rid] = version
        else:
            profiles.append(ProfileInstance(iid, rid, pkg, meta.short_name, meta.old_short_name))
    platforms: list[Platform] = []
    for nid, title, ctx, path, web, status, verified in prow:
        web_title = servers[web].title if web in servers else f"server #{web}"
        platforms.append(Platform(
            nid=int(nid), title=title, context=ctx, publish_path=path or "", web_server=int(web or 0),
            web_server_title=web_title, status=_platform_status(status),
            core_version=cores.get(nid), fronts=resolve_fronts(web, servers, members),
            site_count=counts.get(nid, 0), verified=int(verified or 0)))
    by_nid = {p.nid: p for p in platforms}
    sites: list[Site] = []
    for nid, uri, status, verified, db_name, prof_nid, prof, plat, client, dbs_nid, dbs in srows:
        p = by_nid.get(plat)
        sites.append(Site(
            nid=int(nid), uri=uri, status=_site_status(status), platform_nid=int(plat or 0),
            platform=p.title if p else f"platform #{plat}", profile_nid=int(prof_nid or 0), profile=prof,
            client=client, db_server_nid=int(dbs_nid or 0), db_server=dbs, db_name=db_name,
            verified=int(verified or 0), web_server=p.web_server_title if p else "",
            fronts=p.fronts if p else ()))
    server_list = [Server(s.nid, s.title, s.context, s.http_type, s.status) for s in servers.values()]
    inv = Inventory(sites=sites, platforms=platforms, servers=server_list, schema=db.schema or "")
    return Snapshot(inv, servers, members, profiles)


def _site_status(v: int | None) -> SiteStatus:
    try:
        return SiteStatus(int(v if v is not None else 0))
    except ValueError:
        return SiteStatus.QUEUED


def _platform_status(v: int | None) -> PlatformStatus:
    try:
        return PlatformStatus(int(v if v is not None else 0))
    except ValueError:
        return PlatformStatus.QUEUED


def suggest(word: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(names), n=3, cutoff=0.5)
    if not close:
        close = [n for n in names if word.lower() in n.lower()][:3]
    return f"; did you mean: {', '.join(close)}?" if close else ""


def find_site(inv: Inventory, uri: str) -> Site:
    want = uri.strip().lower()
    matches = [s for s in inv.sites if s.uri.lower() == want]
    if not matches:
        raise NotFound(f"no site {uri!r} in the hostmaster{suggest(want, [s.uri for s in inv.sites])}")
    # A deleted and a live site can share a URI; the live one wins.
    matches.sort(key=lambda s: (s.status == SiteStatus.DELETED, -s.nid))
    return matches[0]


def find_platform(inv: Inventory, name: str) -> Platform:
    """By node title, context name (``platform_...``, with or without ``@``) or nid."""
    key = name.strip().lstrip("@")
    if not key:  # "" must not match a platform whose context was deleted (None)
        raise NotFound(f"no platform {name!r} in the hostmaster: give a title, context name or nid")
    for p in inv.platforms:
        if key == p.title or key == p.context or (key.isdigit() and int(key) == p.nid):
            return p
    low = key.lower()
    for p in inv.platforms:
        if low == p.title.lower() or (p.context and low == p.context.lower()):
            return p
    names = [p.title for p in inv.platforms] + [p.context for p in inv.platforms if p.context]
    raise NotFound(f"no platform {name!r} in the hostmaster{suggest(key, names)}")
