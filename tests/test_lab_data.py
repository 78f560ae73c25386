"""The lab's data: hostmaster DB, per-site DBs and Aegir trees built from the seed scenario.

Real MariaDB (the lab admin of scripts/install-system.sh, else root on 127.0.0.1:3306); every database and account
uses a fresh ``qmt<hex>_`` prefix and is dropped at the end, also on failure. The checks look at
raw facts (SQL, files), not at the product's comparison code.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from qm_lab.hostmaster_db import (
    AdminParams,
    HostmasterAccounts,
    create_hostmaster,
    drop_hostmaster,
    drop_prefix,
    ident,
    version_code,
    world_rows,
)
from qm_lab.scenario import build_lab_world, build_scale_world, scale_instance_count
from qm_lab.site_db import create_site_dbs, drop_site_dbs, installed_sites
from qm_lab.trees import TreeManifest, build_trees
from qm_lab.world import DbCreds, World
from qm_tui.engine.phpfiles import parse_alias, parse_drushrc

ADMIN = AdminParams.discover()
HOSTS = ("aegir.lab.test", "web1.lab.test", "web2.lab.test", "web3.lab.test", "web4.lab.test")
M = "aegir.lab.test"


@dataclass
class Lab:
    prefix: str
    world: World
    hm: HostmasterAccounts
    site_creds: dict[int, DbCreds]
    roots: dict[str, Path]
    gluster: Path
    manifest: TreeManifest
    owned: bool

    def q(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        conn = pymysql.connect(host=self.hm.ro.host, port=self.hm.ro.port, user=self.hm.ro.user,
                               password=self.hm.ro.password, database=self.hm.database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def nid(self, title: str, type_: str) -> int:
        rows = self.q("SELECT nid FROM node WHERE title = %s AND type = %s", (title, type_))
        assert len(rows) == 1, (title, rows)
        return int(rows[0][0])

    def site_pkg(self, site: str, short: str) -> tuple[str, int, int] | None:
        rows = self.q("SELECT i.version, i.schema_version, i.status FROM hosting_package_instance i "
                      "JOIN hosting_package p ON p.nid = i.package_id WHERE i.rid = %s AND p.short_name = %s "
                      "AND i.platform <> -1", (self.nid(site, "site"), short))
        return rows[0] if rows else None

    def target_pkg(self, platform: str, profile: str, short: str) -> tuple[str, int, int] | None:
        iid = self.profile_iid(platform, profile)
        assert iid is not None
        rows = self.q("SELECT i.version, i.schema_version, i.status FROM hosting_package_instance i "
                      "JOIN hosting_package p ON p.nid = i.package_id WHERE i.rid = %s AND p.short_name = %s",
                      (iid, short))
        return rows[0] if rows else None

    def profile_iid(self, platform: str, profile: str) -> int | None:
        rows = self.q("SELECT i.iid FROM hosting_package_instance i JOIN hosting_package p ON p.nid = i.package_id "
                      "JOIN node r ON r.nid = i.rid AND r.type = 'platform' "
                      "WHERE r.nid = %s AND p.package_type = 'profile' AND p.short_name = %s",
                      (self.nid(platform, "platform"), profile))
        return int(rows[0][0]) if rows else None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    try:
        ADMIN.connect().close()
    except pymysql.err.MySQLError as exc:
        pytest.skip(f"MariaDB not reachable at {ADMIN.host}:{ADMIN.port} as root: {exc}")
    prefix = f"qmt{secrets.token_hex(4)}_"
    world = build_lab_world(prefix)
    base = tmp_path_factory.mktemp("lab-trees")
    try:
        hm = create_hostmaster(ADMIN, f"{prefix}hostmaster", world)
        creds = create_site_dbs(ADMIN, world)
        roots = {h: base / h for h in HOSTS}
        owner = None
        try:
            pw = pwd.getpwnam("aegir")
            owner = (pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass
        web_gid = 33 if owner else None
        man = build_trees(world, roots, shared_roots={"/srv/gluster": base / "gluster"}, site_creds=creds,
                          hostmaster_creds=hm.rw, owner=owner, web_gid=web_gid)
        yield Lab(prefix, world, hm, creds, roots, base / "gluster", man, owner is not None)
    finally:
        drop_site_dbs(ADMIN, prefix, [s.nid for s in world.sites])
        drop_hostmaster(ADMIN, f"{prefix}hostmaster", prefix)
        drop_prefix(ADMIN, prefix)  # anything a half-failed step left behind


# --- schema -------------------------------------------------------------------------------------


def test_schema_tables_columns_and_indexes(lab: Lab) -> None:
    cols = dict(lab.q("SELECT table_name, GROUP_CONCAT(column_name ORDER BY ordinal_position) FROM "
                      "information_schema.columns WHERE table_schema = %s GROUP BY table_name", (lab.hm.database,)))
    assert cols["node"] == ("nid,vid,type,language,title,uid,status,created,changed,comment,promote,sticky,tnid,"
                            "translate")
    assert cols["node_revision"] == "nid,vid,uid,title,log,timestamp,status,comment,promote,sticky"
    assert cols["hosting_package_instance"] == ("iid,rid,package_id,filename,schema_version,version,version_code,"
                                                "status,platform")
    for t in ("hosting_context", "hosting_site", "hosting_site_alias", "hosting_site_backups", "hosting_platform",
              "hosting_platform_client_access", "hosting_server", "hosting_ip_addresses", "hosting_service",
              "hosting_web_cluster", "hosting_web_pack", "hosting_db_server", "hosting_client", "hosting_client_user",
              "hosting_package", "hosting_package_languages", "hosting_task", "hosting_task_arguments",
              "hosting_task_log"):
        assert t in cols, t
    idx = lab.q("SELECT table_name, index_name, GROUP_CONCAT(column_name ORDER BY seq_in_index) FROM "
                "information_schema.statistics WHERE table_schema = %s GROUP BY table_name, index_name",
                (lab.hm.database,))
    idx_set = {(t, i, c) for t, i, c in idx}
    assert ("hosting_package_instance", "hosting_package_rid_idx", "rid") in idx_set
    assert ("hosting_package_instance", "hosting_package_id_idx", "package_id") in idx_set
    assert ("hosting_site", "PRIMARY", "vid") in idx_set
    assert not any(t == "hosting_service" and i == "PRIMARY" for t, i, _ in idx_set)  # no PK, as Aegir
    assert lab.q("SELECT engine, table_collation FROM information_schema.tables WHERE table_schema = %s "
                 "AND table_name = 'node'", (lab.hm.database,)) == [("InnoDB", "utf8mb4_general_ci")]


def test_read_only_account_cannot_write(lab: Lab) -> None:
    with pytest.raises(pymysql.err.OperationalError) as err:
        lab.q("DELETE FROM node")
    assert err.value.args[0] == 1142


def test_identifiers_are_validated() -> None:
    assert ident("qmt1_s12") == "`qmt1_s12`"
    for bad in ("a;b", "a`b", "", "x" * 65, "a b"):
        with pytest.raises(ValueError):
            ident(bad)


@pytest.mark.parametrize(("version", "code"), [
    ("7.59", 75900000500), ("7.x-1.0", 70001000500), ("7.x-1.10", 70001100500), ("7.x-1.0-beta2", 70001000302),
    ("7.x-1.x-dev", 70001000000), ("7.x-1.0+5-dev", 70001000500), ("8.6.15", 80600000500),
    ("8.x-1.5", 80001050500), ("10.1.2", 100000500), ("1.2.3", 10200000500), ("7.0-beta12", 70000000302),
    ("Unknown", 0), ("", 0),
])
def test_version_code_like_aegir(version: str, code: int) -> None:
    assert version_code(version) == code


def test_scenario_is_deterministic() -> None:
    a, b = build_lab_world("qmtx_"), build_lab_world("qmtx_")
    assert world_rows(a) == world_rows(b)
    assert list(a.instances.values()) == list(b.instances.values())
    assert a.rid_collisions() == set()


# --- revisions ----------------------------------------------------------------------------------


def test_multi_revision_nodes_need_the_vid_join(lab: Lab) -> None:
    moved = lab.nid("moved-d7.lab.test", "site")
    by_vid = lab.q("SELECT s.platform FROM node n JOIN hosting_site s ON s.vid = n.vid WHERE n.nid = %s", (moved,))
    by_nid = lab.q("SELECT s.platform FROM node n JOIN hosting_site s ON s.nid = n.nid WHERE n.nid = %s", (moved,))
    assert by_vid == [(lab.nid("drupal-7.98-b", "platform"),)]
    assert len(by_nid) == 2 and (lab.nid("drupal-7.97-a", "platform"),) in by_nid
    # A renamed platform: node_revision keeps the old title, the context keeps the registered name.
    c = lab.nid("drupal-7.101-c", "platform")
    assert {t for (t,) in lab.q("SELECT title FROM node_revision WHERE nid = %s", (c,))} == {
        "drupal-7.101-staging", "drupal-7.101-c"}
    assert lab.q("SELECT name FROM hosting_context WHERE nid = %s", (c,)) == [("platform_drupal7101staging",)]
    # The cluster's older revision had two members; a nid-only join returns both revisions' rows.
    cl = lab.nid("webcluster.lab.test", "server")
    cur = lab.q("SELECT w.web_server_nid FROM node n JOIN hosting_web_cluster w ON w.vid = n.vid WHERE n.nid = %s",
                (cl,))
    allrev = lab.q("SELECT web_server_nid FROM hosting_web_cluster WHERE nid = %s", (cl,))
    assert len(cur) == 3 and len(allrev) == 5
    web4 = lab.nid("web4.lab.test", "server")
    assert lab.q("SELECT sv.type FROM node n JOIN hosting_service sv ON sv.vid = n.vid WHERE n.nid = %s",
                 (web4,)) == [("apache",)]
    assert sorted(lab.q("SELECT type FROM hosting_service WHERE nid = %s", (web4,))) == [("apache",), ("nginx",)]
    # Whole tables: exactly one current row per node, more rows without the vid join.
    for table, type_ in (("hosting_site", "site"), ("hosting_platform", "platform"), ("hosting_server", "server"),
                         ("hosting_task", "task")):
        one = lab.q(f"SELECT COUNT(*), COUNT(DISTINCT n.nid) FROM node n JOIN {table} x ON x.vid = n.vid "
                    "WHERE n.type = %s", (type_,))[0]
        many = lab.q(f"SELECT COUNT(*) FROM node n JOIN {table} x ON x.nid = n.nid WHERE n.type = %s", (type_,))[0]
        assert one[0] == one[1], table
        assert many[0] > one[0], table


# --- scenario handles ---------------------------------------------------------------------------


def test_every_verdict_is_in_the_data(lab: Lab) -> None:
    site, target = "verdicts-d7.lab.test", "drupal-7.101-c"
    assert all(lab.world.cases[k].site == site and lab.world.cases[k].target == target
               for k in lab.world.cases if k.startswith("verdict-"))
    c, t = lab.site_pkg(site, "pathauto"), lab.target_pkg(target, "standard", "pathauto")
    assert c and t and c[2] == 1 and t[1] > 0 and c[1] > t[1]  # error
    c = lab.site_pkg(site, "admin_menu")
    assert c and c[2] == 1 and lab.target_pkg(target, "standard", "admin_menu") is None  # missing
    c = lab.site_pkg(site, "features")
    assert c and c[2] == 0 and c[1] > 0 and lab.target_pkg(target, "standard", "features") is None
    c, t = lab.site_pkg(site, "link"), lab.target_pkg(target, "standard", "link")
    assert c and t and (c[0], t[0]) == ("7.x-1.6", "7.x-1.4") and c[1] == t[1]  # downgrade
    c, t = lab.site_pkg(site, "views"), lab.target_pkg(target, "standard", "views")
    assert c and t and (c[0], t[0]) == ("7.x-3.20", "7.x-3.29")  # upgrade by version
    c, t = lab.site_pkg(site, "date"), lab.target_pkg(target, "standard", "date")
    assert c and t and c[0] == t[0] == "7.x-2.x-dev" and c[1] < t[1] and c[2] == 1  # upgrade by schema
    c, t = lab.site_pkg(site, "token"), lab.target_pkg(target, "standard", "token")
    assert c and t and c[:2] == t[:2]  # same
    local = lab.q("SELECT i.platform FROM hosting_package_instance i JOIN hosting_package p ON p.nid = i.package_id "
                  "WHERE i.rid = %s AND p.short_name = 'custom_glue'", (lab.nid(site, "site"),))
    assert local == [(-1,)]


def _platform_row(lab: Lab, title: str) -> tuple[int, int, str]:
    rows = lab.q("SELECT p.status, p.web_server, (SELECT i.version FROM hosting_package_instance i JOIN "
                 "hosting_package k ON k.nid = i.package_id WHERE i.rid = n.nid AND k.package_type = 'platform') "
                 "FROM node n JOIN hosting_platform p ON p.vid = n.vid WHERE n.title = %s AND n.type = 'platform'",
                 (title,))
    assert len(rows) == 1
    return rows[0]


def test_every_target_reason_is_in_the_data(lab: Lab) -> None:
    cases = lab.world.cases
    src = _platform_row(lab, "drupal-7.97-a")
    cd7 = lab.nid("cluster-d7.lab.test", "site")
    assert lab.q("SELECT s.platform, s.status FROM node n JOIN hosting_site s ON s.vid = n.vid WHERE n.nid = %s",
                 (cd7,)) == [(lab.nid(cases["same-platform"].target or "", "platform"), 1)]
    assert _platform_row(lab, cases["platform-locked"].target or "")[0] == -1
    assert _platform_row(lab, cases["platform-deleted"].target or "")[0] == -2
    queued = _platform_row(lab, cases["platform-queued"].target or "")
    assert queued[0] == 0 and queued[2] is None  # never verified: no package rows at all
    assert lab.profile_iid("drupal-7.98-b", "acme_intranet") is None  # profile absent
    assert lab.profile_iid("drupal-7.101-c", "acme_intranet") is not None
    # renamed profile: the D6 site's 'default' has a successor with old_short_name 'default' on the target
    assert lab.site_pkg("legacy-d6.lab.test", "default") == ("6.38", 0, 1)
    assert lab.q("SELECT p.old_short_name FROM hosting_package p WHERE p.short_name = 'standard' "
                 "AND p.package_type = 'profile'") == [("default",)]
    assert lab.profile_iid("drupal-7.98-b", "standard") is not None
    assert lab.target_pkg("drupal-7.98-b", "standard", "admin_menu") is None  # missing (strict)
    assert lab.site_pkg("verdicts-d7.lab.test", "admin_menu") is not None
    for key in ("web-server", "web-server-pack"):
        assert _platform_row(lab, cases[key].target or "")[1] != src[1]
    assert _platform_row(lab, cases["eligible"].target or "")[1] == src[1]
    assert _platform_row(lab, cases["core-7-to-10"].target or "")[2] == "10.2.3"
    assert _platform_row(lab, "drupal-10.1.8")[2] == "10.1.8" and _platform_row(lab, "drupal-9.5.11")[2] == "9.5.11"
    assert _platform_row(lab, "drupal-6.38")[2] == "6.38"
    c, t = lab.site_pkg("newer-d7.lab.test", "views"), lab.target_pkg("drupal-7.97-a", "standard", "views")
    assert c and t and c[2] == 1 and c[1] > t[1] > 0
    hm = lab.q("SELECT p.short_name, c.name FROM node n JOIN hosting_site s ON s.vid = n.vid JOIN hosting_package p "
               "ON p.nid = s.profile LEFT JOIN hosting_context c ON c.nid = n.nid WHERE n.title = 'aegir.lab.test' "
               "AND n.type = 'site'")
    assert hm == [("hostmaster", "hostmaster")]


def test_site_statuses_and_active_tasks(lab: Lab) -> None:
    status = dict(lab.q("SELECT n.title, s.status FROM node n JOIN hosting_site s ON s.vid = n.vid"))
    assert status["disabled-d7.lab.test"] == -1 and status["deleted-d7.lab.test"] == -2
    assert status["queued-d7.lab.test"] == 0 and status["cluster-d7.lab.test"] == 1
    assert lab.q("SELECT COUNT(*) FROM hosting_context WHERE nid = %s",
                 (lab.nid("deleted-d7.lab.test", "site"),)) == [(0,)]
    active = lab.q("SELECT r.title, t.task_type, t.task_status FROM node n JOIN hosting_task t ON t.vid = n.vid "
                   "JOIN node r ON r.nid = t.rid WHERE n.type = 'task' AND t.task_status IN (0, -1) "
                   "AND r.type = 'site' AND r.title LIKE 'task%%'")
    assert sorted(active) == [("taskp-d7.lab.test", "verify", -1), ("taskq-d7.lab.test", "backup", 0)]
    assert lab.world.rid_collisions() == set()


# --- site databases -----------------------------------------------------------------------------


def _site_conn(creds: dict[str, Any]) -> pymysql.connections.Connection:
    return pymysql.connect(host=creds["db_host"], port=int(creds["db_port"]), user=creds["db_user"],
                           password=creds["db_passwd"], database=creds["db_name"])


def test_site_dbs_match_drushrc_and_hostmaster(lab: Lab) -> None:
    sites = installed_sites(lab.world)
    assert {s.nid for s in sites} == set(lab.site_creds)
    for s in sites:
        p = lab.world.platform(lab.world.node(s.platform).title)
        drushrc = parse_drushrc((lab.roots[M] / p.publish_path.removeprefix("/var/aegir/") / "sites" / s.uri
                                 / "drushrc.php").read_text())
        assert drushrc["db_name"] == s.db_name == f"{lab.prefix}s{s.nid}"
        conn = _site_conn(drushrc)  # the site's own user over TCP
        try:
            with conn.cursor() as cur:
                if p.major >= 8:
                    cur.execute("SELECT name, value FROM key_value WHERE collection = 'system.schema'")
                    schema = {k: int(v.decode().strip("i:;")) for k, v in cur.fetchall()}
                    cur.execute("SELECT data FROM config WHERE name = 'core.extension'")
                    assert b'"profile"' in cur.fetchone()[0]
                else:
                    cur.execute("SELECT name, schema_version, status FROM `system` WHERE type = 'module'")
                    rows = cur.fetchall()
                    schema = {k: v for k, v, st in rows if v >= 0}
                    assert any(st == 0 for _, _, st in rows)  # disabled modules are listed too
                    cur.execute("SELECT value FROM variable WHERE name = %s",
                                ("site_offline" if p.major == 6 else "maintenance_mode",))
                    want = (b's:1:"1";' if p.major == 6 else b"i:1;") if s.maintenance else (
                        b's:1:"0";' if p.major == 6 else b"i:0;")
                    assert cur.fetchone() == (want,)
                cur.execute("SELECT uri FROM file_managed")
                uris = {u for (u,) in cur.fetchall()}
        finally:
            conn.close()
        hm = dict(lab.q("SELECT p.short_name, i.schema_version FROM hosting_package_instance i JOIN hosting_package p "
                        "ON p.nid = i.package_id WHERE i.rid = %s AND i.status = 1 AND p.package_type = 'module'",
                        (s.nid,)))
        for name, value in hm.items():
            assert schema.get(name) == value, (s.uri, name)
        assert "public://documents/annual report 2023.pdf" in uris and "private://invoices/invoice-0001.pdf" in uris


# --- trees --------------------------------------------------------------------------------------


def _h(lab: Lab, host: str, path: str) -> Path:
    return lab.roots[host] / path.removeprefix("/var/aegir/")


def test_trees_layout(lab: Lab) -> None:
    w = lab.world
    a = "/var/aegir/platforms/drupal-7.97-a"
    assert "define('VERSION', '7.97');" in _h(lab, "web1.lab.test", f"{a}/includes/bootstrap.inc").read_text()
    assert "const VERSION = '10.2.3';" in _h(lab, "web4.lab.test",
                                             "/var/aegir/platforms/drupal-10.2.3/core/lib/Drupal.php").read_text()
    info = _h(lab, "web1.lab.test", f"{a}/sites/all/modules/views/views.info").read_text()
    assert 'version = "7.x-3.20"' in info and "core = 7.x" in info
    # .install: the highest update N is what the hostmaster recorded for the platform
    text = _h(lab, "web2.lab.test", f"{a}/sites/all/modules/pathauto/pathauto.install").read_text()
    n = max(int(m) for m in re.findall(r"function\s*&?[a-zA-Z0-9_]+_update_([0-9]+)\s*\(", text))
    rows = lab.q("SELECT i.schema_version FROM hosting_package_instance i JOIN hosting_package p ON p.nid = "
                 "i.package_id WHERE i.rid = %s AND p.short_name = 'pathauto'", (lab.nid("drupal-7.97-a", "platform"),))
    assert rows == [(n,)]
    # fronts: cluster platforms on web1-3, not on web4; pack on web1+web2 only; master has everything
    assert _h(lab, "web3.lab.test", a).is_dir() and not _h(lab, "web4.lab.test", a).exists()
    pack = "/var/aegir/platforms/drupal-7.98-pack"
    assert _h(lab, "web2.lab.test", pack).is_dir() and not _h(lab, "web3.lab.test", pack).exists()
    for p in w.platforms:
        assert _h(lab, M, p.publish_path).is_dir() == (p.status != -2), p.title
    # site dirs: live files on fronts, stale on the master, bytes names, gluster symlink
    sd = f"{a}/sites/cluster-d7.lab.test"
    front_files = _h(lab, "web1.lab.test", f"{sd}/files")
    assert (front_files / "documents/annual report 2023.pdf").is_file()
    assert os.path.isfile(os.fsencode(front_files) + b"/documents/caf\xe9-menu.txt")
    assert (front_files / "inline/new-upload.docx").is_file()
    # provision's cluster model: the master's copy is authoritative (every verify pushes it), so equal
    assert (_h(lab, M, f"{sd}/files") / "inline/new-upload.docx").is_file()
    assert (front_files / "pictures/picture-1.png").read_bytes() == (
        _h(lab, M, f"{sd}/files") / "pictures/picture-1.png").read_bytes()
    # a single remote server is authoritative for its files: the master's copy is what it last fetched
    w4 = "/var/aegir/platforms/drupal-10.1.8/sites/web4-d10.lab.test/files"
    assert (_h(lab, "web4.lab.test", w4) / "inline/new-upload.docx").is_file()
    assert not (_h(lab, M, w4) / "inline/new-upload.docx").exists()
    live, stale = (_h(lab, "web4.lab.test", w4) / "pictures/picture-1.png").read_bytes(), (
        _h(lab, M, w4) / "pictures/picture-1.png").read_bytes()
    assert len(live) == len(stale) and live != stale
    assert (_h(lab, "web1.lab.test", f"{sd}/private/temp")).is_dir()
    assert (_h(lab, "web1.lab.test", f"{sd}/modules/custom_glue/custom_glue.install")).is_file()
    gl = _h(lab, "web2.lab.test", f"{a}/sites/gluster-d7.lab.test/files")
    assert gl.is_symlink() and os.readlink(gl) == "/srv/gluster/gluster-d7.lab.test/files"
    assert (lab.gluster / "gluster-d7.lab.test/files/documents/annual report 2023.pdf").is_file()
    settings = _h(lab, "web1.lab.test", f"{sd}/settings.php")
    assert stat.S_IMODE(settings.stat().st_mode) == 0o440
    if os.geteuid() == 0 and lab.owned:
        assert settings.stat().st_gid == 33 and settings.stat().st_uid == pwd.getpwnam("aegir").pw_uid
    vhost = "config/server_web1labtest/apache/vhost.d/cluster-d7.lab.test"
    assert (lab.roots["web1.lab.test"] / vhost).is_file() and (lab.roots[M] / vhost).is_file()
    assert not (lab.roots["web2.lab.test"] / vhost).exists()
    client_link = lab.roots[M] / "clients/acme/cluster-d7.lab.test"
    assert client_link.is_symlink() and os.readlink(client_link) == sd
    # deleted/queued sites have no dir; the big site has its bulk files
    assert not _h(lab, M, f"{a}/sites/deleted-d7.lab.test").exists()
    assert not _h(lab, M, f"{a}/sites/queued-d7.lab.test").exists()
    assert len(list(_h(lab, "web3.lab.test", f"{a}/sites/big-d7.lab.test/files/bulk").rglob("*.bin"))) == 40
    assert f"{a}/sites/cluster-d7.lab.test" in lab.manifest.site_dirs["web2.lab.test"]


def test_aliases_and_hostmaster_drushrc(lab: Lab) -> None:
    drush = lab.roots[M] / ".drush"
    site = parse_alias((drush / "cluster-d7.lab.test.alias.drushrc.php").read_text())["cluster-d7.lab.test"]
    assert site["platform"] == "@platform_drupal797a" and site["root"] == "/var/aegir/platforms/drupal-7.97-a"
    assert site["db_server"] == "@server_dblabtest" and site["context_type"] == "site"
    renamed = parse_alias((drush / "platform_drupal7101staging.alias.drushrc.php").read_text())
    assert renamed["platform_drupal7101staging"]["root"] == "/var/aegir/platforms/drupal-7.101-c"
    cluster = parse_alias((drush / "server_webclusterlabtest.alias.drushrc.php").read_text())
    assert cluster["server_webclusterlabtest"]["cluster_web_servers"] == [
        "@server_web1labtest", "@server_web2labtest", "@server_web3labtest"]
    pack = parse_alias((drush / "server_webpacklabtest.alias.drushrc.php").read_text())["server_webpacklabtest"]
    assert pack["master_web_servers"] == ["@server_web1labtest"]
    assert pack["slave_web_servers"] == ["@server_web2labtest"]
    assert (drush / "hostmaster.alias.drushrc.php").is_file()
    assert not (drush / "deleted-d7.lab.test.alias.drushrc.php").exists()
    assert not any(any((lab.roots[h] / ".drush").glob("*.php")) for h in HOSTS if h != M)
    rc = parse_drushrc((lab.roots[M] / "hostmaster-7.x-3.x/sites/aegir.lab.test/drushrc.php").read_text())
    conn = _site_conn(rc)  # the read-write hostmaster account
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM node")
            assert cur.fetchone()[0] == len(list(lab.world.nodes()))
    finally:
        conn.close()
    assert rc["db_user"] == lab.hm.rw.user


# --- scale --------------------------------------------------------------------------------------


def test_scale_world_small_load() -> None:
    assert scale_instance_count(10_000, 200, 150) > 1_000_000  # the benchmark's default size
    try:
        ADMIN.connect().close()
    except pymysql.err.MySQLError as exc:
        pytest.skip(f"MariaDB not reachable: {exc}")
    world = build_scale_world(n_sites=200, n_platforms=20, modules_per_site=150, seed=7)
    assert len(world.instances) == scale_instance_count(200, 20, 150)
    prefix = f"qmt{secrets.token_hex(4)}_"
    try:
        hm = create_hostmaster(ADMIN, f"{prefix}hostmaster", world)
        conn = ADMIN.connect(hm.database)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM hosting_package_instance")
                assert cur.fetchone()[0] == len(world.instances)
                cur.execute("SELECT COUNT(*) FROM hosting_package_instance i JOIN node n ON n.nid = i.rid "
                            "AND n.type = 'site'")
                assert cur.fetchone()[0] == 200 * 150
                cur.execute("SHOW INDEX FROM hosting_package_instance WHERE key_name LIKE 'hosting_package_%%'")
                assert len(cur.fetchall()) == 2
        finally:
            conn.close()
    finally:
        drop_prefix(ADMIN, prefix)
