"""Per-package verdicts of a site against a target profile's package set."""

from __future__ import annotations

import pytest

from qm_tui.engine.compare import VERDICTS, ComparedPackage, Comparison, compare_packages, verdict_for
from qm_tui.engine.model import PackageInstance


def pkg(
    nid: int,
    name: str,
    version: str | None = "7.x-1.0",
    schema: int | None = 0,
    status: int = 1,
    ptype: str = "module",
    old: str | None = None,
) -> PackageInstance:
    return PackageInstance(
        package_nid=nid,
        short_name=name,
        package_type=ptype,
        version=version,
        schema_version=schema,
        status=status,
        old_short_name=old,
    )


def one(site: PackageInstance, target: PackageInstance | None) -> ComparedPackage:
    result = compare_packages([site], [] if target is None else [target])
    assert len(result.rows) == 1
    return result.rows[0]


ON, OFF = 1, 0

# (site version, site schema, status, target version or None for absent, target schema, verdict)
CASES = [
    # 1. error: enabled schema downgrade
    ("7.x-1.0", 7005, ON, "7.x-1.0", 7003, "error"),
    # error wins over a version upgrade (precedence)
    ("7.x-1.0", 7005, ON, "7.x-2.0", 7003, "error"),
    # error wins over a version downgrade too
    ("7.x-2.0", 7005, ON, "7.x-1.0", 7003, "error"),
    # target schema 0 (no hook_update_N in the code) never makes an error
    ("7.x-1.0", 7005, ON, "7.x-1.0", 0, "same"),
    ("7.x-1.0", 7005, ON, "7.x-1.0", None, "same"),
    # disabled never error: verdict by version instead
    ("7.x-1.0", 7005, OFF, "7.x-1.0", 7003, "same"),
    ("7.x-2.0", 7005, OFF, "7.x-1.0", 7003, "downgrade"),
    ("7.x-1.0", 7005, OFF, "7.x-2.0", 7003, "upgrade"),
    # 2./3. absent from the target
    ("7.x-1.0", 7005, ON, None, None, "missing"),
    ("7.x-1.0", 7005, OFF, None, None, "absent-disabled"),
    ("Unknown", None, ON, None, None, "missing"),
    # 4. downgrade, enabled or not; beats a schema upgrade
    ("7.x-1.2", 7001, ON, "7.x-1.1", 7001, "downgrade"),
    ("7.x-1.2", 7001, OFF, "7.x-1.1", 7001, "downgrade"),
    ("7.x-1.2", 7001, ON, "7.x-1.1", 7002, "downgrade"),
    # 5. upgrade by version, or by schema when enabled
    ("7.x-1.1", 7001, ON, "7.x-1.2", 7001, "upgrade"),
    ("7.x-1.1", 7001, ON, "7.x-1.1", 7002, "upgrade"),
    ("7.x-1.1", None, ON, "7.x-1.1", 7002, "upgrade"),
    ("7.x-1.1", 7001, OFF, "7.x-1.1", 7002, "same"),
    # 6. same
    ("7.x-1.1", 7001, ON, "7.x-1.1", 7001, "same"),
    ("7.x-1.1", None, ON, "7.x-1.1", None, "same"),
    # unknown versions: schema only
    ("Unknown", 7001, ON, "7.x-1.1", 7002, "upgrade"),
    ("7.x-1.1", 7001, ON, "Unknown", 7001, "same"),
    ("Unknown", 7001, ON, "Unknown", 7001, "same"),
    (None, 7001, ON, "7.x-9.9", 7001, "same"),
    ("VERSION", 7001, ON, "7.x-0.1", 7001, "same"),
    ("Unknown", 7003, ON, "7.x-1.1", 7002, "error"),
    ("Unknown", 7001, OFF, "7.x-1.1", 7002, "same"),
    ("garbage", 0, OFF, "7.x-1.1", 0, "same"),
    # not comparable (2-part plain against a 7.x- prefix) behaves like unknown
    ("7.98", 0, ON, "7.x-1.0", 0, "same"),
    # versions Aegir's version_code ranks wrongly
    ("9.5.11", 0, OFF, "10.1.2", 0, "upgrade"),
    ("10.1.2", 0, OFF, "9.5.11", 0, "downgrade"),
    ("8.6.1", 0, OFF, "8.6.15", 0, "upgrade"),
    ("7.x-1.0", 0, ON, "7.x-1.x-dev", 0, "upgrade"),
    ("7.x-1.x-dev", 0, ON, "7.x-1.0", 0, "downgrade"),
    ("7.x-1.0+5-dev", 0, ON, "7.x-1.0", 0, "downgrade"),
    ("8.x-1.5", 8001, ON, "1.5.0", 8001, "same"),
    ("8.x-1.5", 8001, ON, "1.6.0", 8001, "upgrade"),
]


@pytest.mark.parametrize("cv,cs,status,tv,ts,expected", CASES)
def test_verdict(cv, cs, status, tv, ts, expected):
    site = pkg(1, "m", cv, cs, status)
    target = None if tv is None else pkg(1, "m", tv, ts, 0)
    row = one(site, target)
    assert row.verdict == expected
    assert verdict_for(site, target)[0] == expected


def test_disabled_is_never_error_or_missing():
    for cs in (None, 0, 1, 7001, 9999):
        for ts in (None, 0, 1, 7000):
            for tv in (None, "7.x-1.0", "7.x-0.1", "Unknown"):
                site = pkg(1, "m", "7.x-1.0", cs, OFF)
                target = None if tv is None else pkg(1, "m", tv, ts, 0)
                assert one(site, target).verdict not in ("error", "missing")


def test_row_fields():
    row = one(pkg(5, "views", "7.x-3.29", 7301, ON), pkg(5, "views", "7.x-3.30", None, 0))
    assert row == ComparedPackage(
        package_nid=5,
        short_name="views",
        package_type="module",
        site_status=1,
        current_version="7.x-3.29",
        target_version="7.x-3.30",
        current_schema=7301,
        target_schema=0,
        verdict="upgrade",
        target_short_name="views",
        version_order=1,
    )
    assert row.enabled and row.on_target and not row.renamed and not row.schema_downgrade

    absent = one(pkg(6, "gone", "7.x-1.0", None, OFF), None)
    assert absent.target_version is None and absent.target_schema is None
    assert absent.current_schema == 0
    assert not absent.on_target and not absent.enabled
    assert absent.version_order is None


def test_schema_downgrade_flag_on_disabled_rows():
    row = one(pkg(1, "m", "7.x-1.0", 7005, OFF), pkg(1, "m", "7.x-1.0", 7003, 0))
    assert row.verdict == "same"
    assert row.schema_downgrade
    assert not one(pkg(1, "m", "7.x-1.0", 7005, OFF), pkg(1, "m", "7.x-1.0", 0, 0)).schema_downgrade


def site_set() -> list[PackageInstance]:
    return [
        pkg(1, "drupal", "7.59", 0, OFF, "platform"),
        pkg(2, "standard", "7.59", 0, ON, "profile"),
        pkg(3, "system", "7.59", 7080, ON),
        pkg(4, "views", "7.x-3.20", 7301, ON),
        pkg(5, "ctools", "7.x-1.14", 7002, ON),
        pkg(6, "oldmod", "7.x-1.0", 7000, ON),
        pkg(7, "ghost", "7.x-1.0", 7000, OFF),
        pkg(8, "devel", "7.x-1.5", 7001, OFF),
        pkg(9, "token", "7.x-1.7", 7001, ON),
        pkg(10, "bartik", "7.59", 0, ON, "theme"),
    ]


def target_set() -> list[PackageInstance]:
    return [
        pkg(1, "drupal", "7.98", 0, 0, "platform"),
        pkg(2, "standard", "7.98", 0, 0, "profile"),
        pkg(3, "system", "7.98", 7085, 0),
        pkg(4, "views", "7.x-3.29", 7300, 0),  # schema downgrade: error
        pkg(5, "ctools", "7.x-1.12", 7002, 0),  # older: downgrade
        pkg(8, "devel", "7.x-1.7", 7001, 0),
        pkg(9, "token", "7.x-1.7", 7001, 0),
        pkg(10, "bartik", "7.98", 0, 0, "theme"),
        pkg(99, "only_on_target", "7.x-1.0", 7000, 0),
    ]


def test_full_comparison_counts_and_order():
    result = compare_packages(site_set(), target_set())
    verdicts = {r.short_name: r.verdict for r in result.rows}
    assert verdicts == {
        "drupal": "upgrade",
        "standard": "upgrade",
        "system": "upgrade",
        "views": "error",
        "ctools": "downgrade",
        "oldmod": "missing",
        "ghost": "absent-disabled",
        "devel": "upgrade",
        "token": "same",
        "bartik": "upgrade",
    }
    assert "only_on_target" not in verdicts
    assert result.counts == {
        "error": 1,
        "missing": 1,
        "absent-disabled": 1,
        "downgrade": 1,
        "upgrade": 5,
        "same": 1,
    }
    assert list(result.counts) == list(VERDICTS)
    assert sum(result.counts.values()) == len(result.rows) == 10
    assert result.errors == 1 and result.missing == 1
    assert result.count("upgrade") == 5
    assert [r.short_name for r in result.with_verdict("upgrade")] == [
        "bartik",
        "standard",
        "system",
        "devel",
        "drupal",
    ]
    # Aegir's compare page order: enabled first, then by name
    names = [r.short_name for r in result.rows]
    assert names == [
        "bartik",
        "ctools",
        "oldmod",
        "standard",
        "system",
        "token",
        "views",
        "devel",
        "drupal",
        "ghost",
    ]


def test_empty_comparison_has_all_keys():
    result = compare_packages([], [])
    assert result.counts == dict.fromkeys(VERDICTS, 0)
    assert not result.blocking(strict=True)
    assert compare_packages([], target_set()).rows == ()


@pytest.mark.parametrize(
    "site,target,lenient,strict",
    [
        ([pkg(1, "m", schema=7005)], [pkg(1, "m", schema=7003)], True, True),  # error
        ([pkg(1, "m")], [], False, True),  # missing
        ([pkg(1, "m", status=OFF)], [], False, False),  # absent-disabled
        ([pkg(1, "m", "7.x-2.0")], [pkg(1, "m", "7.x-1.0")], False, False),  # downgrade
        ([pkg(1, "m")], [pkg(1, "m")], False, False),  # same
    ],
)
def test_blocking(site, target, lenient, strict):
    result = compare_packages(site, target)
    assert result.blocking() is lenient
    assert result.blocking(False) is lenient
    assert result.blocking(strict=True) is strict


def test_core_row_is_compared_like_others():
    core = pkg(1, "drupal", "7.59", None, OFF, "platform")
    assert one(core, pkg(1, "drupal", "7.98", None, 0, "platform")).verdict == "upgrade"
    assert one(core, pkg(1, "drupal", "7.50", None, 0, "platform")).verdict == "downgrade"
    assert one(core, None).verdict == "absent-disabled"  # status 0: never missing


def test_renamed_profile_is_matched_through_old_short_name():
    site = [pkg(20, "default", "6.38", 0, ON, "profile"), pkg(3, "system", "6.38", 6055, ON)]
    target = [pkg(21, "standard", "7.98", 0, 0, "profile", old="default"), pkg(3, "system", "7.98", 7085, 0)]
    result = compare_packages(site, target)
    prof = next(r for r in result.rows if r.package_nid == 20)
    assert prof.verdict == "upgrade"
    assert prof.renamed and prof.target_short_name == "standard"
    assert not result.blocking(strict=True)

    aegir = compare_packages(site, target, follow_renames=False)
    assert next(r for r in aegir.rows if r.package_nid == 20).verdict == "missing"
    assert aegir.blocking(strict=True) and not aegir.blocking(strict=False)


def test_rename_needs_same_type_and_is_not_stolen():
    # a module whose old name matches a profile's short name is not the profile
    site = [pkg(20, "default", "6.38", 0, ON, "profile")]
    target = [pkg(21, "newmod", "7.x-1.0", 0, 0, "module", old="default")]
    assert compare_packages(site, target).rows[0].verdict == "missing"
    # the site already has the new package: the old one stays missing, the new one is matched by nid
    site = [pkg(20, "default", "6.38", 0, ON, "profile"), pkg(21, "standard", "7.98", 0, ON, "profile")]
    target = [pkg(21, "standard", "7.98", 0, 0, "profile", old="default")]
    verdicts = {r.short_name: r.verdict for r in compare_packages(site, target).rows}
    assert verdicts == {"default": "missing", "standard": "same"}


def test_exact_nid_match_wins_over_rename():
    site = [pkg(20, "default", "7.x-1.0", 0, ON, "profile")]
    target = [
        pkg(21, "standard", "7.x-9.0", 0, 0, "profile", old="default"),
        pkg(20, "default", "7.x-1.0", 0, 0, "profile"),
    ]
    row = compare_packages(site, target).rows[0]
    assert row.verdict == "same" and not row.renamed


def test_matching_is_by_nid_not_name():
    row = one(pkg(1, "views", "7.x-3.29", 7301, ON), pkg(2, "views", "7.x-3.29", 7301, 0))
    assert row.verdict == "missing"


def test_duplicate_target_rows_last_wins():
    site = [pkg(1, "m", "7.x-1.0", 7001, ON)]
    target = [pkg(1, "m", "7.x-2.0", 7001, 0), pkg(1, "m", "7.x-0.9", 7001, 0)]
    assert compare_packages(site, target).rows[0].verdict == "downgrade"


def test_comparison_is_hashable_and_immutable():
    result = compare_packages(site_set(), target_set())
    assert isinstance(result, Comparison)
    hash(result)
    with pytest.raises(AttributeError):
        result.rows = ()  # type: ignore[misc]
    counts = result.counts
    counts["error"] = 99
    assert result.counts["error"] == 1
