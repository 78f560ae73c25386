"""Engine entry points shared by the CLI and the TUI: open the hostmaster, list, compare."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import Config
from .compare import Comparison
from .eligibility import TargetVerdict, evaluate_target, find_target_profile
from .hostmaster_db import HostmasterDB, PackageMeta
from .inventory import NotFound, Snapshot, find_platform, find_site, load_inventory, read_inventory, suggest
from .model import PackageInstance, Platform, ProfileInstance, Site

__all__ = ["NotFound", "SiteTargets", "compare", "find_platform", "find_site", "load", "run_sync", "targets"]

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


async def targets(cfg: Config, uri: str, strict: bool = False,
                  only: Platform | str | None = None) -> SiteTargets:
    """Evaluate every platform other than the site's own (or just ``only``, which may be its own) as a target.

    All reads share one snapshot and the number of queries does not depend on the number of sites or
    platforms: the inventory lists, the site's packages, the package names and every candidate's
    package set in one query.
    """
    async with HostmasterDB(cfg.hostmaster.db) as db:
        await db.begin_snapshot()
        try:
            # Site counts are for the platform list only; skipping them saves a scan of every site.
            snap = await read_inventory(db, include_deleted=True, site_uri=uri.strip().lower(), site_counts=False)
            if not snap.inventory.sites:
                raise NotFound(f"no site {uri!r} in the hostmaster{suggest(uri, await db.site_uris())}")
            site = find_site(snap.inventory, uri)
            source = next((p for p in snap.inventory.platforms if p.nid == site.platform_nid), None)
            if source is None:
                raise NotFound(f"site {site.uri} points at platform node {site.platform_nid}, "
                               "which is not in the hostmaster")
            candidates = [p for p in snap.inventory.platforms if p.nid != site.platform_nid]
            if only is not None:
                # The site's own platform is allowed here: its verdict says why it is not a target.
                candidates = [source if only == OWN else only if isinstance(only, Platform)
                              else find_platform(snap.inventory, only)]
            site_pkgs = await db.site_packages(site.nid)
            recorded = await db.site_package_platforms(site.nid)
            stale_on = sorted(recorded - {site.platform_nid})
            names = {p.nid: p.title for p in snap.inventory.platforms}
            stale_from = ", ".join(names.get(n, f"platform node {n}") for n in stale_on) or None
            by_platform: dict[int, list[ProfileInstance]] = {}
            for inst in snap.profiles:
                if inst.package_nid == site.profile_nid or (site.profile and inst.old_short_name == site.profile):
                    by_platform.setdefault(inst.platform_nid, []).append(inst)
            chosen = {p.nid: find_target_profile(site, by_platform.get(p.nid, [])) for p in candidates}
            iids = [i.iid for i in chosen.values() if i is not None]
            pkgs = {}
            if iids:
                meta = await db.packages()
                pkgs = await db.instance_packages(iids, meta, _relevant_packages(site_pkgs, meta))
        finally:
            if db.conn is not None:
                await db.end_snapshot()
    verdicts = []
    for p in candidates:
        prof = chosen[p.nid]
        verdicts.append(evaluate_target(site, site_pkgs, source, p, prof,
                                        pkgs.get(prof.iid, []) if prof else [], strict=strict,
                                        stale_from=stale_from))
    return SiteTargets(site, source, site_pkgs, verdicts, snap)


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
