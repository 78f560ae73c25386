"""Quick-migrate target eligibility: every reason alone, several together, and the core rules."""

from __future__ import annotations

import dataclasses

import pytest

from qm_tui.engine.compare import VERDICTS
from qm_tui.engine.eligibility import core_upgrade_problem, evaluate_target, find_target_profile
from qm_tui.engine.model import (
    PackageInstance,
    Platform,
    PlatformStatus,
    ProfileInstance,
    Site,
    SiteStatus,
)

SRC, DST = 100, 200
WEB_A, WEB_B = 1, 2
PROFILE_NID = 50


def platform(nid: int = DST, core: str | None = "7.98", web: int = WEB_A, **kw) -> Platform:
    fields = dict(
        nid=nid,
        title=f"platform{nid}",
        context=f"platform_p{nid}",
        publish_path=f"/var/aegir/platforms/p{nid}",
        web_server=web,
        web_server_title={WEB_A: "web1.example.org", WEB_B: "web2.example.org"}.get(web, f"w{web}"),
        status=PlatformStatus.ENABLED,
        core_version=core,
        fronts=("web1.example.org",),
    )
    fields.update(kw)
    return Platform(**fields)


def site(profile: str | None = "standard", profile_nid: int = PROFILE_NID, platform_nid: int = SRC) -> Site:
    return Site(
        nid=10,
        uri="example.org",
        status=SiteStatus.ENABLED,
        platform_nid=platform_nid,
        platform=f"platform{platform_nid}",
        profile_nid=profile_nid,
        profile=profile,
        client="admin",
        db_server_nid=3,
        db_server="db1",
        db_name="exampleorg",
        verified=1,
        web_server="web1.example.org",
    )


def pkg(nid: int, name: str, version: str | None, schema: int | None = 0, status: int = 1, ptype="module"):
    return PackageInstance(nid, name, ptype, version, schema, status)


def profile(
    platform_nid: int = DST, iid: int = 900, package_nid: int = PROFILE_NID, name="standard", old=None
):
    return ProfileInstance(iid, platform_nid, package_nid, name, old)


SITE_PKGS = [
    pkg(1, "drupal", "7.59", 0, 0, "platform"),
    pkg(PROFILE_NID, "standard", "7.59", 0, 1, "profile"),
    pkg(3, "system", "7.59", 7080, 1),
    pkg(4, "views", "7.x-3.20", 7301, 1),
]
TARGET_PKGS = [
    pkg(1, "drupal", "7.98", 0, 0, "platform"),
    pkg(PROFILE_NID, "standard", "7.98", 0, 0, "profile"),
    pkg(3, "system", "7.98", 7085, 0),
    pkg(4, "views", "7.x-3.29", 7302, 0),
]


def evaluate(
    *,
    the_site: Site | None = None,
    site_pkgs=SITE_PKGS,
    source: Platform | None = None,
    target: Platform | None = None,
    target_profile: ProfileInstance | None | str = "default",
    target_pkgs=TARGET_PKGS,
    strict: bool = False,
):
    the_site = the_site or site()
    source = source or platform(SRC, core="7.59")
    target = target or platform(DST)
    if target_profile == "default":
        target_profile = profile(target.nid)
    return evaluate_target(the_site, site_pkgs, source, target, target_profile, target_pkgs, strict)


def test_happy_path_is_selectable():
    v = evaluate()
    assert v.selectable
    assert v.reasons == ()
    assert v.comparison is not None
    assert v.counts == {
        "error": 0,
        "missing": 0,
        "absent-disabled": 0,
        "downgrade": 0,
        "upgrade": 4,
        "same": 0,
    }
    assert v.platform.nid == DST and v.profile == profile(DST)


def test_happy_path_strict_too():
    assert evaluate(strict=True).selectable


# --- every reason alone -------------------------------------------------------------------------


def only_reason(v) -> str:
    assert not v.selectable
    assert len(v.reasons) == 1, v.reasons
    return v.reasons[0]


def test_current_platform():
    src = platform(SRC, core="7.59")
    v = evaluate(source=src, target=src, target_profile=profile(SRC), target_pkgs=SITE_PKGS)
    assert only_reason(v) == "this is the site's current platform"


@pytest.mark.parametrize(
    "status,words",
    [
        (PlatformStatus.LOCKED, "platform is locked"),
        (PlatformStatus.DELETED, "platform is deleted"),
        (PlatformStatus.QUEUED, "platform is queued"),
    ],
)
def test_platform_status(status, words):
    assert only_reason(evaluate(target=platform(DST, status=status))) == words


def test_profile_not_on_platform():
    v = evaluate(target_profile=None)
    assert only_reason(v) == "profile 'standard' not on this platform"
    assert v.comparison is None
    assert v.counts == dict.fromkeys(VERDICTS, 0)


def test_profile_not_on_platform_without_profile_name():
    v = evaluate(the_site=site(profile=None), target_profile=None)
    assert only_reason(v) == f"profile '{PROFILE_NID}' not on this platform"


def test_schema_error_one_and_many():
    target = [*TARGET_PKGS[:3], pkg(4, "views", "7.x-3.29", 7300, 0)]
    assert only_reason(evaluate(target_pkgs=target)) == "1 module would lose its schema (error)"
    target = [
        pkg(1, "drupal", "7.98", 0, 0, "platform"),
        pkg(PROFILE_NID, "standard", "7.98", 0, 0, "profile"),
    ]
    target += [pkg(3, "system", "7.98", 7000, 0), pkg(4, "views", "7.x-3.29", 7300, 0)]
    v = evaluate(target_pkgs=target)
    assert only_reason(v) == "2 modules would lose their schema (error)"
    assert v.counts["error"] == 2


def test_missing_blocks_only_in_strict_mode():
    target = TARGET_PKGS[:3]  # no views
    lenient = evaluate(target_pkgs=target)
    assert lenient.selectable and lenient.counts["missing"] == 1
    assert only_reason(evaluate(target_pkgs=target, strict=True)) == "1 enabled module missing (strict mode)"
    target = TARGET_PKGS[:2]  # no views, no system
    assert only_reason(evaluate(target_pkgs=target, strict=True)) == "2 enabled modules missing (strict mode)"


def test_absent_disabled_never_blocks():
    site_pkgs = [*SITE_PKGS, pkg(7, "ghost", "7.x-1.0", 7001, 0)]
    v = evaluate(site_pkgs=site_pkgs, strict=True)
    assert v.selectable and v.counts["absent-disabled"] == 1


def test_downgrade_is_only_a_warning():
    target = [*TARGET_PKGS[:3], pkg(4, "views", "7.x-3.10", 7301, 0)]
    v = evaluate(target_pkgs=target, strict=True)
    assert v.selectable and v.counts["downgrade"] == 1


def test_other_web_server():
    v = evaluate(target=platform(DST, web=WEB_B))
    assert only_reason(v) == "served by web server web2.example.org, site is on web1.example.org"


def test_other_web_server_with_the_same_title_names_the_nodes():
    v = evaluate(target=platform(DST, web=WEB_B, web_server_title="web1.example.org"))
    assert only_reason(v) == (
        f"served by web server web1.example.org (node {WEB_B}), site is on web1.example.org (node {WEB_A})"
    )


def test_same_web_server_node_on_different_fronts_title_is_fine():
    # the node decides, not the title: a cluster node keeps one nid
    v = evaluate(target=platform(DST, web_server_title="renamed.example.org"))
    assert v.selectable


def test_hostmaster_refused():
    v = evaluate(the_site=site(profile="hostmaster"), target_profile=profile(DST, name="hostmaster"))
    assert only_reason(v) == "the hostmaster site cannot be migrated"


def test_core_7_to_10_refused():
    target = platform(DST, core="10.2.3")
    v = evaluate(target=target)
    assert "Drupal 7 → 10 needs a content migration, not an in-place update" in v.reasons
    assert not v.selectable


def test_core_10_to_9_refused_alone():
    src = platform(SRC, core="10.1.2")
    site_pkgs = [
        pkg(1, "drupal", "10.1.2", 0, 0, "platform"),
        pkg(PROFILE_NID, "standard", "10.1.2", 0, 1, "profile"),
    ]
    target_pkgs = [
        pkg(1, "drupal", "9.5.11", 0, 0, "platform"),
        pkg(PROFILE_NID, "standard", "9.5.11", 0, 0, "profile"),
    ]
    v = evaluate(
        source=src, target=platform(DST, core="9.5.11"), site_pkgs=site_pkgs, target_pkgs=target_pkgs
    )
    assert only_reason(v) == "Drupal 10 → 9 is a core downgrade"
    assert v.counts["downgrade"] == 2  # semantic: Aegir's version_code would call this an upgrade


def test_core_9_to_10_ok():
    src = platform(SRC, core="9.5.11")
    site_pkgs = [pkg(1, "drupal", "9.5.11", 0, 0, "platform"), pkg(3, "system", "9.5.11", 9400, 1)]
    target_pkgs = [pkg(1, "drupal", "10.1.2", 0, 0, "platform"), pkg(3, "system", "10.1.2", 10100, 0)]
    v = evaluate(
        source=src, target=platform(DST, core="10.1.2"), site_pkgs=site_pkgs, target_pkgs=target_pkgs
    )
    assert v.selectable, v.reasons
    assert v.counts["upgrade"] == 2


def test_core_6_to_7_ok_with_renamed_profile_even_strict():
    the_site = site(profile="default", profile_nid=60)
    src = platform(SRC, core="6.38")
    site_pkgs = [
        pkg(1, "drupal", "6.38", 0, 0, "platform"),
        pkg(60, "default", "6.38", 0, 1, "profile"),
        pkg(3, "system", "6.38", 6055, 1),
    ]
    target_pkgs = [
        pkg(1, "drupal", "7.98", 0, 0, "platform"),
        PackageInstance(PROFILE_NID, "standard", "profile", "7.98", 0, 0, "default"),
        pkg(3, "system", "7.98", 7085, 0),
    ]
    candidates = [
        profile(DST, iid=901, package_nid=70, name="minimal"),
        profile(DST, iid=900, package_nid=PROFILE_NID, name="standard", old="default"),
    ]
    chosen = find_target_profile(the_site, candidates)
    assert chosen is not None and chosen.short_name == "standard"
    v = evaluate(
        the_site=the_site,
        source=src,
        target=platform(DST, core="7.98"),
        target_profile=chosen,
        site_pkgs=site_pkgs,
        target_pkgs=target_pkgs,
        strict=True,
    )
    assert v.selectable, v.reasons
    assert v.counts["missing"] == 0


def test_unknown_target_core_refused():
    v = evaluate(target=platform(DST, core=None))
    assert only_reason(v) == "cannot tell the Drupal core version of this platform"


def test_unknown_source_core_falls_back_to_the_sites_core_row():
    v = evaluate(source=platform(SRC, core=None))
    assert v.selectable
    no_core_row = [p for p in SITE_PKGS if p.package_type != "platform"]
    v = evaluate(source=platform(SRC, core="Unknown"), site_pkgs=no_core_row)
    assert only_reason(v) == "cannot tell the Drupal core version of the site's platform"


# --- several reasons together -------------------------------------------------------------------


def test_every_reason_at_once_in_a_stable_order():
    the_site = site(profile="hostmaster")
    src = platform(SRC, core="7.59")
    v = evaluate(
        the_site=the_site,
        source=src,
        target=platform(SRC, core="7.59", status=PlatformStatus.LOCKED),
        target_profile=None,
    )
    assert v.reasons == (
        "the hostmaster site cannot be migrated",
        "this is the site's current platform",
        "platform is locked",
        "profile 'hostmaster' not on this platform",
    )


def test_several_reasons_with_comparison_core_and_server():
    target = platform(DST, core="10.2.3", web=WEB_B, status=PlatformStatus.LOCKED)
    target_pkgs = [pkg(3, "system", "10.2.3", 7000, 0)]  # schema below the site's: error; views missing
    v = evaluate(target=target, target_pkgs=target_pkgs, strict=True)
    assert not v.selectable
    assert v.reasons == (
        "platform is locked",
        "1 module would lose its schema (error)",
        "2 enabled modules missing (strict mode)",
        "served by web server web2.example.org, site is on web1.example.org",
        "Drupal 7 → 10 needs a content migration, not an in-place update",
    )
    lenient = evaluate(target=target, target_pkgs=target_pkgs, strict=False)
    assert "2 enabled modules missing (strict mode)" not in lenient.reasons
    assert len(lenient.reasons) == 4


def test_comparison_is_computed_even_when_excluded_for_other_reasons():
    v = evaluate(target=platform(DST, status=PlatformStatus.LOCKED))
    assert v.comparison is not None and v.counts["upgrade"] == 4


# --- core upgrade rule table --------------------------------------------------------------------


@pytest.mark.parametrize(
    "src,dst,problem",
    [
        ("6.38", "6.38", None),
        ("6.38", "7.98", None),
        ("7.59", "7.98", None),
        ("7.98", "7.59", None),  # same major: the schema comparison catches real downgrades
        ("8.9.20", "9.5.11", None),
        ("9.5.11", "10.1.2", None),
        ("8.9.20", "11.0.0", None),
        ("10.1.2", "10.2.3", None),
        ("10.2.x-dev", "10.2.3", None),
        ("7.98", "8.9.20", "Drupal 7 → 8 needs a content migration, not an in-place update"),
        ("7.98", "10.2.3", "Drupal 7 → 10 needs a content migration, not an in-place update"),
        ("6.38", "10.2.3", "Drupal 6 → 10 needs a content migration, not an in-place update"),
        ("10.1.2", "9.5.11", "Drupal 10 → 9 is a core downgrade"),
        ("7.98", "6.38", "Drupal 7 → 6 is a core downgrade"),
        ("8.9.20", "7.98", "Drupal 8 → 7 is a core downgrade"),
        ("5.23", "7.98", "Drupal 5 → 7 cannot be updated in place (one major version at a time)"),
        ("Unknown", "7.98", "cannot tell the Drupal core version of the site's platform"),
        ("7.98", None, "cannot tell the Drupal core version of this platform"),
    ],
)
def test_core_upgrade_rules(src, dst, problem):
    assert core_upgrade_problem(src, dst) == problem


# --- profile lookup -----------------------------------------------------------------------------


def test_find_target_profile_exact_nid_first():
    exact = profile(iid=905, package_nid=PROFILE_NID, name="standard")
    renamed = profile(iid=901, package_nid=99, name="standard2", old="standard")
    assert find_target_profile(site(), [renamed, exact]) == exact


def test_find_target_profile_renamed_lowest_iid():
    a = profile(iid=907, package_nid=98, name="a", old="standard")
    b = profile(iid=903, package_nid=99, name="b", old="standard")
    other = profile(iid=901, package_nid=97, name="minimal")
    assert find_target_profile(site(), [a, other, b]) == b


def test_find_target_profile_none():
    assert find_target_profile(site(), []) is None
    assert find_target_profile(site(), [profile(package_nid=97, name="minimal", old="default")]) is None
    # no short name: only the nid can match
    assert find_target_profile(site(profile=None), [profile(package_nid=97, name="x", old=None)]) is None


# --- inputs that do not belong together ---------------------------------------------------------


def test_mismatched_source_is_a_caller_bug():
    with pytest.raises(ValueError, match="not the platform of"):
        evaluate(source=platform(SRC + 1))


def test_profile_of_another_platform_is_a_caller_bug():
    with pytest.raises(ValueError, match="not on target"):
        evaluate(target_profile=profile(platform_nid=SRC))


def test_verdict_is_frozen():
    v = evaluate()
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.selectable = False  # type: ignore[misc]
