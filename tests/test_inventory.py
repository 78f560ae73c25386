"""The hostmaster reader, inventory and target evaluation against a real MariaDB lab hostmaster.

One database per module (``qmt<hex>_hostmaster`` with its own SELECT-only account), built from the lab
scenario and dropped at the end, also on failure. Expected values come from the scenario (``CASES``
and the world model), not from the code under test. Without MariaDB every test skips with the reason.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostmaster_fixture import accounts_or_skip, lab_hostmaster, write_config

from qm_lab.hostmaster_db import HostmasterAccounts
from qm_lab.scenario import CASES, build_lab_world, build_scale_world
from qm_lab.world import World
from qm_tui.config import Config, load_config
from qm_tui.engine import hostmaster_db, service
from qm_tui.engine.compare import VERDICTS
from qm_tui.engine.hostmaster_db import SCHEMA_AEGIR3, HostmasterDB, HostmasterError, PackageMeta, _unpack
from qm_tui.engine.inventory import NotFound, find_platform, find_site, load_inventory
from qm_tui.engine.model import PlatformStatus, SiteStatus

# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> World:
    return build_lab_world("qmtinv_")


@pytest.fixture(scope="module")
def accounts(world: World) -> Iterator[HostmasterAccounts]:
    yield from accounts_or_skip(world)


@pytest.fixture(scope="module")
def cfg(accounts: HostmasterAccounts, tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(write_config(tmp_path_factory.mktemp("inv") / "config.yaml", accounts.ro))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _snapshot(cfg: Config, include_deleted: bool = False) -> Any:
    async with HostmasterDB(cfg.hostmaster.db) as db:
        return await load_inventory(db, include_deleted=include_deleted)


# --- expected outcomes of every CASES pair ------------------------------------------------------

ERR1 = "1 module would lose its schema (error)"
ERR3 = "3 modules would lose their schema (error)"
MISS1 = "1 enabled module missing (strict mode)"
CURRENT = "this is the site's current platform"


def counts(*n: int) -> dict[str, int]:
    return dict(zip(VERDICTS, n, strict=True))


# case -> (counts, reasons without strict, reasons with strict); selectable iff no reasons.
EXPECTED: dict[str, tuple[dict[str, int], list[str], list[str]]] = {
    "eligible": (counts(0, 0, 2, 0, 42, 8), [], []),
    "same-platform": (counts(0, 0, 0, 0, 0, 52), [CURRENT], [CURRENT]),
    "platform-locked": (counts(0, 0, 2, 0, 42, 8), ["platform is locked"], ["platform is locked"]),
    "platform-deleted": (counts(0, 0, 2, 0, 42, 8), ["platform is deleted"], ["platform is deleted"]),
    "platform-queued": (counts(0, 0, 0, 0, 0, 0),
                        ["platform is queued", "profile 'standard' not on this platform",
                         "cannot tell the Drupal core version of this platform"],
                        ["platform is queued", "profile 'standard' not on this platform",
                         "cannot tell the Drupal core version of this platform"]),
    "profile-absent": (counts(0, 0, 0, 0, 0, 0), ["profile 'acme_intranet' not on this platform"],
                       ["profile 'acme_intranet' not on this platform"]),
    "custom-profile-eligible": (counts(0, 0, 2, 2, 41, 8), [], []),
    "renamed-profile-eligible": (counts(0, 0, 6, 0, 19, 0), [], []),
    "error": (counts(1, 0, 2, 1, 43, 5), [ERR1], [ERR1]),
    "error-newer-site": (counts(3, 0, 0, 39, 0, 8), [ERR3], [ERR3]),
    "missing-strict": (counts(0, 1, 1, 0, 42, 8), [], [MISS1]),
    "web-server": (counts(0, 0, 2, 0, 42, 8), ["served by web server web4.lab.test, site is on webcluster.lab.test"],
                   ["served by web server web4.lab.test, site is on webcluster.lab.test"]),
    "web-server-pack": (counts(0, 0, 2, 0, 42, 8),
                        ["served by web server webpack.lab.test, site is on webcluster.lab.test"],
                        ["served by web server webpack.lab.test, site is on webcluster.lab.test"]),
    "core-7-to-10": (counts(0, 18, 4, 0, 30, 0), ["Drupal 7 → 10 needs a content migration, not an in-place update"],
                     ["18 enabled modules missing (strict mode)",
                      "Drupal 7 → 10 needs a content migration, not an in-place update"]),
    "core-10-to-9": (counts(10, 1, 0, 43, 1, 0),
                     ["10 modules would lose their schema (error)", "Drupal 10 → 9 is a core downgrade"],
                     ["10 modules would lose their schema (error)", MISS1, "Drupal 10 → 9 is a core downgrade"]),
    "core-6-to-7": (counts(0, 0, 6, 0, 19, 0), [], []),
    "core-9-to-10": (counts(0, 3, 0, 0, 54, 0), [], ["3 enabled modules missing (strict mode)"]),
    "d10-eligible": (counts(0, 0, 0, 0, 54, 1), [], []),
    "multi-revision-site": (counts(3, 0, 0, 39, 0, 8), [ERR3], [ERR3]),
    "renamed-platform": (counts(0, 0, 0, 0, 0, 51), [CURRENT], [CURRENT]),
    "d6-offline": (counts(0, 1, 5, 0, 19, 0), [], [MISS1]),
    "on-locked-platform": (counts(0, 0, 0, 0, 0, 50), [], []),
}
ONE_OF_EACH = (counts(1, 1, 1, 1, 43, 5), [ERR1], [ERR1, MISS1])
for _name in CASES:
    if _name.startswith("verdict-"):
        EXPECTED[_name] = ONE_OF_EACH
PAIRED = sorted(n for n, c in CASES.items() if c.target is not None)


def test_every_case_with_a_target_has_an_expectation() -> None:
    assert sorted(EXPECTED) == PAIRED


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
@pytest.mark.parametrize("name", PAIRED)
def test_case_verdict_reasons_and_counts(cfg: Config, name: str, strict: bool) -> None:
    case = CASES[name]
    assert case.target is not None
    want_counts, loose, tight = EXPECTED[name]
    want_reasons = tight if strict else loose
    st, verdict, comparison = run(service.compare(cfg, case.site, case.target, strict=strict))
    assert st.site.uri == case.site
    assert verdict.platform.title == case.target
    assert list(verdict.reasons) == want_reasons
    assert verdict.selectable is (not want_reasons)
    assert verdict.counts == want_counts
    if case.package is not None:
        assert comparison is not None
        row = next(r for r in comparison.rows if r.short_name == case.package)
        expected_verdict = {"error": "error", "error-newer-site": "error", "missing-strict": "missing"}.get(name)
        if name.startswith("verdict-"):
            expected_verdict = name.removeprefix("verdict-").removesuffix("-version").removesuffix("-schema")
        assert row.verdict == expected_verdict


@pytest.mark.parametrize("name", [n for n in PAIRED if CASES[n].target != CASES[n].site])
def test_targets_list_agrees_with_compare(cfg: Config, name: str) -> None:
    """``targets`` (every platform at once) gives each platform the verdict ``compare`` gives alone."""
    case = CASES[name]
    st = run(service.targets(cfg, case.site))
    by_title = {v.platform.title: v for v in st.verdicts}
    if name in ("same-platform", "renamed-platform"):
        assert case.target not in by_title  # its own platform is not a candidate
        return
    want_counts, loose, _ = EXPECTED[name]
    v = by_title[case.target or ""]
    assert (list(v.reasons), v.counts) == (loose, want_counts)


def test_one_comparison_has_every_verdict(cfg: Config) -> None:
    _, verdict, comparison = run(service.compare(cfg, "verdicts-d7.lab.test", "drupal-7.101-c"))
    assert comparison is not None
    rows = {r.short_name: r for r in comparison.rows}
    assert {r.verdict for r in comparison.rows} == set(VERDICTS)
    got = {name: (rows[name].verdict, rows[name].current_version, rows[name].target_version,
                  rows[name].current_schema, rows[name].target_schema)
           for name in ("pathauto", "admin_menu", "features", "link", "views", "date", "token")}
    assert got == {
        "pathauto": ("error", "7.x-1.3", "7.x-1.2", 7006, 7005),
        "admin_menu": ("missing", "7.x-3.0-rc6", None, 7304, None),
        "features": ("absent-disabled", "7.x-2.11", None, 7202, None),
        "link": ("downgrade", "7.x-1.6", "7.x-1.4", 7002, 7002),
        "views": ("upgrade", "7.x-3.20", "7.x-3.29", 7301, 7302),
        "date": ("upgrade", "7.x-2.x-dev", "7.x-2.x-dev", 7004, 7005),
        "token": ("same", "7.x-1.7", "7.x-1.7", 7001, 7001),
    }
    assert not rows["features"].enabled and rows["admin_menu"].enabled


def test_site_local_code_is_never_compared(cfg: Config) -> None:
    st = run(service.targets(cfg, "cluster-d7.lab.test"))
    assert "custom_glue" not in {p.short_name for p in st.site_packages}
    assert CASES["site-local-module"].package == "custom_glue"


def test_renamed_profile_is_matched_through_old_short_name(cfg: Config, world: World) -> None:
    st, verdict, comparison = run(service.compare(cfg, "legacy-d6.lab.test", "drupal-7.98-b"))
    assert st.site.profile == "default"
    assert verdict.profile is not None
    assert (verdict.profile.short_name, verdict.profile.old_short_name) == ("standard", "default")
    assert verdict.profile.iid == world.profile_iid("drupal-7.98-b", "standard")
    assert comparison is not None
    row = next(r for r in comparison.rows if r.package_type == "profile")
    assert (row.short_name, row.target_short_name, row.verdict) == ("default", "standard", "upgrade")


def test_profile_instance_is_the_one_on_each_platform(cfg: Config, world: World) -> None:
    st = run(service.targets(cfg, "intranet-d7.lab.test"))
    chosen = {v.platform.title: v.profile.iid for v in st.verdicts if v.profile is not None}
    assert chosen == {"drupal-7.101-c": world.profile_iid("drupal-7.101-c", "acme_intranet")}


def test_hostmaster_is_never_a_candidate(cfg: Config, world: World) -> None:
    hm = run(service.targets(cfg, CASES["hostmaster"].site))
    assert hm.site.profile == "hostmaster"
    assert hm.verdicts and not any(v.selectable for v in hm.verdicts)
    assert all(v.reasons[0] == "the hostmaster site cannot be migrated" for v in hm.verdicts)
    # ...and its platform is offered to no site.
    for site in world.sites:
        if site.status == -2 or site.title == CASES["hostmaster"].site:
            continue
        st = run(service.targets(cfg, site.title))
        assert not [v for v in st.verdicts if v.platform.title == "hostmaster" and v.selectable], site.title


def test_version_zoo_as_stored(cfg: Config) -> None:
    """Odd version strings come out as Aegir stored them; unknown ones compare by schema alone."""

    def rows(uri: str, target: str) -> dict[str, tuple[Any, ...]]:
        _, _, comparison = run(service.compare(cfg, uri, target))
        return {r.short_name: (r.current_version, r.target_version, r.current_schema, r.target_schema, r.verdict)
                for r in comparison.rows}

    d7 = rows("verdicts-d7.lab.test", "drupal-7.101-c")
    assert d7["acme_helpers"] == ("Unknown", "Unknown", 7001, 7001, "same")  # no version line: 'Unknown'
    assert d7["smtp"] == ("7.x-1.0-beta2", "7.x-1.0+5-dev", 7001, 7001, "upgrade")  # git build after a beta
    assert d7["date_api"] == ("7.x-2.x-dev", "7.x-2.x-dev", 7001, 7001, "same")  # branch snapshot
    assert d7["drupal"] == ("7.97", "7.101", 0, 0, "upgrade")  # 7.101 > 7.97 (Aegir's version_code agrees)
    assert d7["update"] == ("7.97", "7.101", 0, 7001, "upgrade")  # disabled, never installed
    d6 = rows("legacy-d6.lab.test", "drupal-7.98-b")
    assert d6["views"] == ("6.x-2.18", "7.x-3.29", 6009, 7302, "upgrade")  # across core prefixes
    d10 = rows("web4-d10.lab.test", "drupal-9.5.11")
    assert d10["drupal"] == ("10.1.8", "9.5.11", 0, 0, "downgrade")  # numeric, not Aegir's version_code
    assert d10["ctools"][:2] == ("4.0.4", "8.x-3.14") and d10["ctools"][4] == "downgrade"  # semver vs 8.x-
    assert d10["acme_api"] == ("Unknown", "Unknown", 10001, 9001, "error")
    d9 = rows("web4-d9.lab.test", "drupal-10.1.8")
    assert d9["ctools"] == ("8.x-3.14", "4.0.4", 8000, 10000, "upgrade")  # D10 code records at least 10000
    assert d9["token"] == ("8.x-1.11", "8.x-1.12", 8001, 10000, "upgrade")
    staging = rows("staging-d7.lab.test", "drupal-7.98-b")
    assert staging["acme_legacy"] == ("", None, 0, None, "absent-disabled")  # an empty version line


# --- inventory: revisions, fronts, statuses -----------------------------------------------------


def test_schema_is_detected(cfg: Config) -> None:
    async def go() -> tuple[str | None, str]:
        async with HostmasterDB(cfg.hostmaster.db) as db:
            return db.schema, db.schema_id

    assert run(go()) == (SCHEMA_AEGIR3, "aegir3")


def test_no_duplicates_and_current_revisions_win(cfg: Config, world: World) -> None:
    snap = run(_snapshot(cfg, include_deleted=True))
    inv = snap.inventory
    for what, keys in (("sites", [s.nid for s in inv.sites]), ("platforms", [p.nid for p in inv.platforms]),
                       ("servers", [s.nid for s in inv.servers])):
        assert not [k for k, n in Counter(keys).items() if n > 1], f"duplicate {what}"
    assert sorted(s.uri for s in inv.sites) == sorted(s.title for s in world.sites)
    assert sorted(p.title for p in inv.platforms) == sorted(p.title for p in world.platforms)
    assert sorted(s.title for s in inv.servers) == sorted(s.title for s in world.servers)
    # Older revisions exist and say something else.
    moved = find_site(inv, "moved-d7.lab.test")
    assert moved.platform == "drupal-7.98-b" and world.site(moved.uri).history[0].platform != moved.platform_nid
    renamed = find_platform(inv, "drupal-7.101-c")
    assert renamed.context == "platform_drupal7101staging"  # the context keeps the registered name
    assert "drupal-7.101-staging" not in {p.title for p in inv.platforms}
    web4 = next(s for s in inv.servers if s.title == "web4.lab.test")
    assert web4.http_type == "apache"  # nginx in its older revision
    cluster = next(s for s in inv.servers if s.title == "webcluster.lab.test")
    members = sorted(m for m, _ in snap.members[cluster.nid])
    assert members == sorted(world.server("webcluster.lab.test").cluster_members)
    assert len(snap.members[cluster.nid]) == 3


def test_web_fronts(cfg: Config, world: World) -> None:
    inv = run(_snapshot(cfg, include_deleted=True)).inventory
    for p in inv.platforms:
        assert list(p.fronts) == world.fronts(world.platform(p.title).web_server), p.title
    by_title = {p.title: p for p in inv.platforms}
    assert by_title["drupal-7.97-a"].fronts == ("web1.lab.test", "web2.lab.test", "web3.lab.test")
    assert by_title["drupal-7.97-a"].web_server_title == "webcluster.lab.test"
    assert by_title["drupal-7.98-pack"].fronts == ("web1.lab.test", "web2.lab.test")
    assert by_title["drupal-7.98-web4"].fronts == ("web4.lab.test",)
    assert by_title["hostmaster"].fronts == ("aegir.lab.test",)
    snap = run(_snapshot(cfg))
    pack = next(s for s in snap.inventory.servers if s.title == "webpack.lab.test")
    names = {s.nid: s.title for s in snap.inventory.servers}
    assert sorted((names[m], kind) for m, kind in snap.members[pack.nid]) == [
        ("web1.lab.test", "master"), ("web2.lab.test", "slave")]
    site = find_site(snap.inventory, "pack-d7.lab.test")
    assert site.fronts == ("web1.lab.test", "web2.lab.test") and site.web_server == "webpack.lab.test"


def test_core_version_per_platform(cfg: Config, world: World) -> None:
    inv = run(_snapshot(cfg, include_deleted=True)).inventory
    got = {p.title: p.core_version for p in inv.platforms}
    want = {p.title: (p.core_version if p.verified else None) for p in world.platforms}
    assert got == want
    assert got["drupal-7.101-queued"] is None  # never verified: no package rows


def test_statuses_and_deleted_sites(cfg: Config, world: World) -> None:
    live = run(_snapshot(cfg)).inventory
    every = run(_snapshot(cfg, include_deleted=True)).inventory
    assert "deleted-d7.lab.test" not in {s.uri for s in live.sites}
    assert len(every.sites) == len(live.sites) + 1
    status = {s.uri: s.status for s in every.sites}
    assert status["deleted-d7.lab.test"] == SiteStatus.DELETED
    assert status["disabled-d7.lab.test"] == SiteStatus.DISABLED
    assert status["queued-d7.lab.test"] == SiteStatus.QUEUED
    assert status["cluster-d7.lab.test"] == SiteStatus.ENABLED
    assert {s.uri: s.status for s in live.sites}.keys() == {s.title for s in world.sites if s.status != -2}
    pstatus = {p.title: p.status for p in every.platforms}
    assert pstatus["drupal-7.98-locked"] == PlatformStatus.LOCKED
    assert pstatus["drupal-7.98-deleted"] == PlatformStatus.DELETED
    assert pstatus["drupal-7.101-queued"] == PlatformStatus.QUEUED
    assert pstatus["hostmaster"] == PlatformStatus.LOCKED
    queued = find_site(every, "queued-d7.lab.test")
    assert queued.verified == 0 and queued.db_name in ("", None)


def test_site_fields_and_counts(cfg: Config, world: World) -> None:
    inv = run(_snapshot(cfg)).inventory
    s = find_site(inv, "legacy-d6.lab.test")
    assert (s.profile, s.client, s.db_server, s.platform) == ("default", "Legacy Ltd", "db.lab.test", "drupal-6.38")
    assert find_site(inv, "intranet-d7.lab.test").profile == "acme_intranet"
    assert find_site(inv, "aegir.lab.test").profile == "hostmaster"
    want = Counter(s.platform for s in world.sites if s.status != -2)
    for p in inv.platforms:
        assert p.site_count == want.get(p.nid, 0), p.title


def test_platform_lookup(cfg: Config) -> None:
    inv = run(_snapshot(cfg)).inventory
    c = find_platform(inv, "drupal-7.101-c")
    assert find_platform(inv, "platform_drupal7101staging") is c
    assert find_platform(inv, "@platform_drupal7101staging") is c
    assert find_platform(inv, str(c.nid)) is c
    assert find_platform(inv, "  DRUPAL-7.101-C ") is c
    with pytest.raises(NotFound, match=r"no platform 'drupal-7\.101' .*did you mean: drupal-7\.101-c"):
        find_platform(inv, "drupal-7.101")
    with pytest.raises(NotFound, match=r"did you mean: .*cluster-d7\.lab\.test"):
        find_site(inv, "cluster-d7.lab.tst")


def test_unknown_site_and_platform_in_targets(cfg: Config) -> None:
    with pytest.raises(NotFound, match=r"no site 'clster-d7\.lab\.test' .*did you mean: cluster-d7\.lab\.test"):
        run(service.targets(cfg, "clster-d7.lab.test"))
    with pytest.raises(NotFound, match=r"no platform 'drupal-7\.98-c'.*did you mean"):
        run(service.compare(cfg, "cluster-d7.lab.test", "drupal-7.98-c"))


@pytest.mark.parametrize("hostile", [
    "x' OR '1'='1", "cluster-d7.lab.test'; DROP TABLE node; --", "%", "_", "\\", "\x00", "é☃\u202e", "a" * 5000,
    "cluster-d7.lab.test\n", "${HOME}", "--json", "", "@", "\x1e",
])
def test_hostile_names_are_just_unknown(cfg: Config, hostile: str) -> None:
    if hostile.strip() == "cluster-d7.lab.test":  # surrounding blanks are trimmed: a real site
        assert run(service.targets(cfg, hostile)).site.uri == "cluster-d7.lab.test"
        return
    with pytest.raises(NotFound, match="^no site "):
        run(service.targets(cfg, hostile))
    with pytest.raises(NotFound, match="^no platform "):
        run(service.compare(cfg, "cluster-d7.lab.test", hostile))
    assert run(_snapshot(cfg)).inventory.sites  # the hostmaster is intact


def test_read_timeout_is_one_error(cfg: Config) -> None:
    from dataclasses import replace

    db_cfg = replace(cfg.hostmaster.db, read_timeout=0.3)

    async def go() -> None:
        async with HostmasterDB(db_cfg) as db:
            await db.query("SELECT SLEEP(2)")

    with pytest.raises(HostmasterError, match=r"^hostmaster DB 127\.0\.0\.1:\d+ \(user \w+, database \w+\): "
                                              r"query failed: timed out$"):
        run(go())


# --- query discipline ---------------------------------------------------------------------------


def _count_queries(monkeypatch: pytest.MonkeyPatch, coro_fn: Any) -> list[str]:
    seen: list[str] = []
    orig = HostmasterDB.query

    async def counting(self: HostmasterDB, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        seen.append(re.sub(r"(%s,)+%s", "%s…", " ".join(sql.split())))
        return await orig(self, sql, args)

    monkeypatch.setattr(HostmasterDB, "query", counting)
    try:
        run(coro_fn())
    finally:
        monkeypatch.setattr(HostmasterDB, "query", orig)
    return seen


@pytest.fixture(scope="module")
def bigger_cfg(accounts: HostmasterAccounts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """A second, larger hostmaster (the scale world, small): 300 sites, 24 platforms."""
    w = build_scale_world(n_sites=300, n_platforms=24, modules_per_site=60)
    with lab_hostmaster(w) as acc:
        yield load_config(write_config(tmp_path_factory.mktemp("big") / "config.yaml", acc.ro))


def test_one_query_per_list(cfg: Config, bigger_cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    small_load = _count_queries(monkeypatch, lambda: service.load(cfg, include_deleted=True))
    big_load = _count_queries(monkeypatch, lambda: service.load(bigger_cfg, include_deleted=True))
    assert small_load == big_load  # the same statements, whatever the number of rows
    assert len(small_load) <= 12, small_load
    small_t = _count_queries(monkeypatch, lambda: service.targets(cfg, "cluster-d7.lab.test"))
    big_t = _count_queries(monkeypatch, lambda: service.targets(bigger_cfg, "site00007.scale.test"))
    assert small_t == big_t
    assert len(small_t) <= 16, small_t
    st = run(service.targets(bigger_cfg, "site00007.scale.test"))
    assert len(st.verdicts) == 23 and sum(v.comparison is not None for v in st.verdicts) == 23


def test_packed_sets_fall_back_to_rows_when_truncated(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    packed = run(service.targets(cfg, "verdicts-d7.lab.test"))
    monkeypatch.setattr(hostmaster_db, "_PACKED_MAX", 4)  # every packed set truncated: rows instead
    plain = run(service.targets(cfg, "verdicts-d7.lab.test"))
    assert [(v.platform.nid, v.reasons, v.counts) for v in packed.verdicts] == \
           [(v.platform.nid, v.reasons, v.counts) for v in plain.verdicts]
    assert [v.comparison.rows if v.comparison else None for v in packed.verdicts] == \
           [v.comparison.rows if v.comparison else None for v in plain.verdicts]


def test_unpack_records() -> None:
    meta = {7: PackageMeta("views", "module", None), 8: PackageMeta("standard", "profile", "default")}
    seen: dict[str, Any] = {}
    rows = _unpack("7\x1f7302\x1f0\x1fV7.x-3.29\x1e8\x1f\x1f1\x1fN\x1e99\x1f0\x1f0\x1fV1.0", 3, meta, seen)
    assert [(r.short_name, r.version, r.schema_version, r.status, r.old_short_name) for r in rows] == [
        ("views", "7.x-3.29", 7302, 0, None), ("standard", None, None, 1, "default")]  # 99: no package node
    assert _unpack("7\x1f1\x1f0\x1fV7.x-1.0\x1fodd", 1, meta, {})[0].version == "7.x-1.0\x1fodd"
    for bad, n in (("7\x1f1\x1f0\x1fV1.0", 2), ("7\x1f1\x1f0", 1), ("x\x1f1\x1f0\x1fV1", 1), ("7\x1f1\x1f0\x1f1", 1)):
        with pytest.raises(ValueError):
            _unpack(bad, n, meta, {})


def test_config_file_is_private(cfg: Config) -> None:
    assert Path(cfg.path).stat().st_mode & 0o077 == 0


def test_run_sync_never_reprs_the_result() -> None:
    """CPython 3.11's asyncio.run reprs the main task's result on exit; run_sync must not (see its docstring)."""

    class Huge:
        def __repr__(self) -> str:
            raise AssertionError("the result was repr()'d")

    async def make() -> Huge:
        return Huge()

    assert isinstance(service.run_sync(make()), Huge)
