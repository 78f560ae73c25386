"""Engine entry points shared by the CLI and the TUI: open the hostmaster, list, compare."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import Config
from .compare import Comparison
from .eligibility import TargetVerdict, evaluate_target, find_target_profile
from .hostmaster_db import HostmasterDB, PackageMeta
from .inventory import NotFound, Snapshot, find_platform, find_site, load_inventory, read_inventory, suggest
from .model import PackageInstance, Platform, ProfileInstance, Site

__all__ = ["NotFound", "OpenSnapshot", "SiteSide", "SiteTargets", "compare", "find_platform", "find_site", "load",
           "open_snapshot", "run_sync", "targets"]

T = TypeVar("T")
OWN = "\0own"  # ``targets(only=OWN)``: the site's own platform (a rename's), whatever it is


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` for the CLI, with the result kept out of the main task.

    On exit ``asyncio.run`` restores the SIGINT handler, and CPython 3.11's ``signal.signal`` formats the
    old handler (which holds the main task) into an error message it then discards: ``repr`` of the task
    includes ``repr`` of its result. For a 10,000-site snapshot or 200 comparisons that is a full
    dataclass repr, 0.2 s and more, for nothing.
    """
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]


async def load(cfg: Config, include_deleted: bool = False) -> Snapshot:
    async with HostmasterDB(cfg.hostmaster.db) as db:
        return await load_inventory(db, include_deleted=include_deleted)


@dataclass
class SiteTargets:
    """A site, its platform, and the verdict for every other platform."""

    site: Site
    source: Platform
    site_packages: list[PackageInstance]
    verdicts: list[TargetVerdict]
    snapshot: Snapshot

    def verdict_for(self, platform: Platform) -> TargetVerdict:
        for v in self.verdicts:
            if v.platform.nid == platform.nid:
                return v
        raise NotFound(f"platform {platform.title!r} is the site's own platform")


class OpenSnapshot:
    """One consistent snapshot of the hostmaster, open: its lists, and verdicts read inside it.

    ``async with open_snapshot(cfg) as hm``; ``targets`` (one site, many platforms) and ``batch.select``
    (many sites, one platform) both evaluate through ``evaluate``.
    """

    def __init__(self, db: HostmasterDB, snapshot: Snapshot) -> None:
        self.db, self.snapshot = db, snapshot

    async def verdicts(self, sites: Sequence[Site], target: Platform | str, strict: bool = False
                       ) -> list[TargetVerdict]:
        """Each of ``sites`` against ``target``; ``target`` is looked up only when there is a site to evaluate."""
        if not sites:
            return []
        platform = target if isinstance(target, Platform) else find_platform(self.snapshot.inventory, target)
        sides = [await self.site_side(site) for site in sites]
        return [vs[0] for vs in await self.evaluate([(side, [platform]) for side in sides], strict)]

    async def site_side(self, site: Site) -> SiteSide:
        """The source side of a comparison: the site's platform, its package rows, whether they are stale."""
        inv = self.snapshot.inventory
        source = next((p for p in inv.platforms if p.nid == site.platform_nid), None)
        if source is None:
            raise NotFound(f"site {site.uri} points at platform node {site.platform_nid}, "
                           "which is not in the hostmaster")
        site_pkgs = await self.db.site_packages(site.nid)
        recorded = await self.db.site_package_platforms(site.nid)
        names = {p.nid: p.title for p in inv.platforms}
        stale_from = ", ".join(names.get(n, f"platform node {n}")
                               for n in sorted(recorded - {site.platform_nid})) or None
        return SiteSide(site, source, site_pkgs, stale_from)

    async def evaluate(self, pairs: Sequence[tuple[SiteSide, Sequence[Platform]]], strict: bool = False
                       ) -> list[list[TargetVerdict]]:
        """Every (site, candidates) pair's verdicts, with the target package sets read in one query."""
        chosen: list[dict[int, ProfileInstance | None]] = []
        relevant: list[set[int]] = []
        meta: dict[int, PackageMeta] = {}
        for side, candidates in pairs:
            site = side.site
            by_platform: dict[int, list[ProfileInstance]] = {}
            for inst in self.snapshot.profiles:
                if inst.package_nid == site.profile_nid or (site.profile and inst.old_short_name == site.profile):
                    by_platform.setdefault(inst.platform_nid, []).append(inst)
            chosen.append({p.nid: find_target_profile(site, by_platform.get(p.nid, [])) for p in candidates})
        iids = [i.iid for ch in chosen for i in ch.values() if i is not None]
        pkgs: dict[int, list[PackageInstance]] = {}
        if iids:
            meta = await self.db.packages()
            relevant = [_relevant_packages(side.site_packages, meta) for side, _c in pairs]
            pkgs = await self.db.instance_packages(iids, meta, set().union(*relevant))
        out = []
        for n, (side, candidates) in enumerate(pairs):
            verdicts = []
            for p in candidates:
                prof = chosen[n][p.nid]
                target_pkgs = pkgs.get(prof.iid, []) if prof else []
                if len(pairs) > 1:  # the sets were read for every site: give each exactly its own rows
                    target_pkgs = [t for t in target_pkgs if t.package_nid in relevant[n]]
                verdicts.append(evaluate_target(side.site, side.site_packages, side.source, p, prof, target_pkgs,
                                                strict=strict, stale_from=side.stale_from))
            out.append(verdicts)
        return out


@dataclass(frozen=True)
class SiteSide:
    site: Site
    source: Platform
    site_packages: list[PackageInstance]
    stale_from: str | None  # the platforms its package rows were recorded on, when not its own


@asynccontextmanager
async def open_snapshot(cfg: Config, include_deleted: bool = False, site_uri: str | None = None,
                        site_counts: bool = True) -> AsyncIterator[OpenSnapshot]:
    """The hostmaster's lists in one snapshot, kept open for the reads that follow (``read_inventory``)."""
    async with HostmasterDB(cfg.hostmaster.db) as db:
        await db.begin_snapshot()
        try:
            yield OpenSnapshot(db, await read_inventory(db, include_deleted, site_uri, site_counts))
        finally:
            if db.conn is not None:
                await db.end_snapshot()


async def targets(cfg: Config, uri: str, strict: bool = False,
                  only: Platform | str | None = None) -> SiteTargets:
    """Evaluate every platform other than the site's own (or just ``only``, which may be its own) as a target.

    All reads share one snapshot and the number of queries does not depend on the number of sites or
    platforms: the inventory lists, the site's packages, the package names and every candidate's
    package set in one query.
    """
    # Site counts are for the platform list only; skipping them saves a scan of every site.
    async with open_snapshot(cfg, include_deleted=True, site_uri=uri.strip().lower(), site_counts=False) as hm:
        snap = hm.snapshot
        if not snap.inventory.sites:
            raise NotFound(f"no site {uri!r} in the hostmaster{suggest(uri, await hm.db.site_uris())}")
        site = find_site(snap.inventory, uri)
        side = await hm.site_side(site)
        candidates = [p for p in snap.inventory.platforms if p.nid != site.platform_nid]
        if only is not None:
            # The site's own platform is allowed here: its verdict says why it is not a target.
            candidates = [side.source if only == OWN else only if isinstance(only, Platform)
                          else find_platform(snap.inventory, only)]
        [verdicts] = await hm.evaluate([(side, candidates)], strict)
    return SiteTargets(site, side.source, side.site_packages, verdicts, snap)


async def compare(cfg: Config, uri: str, platform: str, strict: bool = False
                  ) -> tuple[SiteTargets, TargetVerdict, Comparison | None]:
    st = await targets(cfg, uri, strict=strict, only=platform)
    verdict = st.verdicts[0]
    return st, verdict, verdict.comparison


def _relevant_packages(site_pkgs: list[PackageInstance], meta: dict[int, PackageMeta]) -> set[int]:
    """Target packages a comparison can match: the site's own, and those renamed from one of them.

    Packages that exist only on the target never appear in a comparison, so they are not read.
    """
    names = {(p.package_type, p.short_name) for p in site_pkgs}
    return {p.package_nid for p in site_pkgs} | {
        nid for nid, m in meta.items() if m.old_short_name and (m.package_type, m.old_short_name) in names}
