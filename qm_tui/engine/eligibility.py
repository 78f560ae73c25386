"""Which platforms a site can be quick-migrated to, and why not (pure, no IO).

Aegir's migrate form (research brief §2.4) offers every enabled platform that carries the site's
profile and greys out those whose comparison has errors. A quick migrate is narrower:

* it moves the ``files`` directories with ``mv`` on the web server of the *old* platform and reuses
  the database in place, so it cannot cross web server nodes (§4.5);
* it runs ``updatedb`` on the target, so the target core must be able to update the site in place:
  the same major, 6 -> 7, or 8+ -> an equal or later 8+. 7 -> 8+ is a content migration (the
  Migrate API into a fresh site), and a lower major is a downgrade;
* the hostmaster's own site is never moved (Aegir's batch migrate refuses it too, §2.5).

``evaluate_target`` checks every rule and keeps every failure, in words, so the UI can say why a
platform is not offered instead of hiding it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .compare import VERDICTS, Comparison, Verdict, compare_packages
from .model import PackageInstance, Platform, PlatformStatus, ProfileInstance, Site
from .versions import core_major

__all__ = [
    "HOSTMASTER_PROFILE",
    "TargetVerdict",
    "core_upgrade_problem",
    "evaluate_target",
    "find_target_profile",
]

HOSTMASTER_PROFILE = "hostmaster"


@dataclass(frozen=True)
class TargetVerdict:
    """The outcome for one candidate platform."""

    platform: Platform
    selectable: bool
    reasons: tuple[str, ...]  # empty iff selectable
    profile: ProfileInstance | None
    comparison: Comparison | None  # None when the platform lacks the site's profile

    @property
    def counts(self) -> dict[Verdict, int]:
        """Verdict counts of the comparison (all zeros when there was nothing to compare)."""
        if self.comparison is None:
            return dict.fromkeys(VERDICTS, 0)
        return self.comparison.counts


def find_target_profile(site: Site, profiles: Sequence[ProfileInstance]) -> ProfileInstance | None:
    """The instance of the site's profile among one platform's profile instances.

    Exact package nid first; otherwise a profile whose ``old_short_name`` is the site's profile
    short name (a renamed profile, e.g. ``default`` -> ``standard``), lowest iid first so the pick
    does not depend on query order. This is how Aegir resolves the target profile at migrate time
    (``_hosting_migrate_get_target_profile_name``).
    """
    for inst in profiles:
        if inst.package_nid == site.profile_nid:
            return inst
    if not site.profile:
        return None
    renamed = [inst for inst in profiles if inst.old_short_name == site.profile]
    return min(renamed, key=lambda inst: inst.iid) if renamed else None


def core_upgrade_problem(site_core: str | None, target_core: str | None) -> str | None:
    """Why the target core cannot update the site in place, or None when it can."""
    src, dst = core_major(site_core), core_major(target_core)
    if src is None:
        return "cannot tell the Drupal core version of the site's platform"
    if dst is None:
        return "cannot tell the Drupal core version of this platform"
    if src == dst or (src == 6 and dst == 7) or (8 <= src <= dst):
        return None
    if dst < src:
        return f"Drupal {src} → {dst} is a core downgrade"
    if src <= 7 and dst >= 8:
        return f"Drupal {src} → {dst} needs a content migration, not an in-place update"
    return f"Drupal {src} → {dst} cannot be updated in place (one major version at a time)"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _site_core_version(source: Platform, site_pkgs: Sequence[PackageInstance]) -> str | None:
    """The platform's core version, else the site's own ``drupal`` row (stale but better than none)."""
    if core_major(source.core_version) is not None:
        return source.core_version
    for pkg in site_pkgs:
        if pkg.package_type == "platform":
            return pkg.version
    return source.core_version


def evaluate_target(
    site: Site,
    site_pkgs: Sequence[PackageInstance],
    source: Platform,
    target: Platform,
    target_profile: ProfileInstance | None,
    target_pkgs: Sequence[PackageInstance],
    strict: bool = False,
    stale_from: str | None = None,
) -> TargetVerdict:
    """Decide whether ``target`` is a selectable quick-migrate target for ``site``.

    ``source`` is the site's current platform; ``target_profile`` is ``find_target_profile`` on the
    target's profile instances and ``target_pkgs`` the instance set of that profile (ignored when
    the profile is None). The comparison is computed whenever a profile exists, even when other
    reasons already exclude the platform, so the counts can still be shown.

    Raises ValueError when the inputs do not belong together (a caller bug, not a site problem).
    """
    if source.nid != site.platform_nid:
        raise ValueError(f"platform {source.nid} is not the platform of {site.uri} ({site.platform_nid})")
    if target_profile is not None and target_profile.platform_nid != target.nid:
        raise ValueError(
            f"profile instance {target_profile.iid} is on platform {target_profile.platform_nid}, "
            f"not on target {target.nid}"
        )

    reasons: list[str] = []
    if site.profile == HOSTMASTER_PROFILE:
        reasons.append("the hostmaster site cannot be migrated")
    if target.nid == site.platform_nid:
        reasons.append("this is the site's current platform")
    if target.status != PlatformStatus.ENABLED:
        reasons.append(f"platform is {target.status.label}")

    comparison: Comparison | None = None
    if target_profile is None:
        reasons.append(f"profile '{site.profile or site.profile_nid}' not on this platform")
    else:
        comparison = compare_packages(site_pkgs, target_pkgs)
        errors, missing = comparison.errors, comparison.missing
        if errors:
            reasons.append(
                _plural(errors, "module would lose its schema", "modules would lose their schema")
                + " (error)"
            )
        if strict and missing:
            reasons.append(
                _plural(missing, "enabled module missing", "enabled modules missing") + " (strict mode)"
            )

    if target.web_server != source.web_server:
        there = target.web_server_title or f"node {target.web_server}"
        here = source.web_server_title or f"node {source.web_server}"
        if there == here:  # two server nodes with one title: name them by nid
            there, here = f"{there} (node {target.web_server})", f"{here} (node {source.web_server})"
        reasons.append(f"served by web server {there}, site is on {here}")

    core_problem = core_upgrade_problem(_site_core_version(source, site_pkgs), target.core_version)
    if core_problem:
        reasons.append(core_problem)
    if stale_from:
        # After a quick migrate Aegir keeps the module list of the old platform until a verify task:
        # comparing it would hide a schema downgrade (e.g. offer the way back as "all same").
        reasons.append(f"the hostmaster's module list for this site was recorded on {stale_from}, not on its "
                       "current platform: run a verify task for the site in Aegir first")

    return TargetVerdict(
        platform=target,
        selectable=not reasons,
        reasons=tuple(reasons),
        profile=target_profile,
        comparison=comparison,
    )
