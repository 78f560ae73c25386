"""Engine entry points shared by the CLI and the TUI: open the hostmaster, list, compare."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from .compare import Comparison
from .eligibility import TargetVerdict, evaluate_target, find_target_profile
from .hostmaster_db import HostmasterDB
from .inventory import NotFound, Snapshot, find_platform, find_site, load_inventory, suggest
from .model import PackageInstance, Platform, ProfileInstance, Site

__all__ = ["NotFound", "SiteTargets", "compare", "find_platform", "find_site", "load", "targets"]


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
    """Evaluate every platform other than the site's own (or just ``only``) as a target."""
    async with HostmasterDB(cfg.hostmaster.db) as db:
        snap = await load_inventory(db, include_deleted=True, site_uri=uri.strip().lower())
        if not snap.inventory.sites:
            raise NotFound(f"no site {uri!r} in the hostmaster{suggest(uri, await db.site_uris())}")
        site = find_site(snap.inventory, uri)
        source = next((p for p in snap.inventory.platforms if p.nid == site.platform_nid), None)
        if source is None:
            raise NotFound(f"site {site.uri} points at platform node {site.platform_nid}, "
                           "which is not in the hostmaster")
        candidates = [p for p in snap.inventory.platforms if p.nid != site.platform_nid]
        if only is not None:
            wanted = only if isinstance(only, Platform) else find_platform(snap.inventory, only)
            if wanted.nid == site.platform_nid:
                raise NotFound(f"platform {wanted.title!r} is already the platform of {site.uri}")
            candidates = [wanted]
        site_pkgs = await db.site_packages(site.nid)
        by_platform: dict[int, list[ProfileInstance]] = {}
        for inst in await db.profile_instances(site.profile_nid, site.profile):
            by_platform.setdefault(inst.platform_nid, []).append(inst)
        chosen = {p.nid: find_target_profile(site, by_platform.get(p.nid, [])) for p in candidates}
        pkgs = await db.instance_packages(i.iid for i in chosen.values() if i is not None)
    verdicts = []
    for p in candidates:
        prof = chosen[p.nid]
        verdicts.append(evaluate_target(site, site_pkgs, source, p, prof,
                                        pkgs.get(prof.iid, []) if prof else [], strict=strict))
    return SiteTargets(site, source, site_pkgs, verdicts, snap)


async def compare(cfg: Config, uri: str, platform: str, strict: bool = False
                  ) -> tuple[SiteTargets, TargetVerdict, Comparison | None]:
    st = await targets(cfg, uri, strict=strict, only=platform)
    verdict = st.verdicts[0]
    return st, verdict, verdict.comparison
