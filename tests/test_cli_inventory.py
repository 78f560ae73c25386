"""``qm-tui sites|platforms|targets|compare|info`` as a subprocess against a real lab hostmaster.

Checks the exact JSON shapes, what the tables say, exit codes and the one-line errors (unknown
names, unreachable DB, refused login, a database that is not a hostmaster, an Aegir 2 schema,
hostile strings). One hostmaster DB for the module, dropped at the end; skipped (with the reason)
only when MariaDB is unreachable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hostmaster_fixture import accounts_or_skip, admin_query, side_database, write_config

from qm_lab.hostmaster_db import HostmasterAccounts, ident
from qm_lab.scenario import CASES, build_lab_world
from qm_lab.world import World

ROOT = Path(__file__).resolve().parent.parent
VERDICTS = ["error", "missing", "absent-disabled", "downgrade", "upgrade", "same"]
ONE_LINE = re.compile(r"^qm-tui: [^\n]+\n$")


@pytest.fixture(scope="module")
def world() -> World:
    return build_lab_world("qmtcli_")


@pytest.fixture(scope="module")
def accounts(world: World) -> Iterator[HostmasterAccounts]:
    yield from accounts_or_skip(world)


@pytest.fixture(scope="module")
def conf(accounts: HostmasterAccounts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("cli") / "config.yaml", accounts.ro)


def qm(conf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("QM_TUI_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "qm_tui", *args, "--config", str(conf)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


def ok_json(conf: Path, *args: str) -> Any:
    r = qm(conf, *args, "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return json.loads(r.stdout)


def refused(conf: Path, *args: str) -> str:
    """Exit 2 with exactly one line on stderr and nothing on stdout; returns the line."""
    r = qm(conf, *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert ONE_LINE.match(r.stderr), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    return r.stderr.strip()


def is_iso(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v) is not None


def opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def int_not_bool(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --- JSON shapes --------------------------------------------------------------------------------

SITE_KEYS = {"uri", "nid", "status", "platform", "platform_nid", "web_server", "fronts", "profile", "client",
             "db_server", "verified"}
PLATFORM_KEYS = {"name", "nid", "status", "core_version", "web_server", "fronts", "site_count", "publish_path"}
TARGET_KEYS = {"platform", "platform_nid", "selectable", "reasons", "counts"}
COMPARE_KEYS = {"site", "source_platform", "target_platform", "selectable", "reasons", "counts", "packages"}
PACKAGE_KEYS = {"name", "type", "status", "current_version", "target_version", "current_schema", "target_schema",
                "verdict"}


def check_site(s: dict[str, Any]) -> None:
    assert set(s) == SITE_KEYS
    assert isinstance(s["uri"], str) and int_not_bool(s["nid"]) and int_not_bool(s["platform_nid"])
    assert s["status"] in ("enabled", "disabled", "queued", "deleted")
    assert isinstance(s["platform"], str) and isinstance(s["web_server"], str)
    assert isinstance(s["fronts"], list) and all(isinstance(h, str) for h in s["fronts"])
    assert opt_str(s["profile"]) and opt_str(s["client"]) and opt_str(s["db_server"])
    assert s["verified"] is None or is_iso(s["verified"])


def check_counts(c: dict[str, Any]) -> None:
    assert list(c) == VERDICTS and all(int_not_bool(n) and n >= 0 for n in c.values())


def test_sites_json_shape(conf: Path, world: World) -> None:
    sites = ok_json(conf, "sites")
    assert isinstance(sites, list)
    for s in sites:
        check_site(s)
    assert sorted(s["uri"] for s in sites) == sorted(s.title for s in world.sites if s.status != -2)
    by_uri = {s["uri"]: s for s in sites}
    c = by_uri["cluster-d7.lab.test"]
    assert (c["platform"], c["web_server"], c["fronts"], c["profile"], c["client"], c["db_server"]) == (
        "drupal-7.97-a", "webcluster.lab.test", ["web1.lab.test", "web2.lab.test", "web3.lab.test"], "standard",
        "Acme Corporation", "db.lab.test")
    assert by_uri["pack-d7.lab.test"]["fronts"] == ["web1.lab.test", "web2.lab.test"]
    assert by_uri["queued-d7.lab.test"]["verified"] is None


def test_platforms_json_shape(conf: Path, world: World) -> None:
    plats = ok_json(conf, "platforms")
    for p in plats:
        assert set(p) == PLATFORM_KEYS
        assert isinstance(p["name"], str) and int_not_bool(p["nid"]) and int_not_bool(p["site_count"])
        assert p["status"] in ("enabled", "locked", "queued")  # deleted ones only with --all
        assert opt_str(p["core_version"]) and isinstance(p["web_server"], str) and isinstance(p["publish_path"], str)
        assert isinstance(p["fronts"], list) and all(isinstance(h, str) for h in p["fronts"])
    names = {p["name"]: p for p in plats}
    assert "drupal-7.98-deleted" not in names
    assert names["drupal-7.97-a"]["site_count"] == 10 and names["drupal-7.97-a"]["core_version"] == "7.97"
    assert names["drupal-7.101-queued"]["core_version"] is None
    assert names["drupal-7.101-c"]["publish_path"] == "/var/aegir/platforms/drupal-7.101-c"
    every = ok_json(conf, "platforms", "--all")
    assert {p["name"] for p in every} == {p.title for p in world.platforms}
    assert next(p for p in every if p["name"] == "drupal-7.98-deleted")["status"] == "deleted"


def test_targets_json_shape(conf: Path, world: World) -> None:
    rows = ok_json(conf, "targets", "cluster-d7.lab.test")
    assert isinstance(rows, list) and len(rows) == len(world.platforms) - 1
    for t in rows:
        assert set(t) == TARGET_KEYS
        assert isinstance(t["platform"], str) and int_not_bool(t["platform_nid"])
        assert isinstance(t["selectable"], bool)
        assert isinstance(t["reasons"], list) and all(isinstance(r, str) for r in t["reasons"])
        assert t["selectable"] is (not t["reasons"])
        check_counts(t["counts"])
    by = {t["platform"]: t for t in rows}
    assert "drupal-7.97-a" not in by  # its own platform
    assert [p for p, t in by.items() if t["selectable"]] == ["drupal-7.98-b"]
    assert by["drupal-7.98-locked"]["reasons"] == ["platform is locked"]
    assert by["drupal-7.101-c"]["counts"] == dict(zip(VERDICTS, [1, 0, 2, 1, 43, 5], strict=True))


def test_targets_strict(conf: Path) -> None:
    loose = {t["platform"]: t for t in ok_json(conf, "targets", "verdicts-d7.lab.test")}
    tight = {t["platform"]: t for t in ok_json(conf, "targets", "verdicts-d7.lab.test", "--strict")}
    assert loose["drupal-7.98-b"]["selectable"] is True
    assert tight["drupal-7.98-b"]["reasons"] == ["1 enabled module missing (strict mode)"]
    assert loose["drupal-7.98-b"]["counts"] == tight["drupal-7.98-b"]["counts"]


def test_compare_json_shape(conf: Path) -> None:
    c = ok_json(conf, "compare", "verdicts-d7.lab.test", "drupal-7.101-c")
    assert set(c) == COMPARE_KEYS
    assert (c["site"], c["source_platform"], c["target_platform"]) == (
        "verdicts-d7.lab.test", "drupal-7.97-a", "drupal-7.101-c")
    assert c["selectable"] is False and c["reasons"] == ["1 module would lose its schema (error)"]
    check_counts(c["counts"])
    for p in c["packages"]:
        assert set(p) == PACKAGE_KEYS
        assert isinstance(p["name"], str) and p["type"] in ("module", "theme", "profile", "platform")
        assert p["status"] in ("enabled", "disabled") and p["verdict"] in VERDICTS
        assert opt_str(p["current_version"]) and opt_str(p["target_version"])
        assert int_not_bool(p["current_schema"])
        assert p["target_schema"] is None or int_not_bool(p["target_schema"])
    assert {p["verdict"] for p in c["packages"]} == set(VERDICTS)
    assert dict(zip(VERDICTS, [sum(p["verdict"] == v for p in c["packages"]) for v in VERDICTS],
                    strict=True)) == c["counts"]
    by = {p["name"]: p for p in c["packages"]}
    assert by["admin_menu"] == {"name": "admin_menu", "type": "module", "status": "enabled",
                                "current_version": "7.x-3.0-rc6", "target_version": None, "current_schema": 7304,
                                "target_schema": None, "verdict": "missing"}
    assert (by["acme_helpers"]["current_version"], by["acme_helpers"]["verdict"]) == ("Unknown", "same")
    strict = ok_json(conf, "compare", "verdicts-d7.lab.test", "drupal-7.101-c", "--strict")
    assert strict["reasons"] == ["1 module would lose its schema (error)", "1 enabled module missing (strict mode)"]


@pytest.mark.parametrize("how", ["title", "context", "@context", "nid"])
def test_platform_names(conf: Path, how: str) -> None:
    plats = {p["name"]: p for p in ok_json(conf, "platforms")}
    nid = plats["drupal-7.101-c"]["nid"]
    name = {"title": "drupal-7.101-c", "context": "platform_drupal7101staging",
            "@context": "@platform_drupal7101staging", "nid": str(nid)}[how]
    c = ok_json(conf, "compare", "verdicts-d7.lab.test", name)
    assert c["target_platform"] == "drupal-7.101-c"
    sites = ok_json(conf, "sites", "--platform", name)
    assert [s["uri"] for s in sites] == ["staging-d7.lab.test"]


def test_compare_with_own_platform_says_why(conf: Path) -> None:
    case = CASES["renamed-platform"]
    c = ok_json(conf, "compare", case.site, case.target or "")
    assert c["selectable"] is False and c["reasons"] == ["this is the site's current platform"]
    assert c["source_platform"] == c["target_platform"] == "drupal-7.101-c"


# --- sites filters ------------------------------------------------------------------------------


def uris(conf: Path, *args: str) -> list[str]:
    return [s["uri"] for s in ok_json(conf, "sites", *args)]


def test_status_filter(conf: Path, world: World) -> None:
    assert "deleted-d7.lab.test" not in uris(conf)
    assert uris(conf, "--status", "deleted") == ["deleted-d7.lab.test"]
    assert uris(conf, "--status", "disabled") == ["disabled-d7.lab.test"]
    assert uris(conf, "--status", "queued") == ["queued-d7.lab.test"]
    assert sorted(uris(conf, "--status", "all")) == sorted(s.title for s in world.sites)
    assert set(uris(conf, "--status", "enabled")) == {s.title for s in world.sites if s.status == 1}
    deleted = ok_json(conf, "sites", "--status", "deleted")[0]
    assert deleted["status"] == "deleted"


def test_text_filter(conf: Path) -> None:
    assert uris(conf, "--filter", "D6") == ["legacy-d6.lab.test", "offline-d6.lab.test"]
    assert set(uris(conf, "--filter", "acme_intranet")) == {"intranet-d7.lab.test"}  # the profile
    assert set(uris(conf, "--filter", "legacy ltd")) >= {"legacy-d6.lab.test", "locked-d7.lab.test"}  # the client
    assert uris(conf, "--filter", "drupal-9.5") == ["web4-d9.lab.test"]  # the platform


def in_process(capsys: pytest.CaptureFixture[str], conf: Path, *args: str) -> tuple[int, str, str]:
    """``qm_tui.cli.main`` in this process: for the many small hostile-input runs."""
    from qm_tui.cli import main

    code = main([*args, "--config", str(conf)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("hostile", [
    "' OR 1=1 --", "%", "%%", "\\", "é☃\u202e", "'; DROP TABLE node; --", "$(id)", "*", "[", "a" * 3000,
    "\x1e\x1f", "", " @ ",
], ids=lambda h: repr(h)[:24])
def test_hostile_strings(conf: Path, world: World, hostile: str, capsys: pytest.CaptureFixture[str]) -> None:
    live = sum(1 for s in world.sites if s.status != -2)
    code, out, err = in_process(capsys, conf, "sites", "--filter", hostile, "--json")
    assert (code, len(json.loads(out)), err) == (0, 0 if hostile else live, "")  # an empty filter is no filter
    for args, what in ((["targets", hostile], "no site "),
                       (["compare", "cluster-d7.lab.test", hostile], "no platform "),
                       (["sites", "--platform", hostile], "no platform ")):
        code, out, err = in_process(capsys, conf, *args)
        assert code == 2 and out == "" and ONE_LINE.match(err) and what in err, (args, err)
    code, out, _ = in_process(capsys, conf, "sites", "--json")
    assert len(json.loads(out)) == live  # nothing was harmed


# --- human output -------------------------------------------------------------------------------


def test_tables_mention_the_facts(conf: Path) -> None:
    r = qm(conf, "sites")
    assert r.returncode == 0 and r.stderr == ""
    assert "cluster-d7.lab.test" in r.stdout and "web1.lab.test" in r.stdout and "Acme Corporation" in r.stdout
    assert "deleted-d7.lab.test" not in r.stdout
    r = qm(conf, "sites", "--status", "all")
    assert "deleted-d7.lab.test" in r.stdout and "deleted" in r.stdout
    r = qm(conf, "platforms")
    assert r.returncode == 0 and "drupal-10.2.3-cluster" in r.stdout and "10.2.3" in r.stdout
    assert "webpack.lab.test" in r.stdout and "locked" in r.stdout
    r = qm(conf, "targets", "cluster-d7.lab.test")
    assert r.returncode == 0
    assert "drupal-7.98-b" in r.stdout and "platform is locked" in r.stdout
    assert "served by web server web4.lab.test, site is on webcluster.lab.test" in r.stdout
    r = qm(conf, "compare", "verdicts-d7.lab.test", "drupal-7.101-c")
    assert r.returncode == 0
    assert "pathauto" in r.stdout and "7006 → 7005" in r.stdout and "absent-disabled" in r.stdout
    assert not re.search(r"\btoken\b", r.stdout)  # 'same' rows only with --all (entity_token is an upgrade)
    assert r.stdout.rstrip().endswith("selectable: no — 1 module would lose its schema (error)")
    assert re.search(r"\btoken\b", qm(conf, "compare", "verdicts-d7.lab.test", "drupal-7.101-c", "--all").stdout)
    r = qm(conf, "compare", "cluster-d7.lab.test", "drupal-7.98-b")
    assert r.stdout.rstrip().endswith("selectable: yes")


# --- bad input and broken databases -------------------------------------------------------------


def test_unknown_site_and_platform(conf: Path) -> None:
    line = refused(conf, "targets", "clustr-d7.lab.test")
    assert line.startswith("qm-tui: no site 'clustr-d7.lab.test' in the hostmaster; did you mean: ")
    assert "cluster-d7.lab.test" in line
    line = refused(conf, "compare", "nope.lab.test", "drupal-7.98-b")
    assert "no site 'nope.lab.test'" in line
    line = refused(conf, "compare", "cluster-d7.lab.test", "drupal-7.98")
    assert line.startswith("qm-tui: no platform 'drupal-7.98' in the hostmaster; did you mean: ")
    assert "drupal-7.98-b" in line
    assert "did you mean: drupal-7.97-a" in refused(conf, "sites", "--platform", "drupal-7.97")
    assert "no platform '@platform_nothing'" in refused(conf, "compare", "cluster-d7.lab.test", "@platform_nothing")
    assert "no platform '999999'" in refused(conf, "compare", "cluster-d7.lab.test", "999999")


def _conf_for(tmp_path: Path, accounts: HostmasterAccounts, **changes: Any) -> Path:
    return write_config(tmp_path / "config.yaml", replace(accounts.ro, **changes))


@pytest.mark.parametrize("cmd", [["sites"], ["platforms"], ["targets", "cluster-d7.lab.test"],
                                 ["compare", "cluster-d7.lab.test", "drupal-7.98-b"], ["info"]])
def test_unreachable_database(tmp_path: Path, accounts: HostmasterAccounts, cmd: list[str]) -> None:
    conf = _conf_for(tmp_path, accounts, port=1)
    line = refused(conf, *cmd)
    assert line == (f"qm-tui: hostmaster DB 127.0.0.1:1 (user {accounts.ro.user}, database {accounts.database}): "
                    "unreachable (Connection refused)")


def test_login_refused(tmp_path: Path, accounts: HostmasterAccounts) -> None:
    conf = _conf_for(tmp_path, accounts, password="not-the-password")
    line = refused(conf, "sites", "--json")
    assert line == (f"qm-tui: hostmaster DB {accounts.ro.host}:{accounts.ro.port} (user {accounts.ro.user}, "
                    f"database {accounts.database}): login refused (access denied)")


def test_not_a_hostmaster(tmp_path: Path, accounts: HostmasterAccounts) -> None:
    with side_database(accounts, "nothosting") as creds:
        admin_query(f"CREATE TABLE {ident(creds.name)}.node (nid INT PRIMARY KEY, vid INT, type VARCHAR(32), "
                    "title VARCHAR(255))")
        conf = write_config(tmp_path / "config.yaml", creds)
        for cmd in (["sites"], ["info", "--json"], ["targets", "cluster-d7.lab.test"]):
            line = refused(conf, *cmd)
            assert line.endswith(f"(user {creds.user}, database {creds.name}): table hosting_context is missing; "
                                 "is this an Aegir hostmaster database?")


def test_aegir2_schema_is_detected_and_read(tmp_path: Path, accounts: HostmasterAccounts, world: World) -> None:
    """A copy with Drupal 6's node_revisions and Aegir 2's hosting_server (no status/verified/human_name)."""
    with side_database(accounts, "aegir2", copy_from=accounts.database) as creds:
        db = ident(creds.name)
        admin_query(f"RENAME TABLE {db}.node_revision TO {db}.node_revisions")
        admin_query(f"ALTER TABLE {db}.hosting_server DROP COLUMN status, DROP COLUMN verified, "
                    "DROP COLUMN human_name")
        conf = write_config(tmp_path / "config.yaml", creds)
        info = ok_json(conf, "info")
        assert (info["hostmaster"]["schema"], info["hostmaster"]["schema_detail"]) == (
            "aegir2", "aegir2 (Drupal 6 hostmaster: node_revisions)")
        r = qm(conf, "info")
        assert r.returncode == 0 and "aegir2 (Drupal 6 hostmaster: node_revisions)" in r.stdout
        sites = ok_json(conf, "sites")
        assert len(sites) == sum(1 for s in world.sites if s.status != -2)
        t = ok_json(conf, "targets", "cluster-d7.lab.test")
        assert [x["platform"] for x in t if x["selectable"]] == ["drupal-7.98-b"]
        # Neither revision table: refused by name.
        admin_query(f"RENAME TABLE {db}.node_revisions TO {db}.node_revisions_gone")
        line = refused(conf, "sites")
        assert "neither node_revision (Aegir 3) nor node_revisions (Aegir 2) exists" in line


def test_info(conf: Path, accounts: HostmasterAccounts, world: World) -> None:
    info = ok_json(conf, "info")
    assert set(info) == {"qm_tui", "config", "hostmaster", "master_server", "counts"}
    hm = info["hostmaster"]
    assert set(hm) == {"where", "user", "database", "server_version", "schema", "schema_detail"}
    assert (hm["schema"], hm["schema_detail"]) == ("aegir3", "aegir3 (Drupal 7 hostmaster: node_revision)")
    assert (hm["user"], hm["database"]) == (accounts.ro.user, accounts.database)
    assert "MariaDB" in hm["server_version"]
    ms = info["master_server"]
    assert ms == {"name": "aegir.lab.test", "nid": world.server("aegir.lab.test").nid, "context": "server_master"}
    c = info["counts"]
    assert c["sites"] == {"enabled": sum(s.status == 1 for s in world.sites), "queued": 1, "disabled": 1,
                          "deleted": 1}
    assert sum(c["platforms"].values()) == len(world.platforms)
    assert c["servers"] == len(world.servers) and c["packages"] == len(world.packages)
    assert c["package_instances"] == len(world.instances)
    r = qm(conf, "info")
    assert r.returncode == 0
    assert "schema         aegir3 (Drupal 7 hostmaster: node_revision)" in r.stdout
    assert "master server  aegir.lab.test (node" in r.stdout


def test_info_flags_an_unknown_master(tmp_path: Path, accounts: HostmasterAccounts) -> None:
    conf = write_config(tmp_path / "config.yaml", accounts.ro, server="master.example.org")
    assert ok_json(conf, "info")["master_server"] == {"name": "master.example.org", "nid": None, "context": None}
    assert "master.example.org: NOT FOUND" in qm(conf, "info").stdout
