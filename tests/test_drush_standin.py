"""The drush stand-in against a throwaway Aegir tree and real MariaDB databases.

Every test builds its own aegir root in tmp_path (aliases, platforms, site dirs) and its own databases
(random ``qmt<hex>_`` prefix, dropped even on failure), then runs the installed ``drush`` shim as a
subprocess with HOME / QM_STANDIN_AEGIR_ROOT pointing at that root.

Remote web servers: rsync is given a fake ssh (QM_STANDIN_RSYNC_RSH) that runs the receiving rsync
locally in ``<remotes>/<host>/`` instead of ``/``: rsync itself, with provision's exact options,
decides what is copied and what ``--delete`` removes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest
from hostmaster_fixture import ADMIN, Unreachable, check_admin

from qm_lab import drush_phpser as ser
from qm_lab.drush_env import conf_path, read_drushrc, settings_credentials
from qm_lab.drush_standin import install_standin, parse_argv
from qm_tui.engine import phpfiles


def _admin_conn() -> pymysql.connections.Connection:
    """The lab admin (scripts/install-system.sh's account, else root): a fresh Debian's root has no TCP login."""
    return ADMIN.connect()


try:
    check_admin()
    NO_DB = ""
except Unreachable as exc:
    NO_DB = str(exc)


_LEVEL = re.compile(r"\s*\[(error|success|ok|notice|warning|cancel)\]\s*$")


def msgs(r: subprocess.CompletedProcess[str]) -> str:
    """drush's stderr unwrapped: level tags dropped, the 69-column wrapping joined back."""
    return " ".join(" ".join(_LEVEL.sub("", line) for line in r.stderr.splitlines()).split())

D7_TABLES = [
    "CREATE TABLE `system` (filename VARCHAR(255) NOT NULL DEFAULT '', name VARCHAR(255) NOT NULL DEFAULT '', "
    "type VARCHAR(12) NOT NULL DEFAULT '', owner VARCHAR(255) NOT NULL DEFAULT '', status INT NOT NULL DEFAULT 0, "
    "bootstrap INT NOT NULL DEFAULT 0, schema_version SMALLINT NOT NULL DEFAULT -1, weight INT NOT NULL DEFAULT 0, "
    "info BLOB, PRIMARY KEY (filename))",
    "CREATE TABLE variable (name VARCHAR(128) NOT NULL DEFAULT '', value LONGBLOB NOT NULL, PRIMARY KEY (name))",
    *(f"CREATE TABLE {t} (cid VARCHAR(255) NOT NULL DEFAULT '', data LONGBLOB, expire INT NOT NULL DEFAULT 0, "
      "created INT NOT NULL DEFAULT 0, serialized SMALLINT NOT NULL DEFAULT 0, PRIMARY KEY (cid))"
      for t in ("cache", "cache_bootstrap", "cache_form")),
    "CREATE TABLE node (nid INT UNSIGNED NOT NULL AUTO_INCREMENT, title VARCHAR(255), PRIMARY KEY (nid))",
    "CREATE TABLE file_managed (fid INT UNSIGNED NOT NULL AUTO_INCREMENT, uri VARCHAR(255), PRIMARY KEY (fid))",
]
D10_TABLES = [
    "CREATE TABLE key_value (collection VARCHAR(128) NOT NULL DEFAULT '', name VARCHAR(128) NOT NULL DEFAULT '', "
    "value LONGBLOB NOT NULL, PRIMARY KEY (collection, name))",
    "CREATE TABLE config (collection VARCHAR(255) NOT NULL DEFAULT '', name VARCHAR(255) NOT NULL DEFAULT '', "
    "data LONGBLOB, PRIMARY KEY (collection, name))",
    *(f"CREATE TABLE {t} (cid VARCHAR(255) NOT NULL DEFAULT '', data LONGBLOB, expire INT NOT NULL DEFAULT -1, "
      "created DECIMAL(14,3) NOT NULL DEFAULT 0, serialized SMALLINT NOT NULL DEFAULT 0, tags LONGTEXT, "
      "checksum VARCHAR(255) NOT NULL DEFAULT '', PRIMARY KEY (cid))" for t in ("cache_default", "cache_bootstrap")),
    "CREATE TABLE cachetags (tag VARCHAR(255) NOT NULL DEFAULT '', invalidations INT NOT NULL DEFAULT 0, "
    "PRIMARY KEY (tag))",
    "CREATE TABLE node (nid INT UNSIGNED NOT NULL AUTO_INCREMENT, title VARCHAR(255), PRIMARY KEY (nid))",
    "CREATE TABLE file_managed (fid INT UNSIGNED NOT NULL AUTO_INCREMENT, uri VARCHAR(255), PRIMARY KEY (fid))",
]
HOSTMASTER_TABLES = [
    "CREATE TABLE node (nid INT UNSIGNED NOT NULL AUTO_INCREMENT, vid INT UNSIGNED NOT NULL DEFAULT 0, "
    "type VARCHAR(32) NOT NULL DEFAULT '', language VARCHAR(12) NOT NULL DEFAULT '', title VARCHAR(255) NOT NULL "
    "DEFAULT '', uid INT NOT NULL DEFAULT 0, status INT NOT NULL DEFAULT 1, created INT NOT NULL DEFAULT 0, "
    "changed INT NOT NULL DEFAULT 0, comment INT NOT NULL DEFAULT 0, promote INT NOT NULL DEFAULT 0, sticky INT "
    "NOT NULL DEFAULT 0, tnid INT UNSIGNED NOT NULL DEFAULT 0, translate INT NOT NULL DEFAULT 0, PRIMARY KEY (nid))"
    " ENGINE=InnoDB",
    "CREATE TABLE node_revision (nid INT UNSIGNED NOT NULL DEFAULT 0, vid INT UNSIGNED NOT NULL AUTO_INCREMENT, "
    "uid INT NOT NULL DEFAULT 0, title VARCHAR(255) NOT NULL DEFAULT '', log LONGTEXT NOT NULL, timestamp INT NOT "
    "NULL DEFAULT 0, status INT NOT NULL DEFAULT 1, comment INT NOT NULL DEFAULT 0, promote INT NOT NULL DEFAULT 0,"
    " sticky INT NOT NULL DEFAULT 0, PRIMARY KEY (vid)) ENGINE=InnoDB",
    "CREATE TABLE hosting_context (nid INT UNSIGNED NOT NULL DEFAULT 0, name VARCHAR(235) NOT NULL, "
    "PRIMARY KEY (nid), UNIQUE KEY name (name)) ENGINE=InnoDB",
    "CREATE TABLE hosting_site (vid INT UNSIGNED NOT NULL DEFAULT 0, nid INT UNSIGNED NOT NULL DEFAULT 0, client INT "
    "NOT NULL DEFAULT 0, db_server INT NOT NULL DEFAULT 0, db_name VARCHAR(64) NULL DEFAULT '', platform INT NOT "
    "NULL DEFAULT 0, profile INT NOT NULL DEFAULT 0, language VARCHAR(10) NOT NULL DEFAULT 'en', last_cron INT NULL,"
    " cron_key VARCHAR(80) NULL DEFAULT '', verified INT NOT NULL DEFAULT 0, status TINYINT NOT NULL DEFAULT 0, "
    "PRIMARY KEY (vid)) ENGINE=InnoDB",
    "CREATE TABLE hosting_task (vid INT UNSIGNED NOT NULL DEFAULT 0, nid INT UNSIGNED NOT NULL DEFAULT 0, task_type "
    "LONGTEXT NULL, rid INT NOT NULL DEFAULT 0, task_status INT NULL, executed INT NULL, delta INT NULL, "
    "PRIMARY KEY (vid)) ENGINE=InnoDB",
]


@dataclass
class Lab:
    root: Path  # the aegir root (HOME)
    remotes: Path  # <remotes>/<host>/ is that host's '/'
    drush: Path
    prefix: str
    env: dict[str, str]
    dbs: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> drushrc credentials
    users: list[str] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.drush), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, **kw)

    def q(self, key: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = _admin_conn()
        with conn, conn.cursor() as cur:
            cur.execute(f"USE `{self.dbs[key]['db_name']}`")
            cur.execute(sql, params)
            return list(cur.fetchall())

    def alias(self, name: str) -> dict[str, Any]:
        return phpfiles.parse_alias((self.root / ".drush" / f"{name}.alias.drushrc.php").read_text())[name]

    def write_alias(self, name: str, values: dict[str, Any]) -> None:
        path = self.root / ".drush" / f"{name}.alias.drushrc.php"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o640)
        path.write_text(phpfiles.render_alias(name, values))

    def make_db(self, key: str, tables: list[str]) -> dict[str, Any]:
        name, user, pw = f"{self.prefix}{key}", f"{self.prefix}u_{key}", secrets.token_hex(12)
        conn = _admin_conn()
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
            self.users.append(user)
            cur.execute(f"CREATE USER '{user}'@'{ADMIN.host}' IDENTIFIED BY %s", (pw,))
            cur.execute(f"GRANT ALL ON `{name}`.* TO '{user}'@'{ADMIN.host}'")
            cur.execute(f"USE `{name}`")
            for sql in tables:
                cur.execute(sql)
        creds = {"db_type": "mysql", "db_host": ADMIN.host, "db_port": str(ADMIN.port), "db_name": name,
                 "db_user": user, "db_passwd": pw}
        self.dbs[key] = creds
        return creds

    def site(self, uri: str, platform: str, creds: dict[str, Any], *, files: bool = True, **extra: Any) -> Path:
        root = Path(self.alias(platform)["root"])
        site_dir = root / "sites" / uri
        (site_dir / "private/files").mkdir(parents=True, exist_ok=True)
        (site_dir / "settings.php").write_text("<?php\n# placeholder until provision-verify\n")
        rc = {**creds, "installed": True, "uri": uri, "site_path": str(site_dir), "platform": "@" + platform,
              "profile": "standard"}
        (site_dir / "drushrc.php").write_text(phpfiles.render_drushrc(rc))
        if files:
            (site_dir / "files").mkdir(exist_ok=True)
            (site_dir / "files/master-copy.txt").write_text("stale master copy\n")
        self.write_alias(uri, {
            "context_type": "site", "platform": "@" + platform, "server": "@server_master",
            "db_server": "@server_dbtest", "uri": uri, "root": str(root), "site_path": str(site_dir),
            "site_enabled": True, "language": "en", "client_name": "admin", "profile": "standard",
            "aliases": [], "redirection": False, **extra,
        })
        return site_dir


def _platform_d7(root: Path) -> None:
    files = {
        "index.php": "<?php\n",
        "includes/bootstrap.inc": "<?php\ndefine('VERSION', '7.98');\n",
        "modules/system/system.info": "name = System\ncore = 7.x\n",
        "modules/system/system.install": "<?php\nfunction system_update_7080() {}\n",
        "profiles/standard/standard.info": "name = Standard\ncore = 7.x\n",
        "sites/all/modules/pathauto/pathauto.info": "name = Pathauto\ncore = 7.x\n",
        "sites/all/modules/pathauto/pathauto.install": (
            "<?php\nfunction pathauto_update_7005() {}\n/**\n * Remove the old tokens.\n */\n"
            "function pathauto_update_7006() {}\n"),
        "sites/all/modules/views/views.info": "name = Views\ncore = 7.x\n",
        "sites/all/modules/views/views.install": (
            "<?php\nfunction views_update_7300() {}\nfunction views_update_7301() {}\n"
            "function views_update_7302() {}\n"),
        "sites/all/modules/disabledmod/disabledmod.info": "name = Off\ncore = 7.x\n",
        "sites/all/modules/disabledmod/disabledmod.install": "<?php\nfunction disabledmod_update_7001() {}\n",
        "sites/default/default.settings.php": "<?php\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _platform_d10(root: Path) -> None:
    files = {
        "index.php": "<?php\n",
        "core/lib/Drupal.php": "<?php\nclass Drupal {\n  const VERSION = '10.2.3';\n}\n",
        "core/modules/system/system.info.yml": "name: System\n",
        "core/modules/system/system.install": "<?php\nfunction system_update_10201() {}\n",
        "modules/contrib/token/token.info.yml": "name: Token\n",
        "modules/contrib/token/token.install": (
            "<?php\nfunction token_update_8001() {}\nfunction token_update_8002() {}\n"),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _seed_d7(lab: Lab, key: str) -> None:
    rows = [("modules/system/system.module", "system", 1, 7080),
            ("sites/all/modules/pathauto/pathauto.module", "pathauto", 1, 7005),
            ("sites/all/modules/views/views.module", "views", 1, 7300),
            ("sites/all/modules/disabledmod/disabledmod.module", "disabledmod", 0, 7000),
            ("profiles/standard/standard.profile", "standard", 1, 0)]
    for fn, name, status, schema in rows:
        lab.q(key, "INSERT INTO `system` (filename, name, type, status, schema_version) VALUES (%s,%s,'module',%s,%s)",
              (fn, name, status, schema))
    lab.q(key, "INSERT INTO variable VALUES ('maintenance_mode', 'i:0;'), ('site_name', 's:4:\"Test\";')")
    for t in ("cache", "cache_bootstrap", "cache_form"):
        lab.q(key, f"INSERT INTO {t} (cid, data) VALUES ('variables', 'x'), ('other', 'y')")


def _seed_d10(lab: Lab, key: str) -> None:
    ext = ser.serialize({"module": {"system": 0, "token": 0}, "theme": {"olivero": 0}})
    lab.q(key, "INSERT INTO config (collection, name, data) VALUES ('', 'core.extension', %s)", (ext,))
    lab.q(key, "INSERT INTO key_value VALUES ('system.schema', 'system', 'i:10201;'), "
               "('system.schema', 'token', 'i:8001;')")
    lab.q(key, "INSERT INTO cache_default (cid, data) VALUES ('a', 'x')")


FAKE_SSH = '''import os, shlex, sys
args = sys.argv[1:]
i = 0
while i < len(args) and args[i].startswith("-"):
    i += 2 if args[i] in ("-l", "-o", "-p", "-i", "-F") else 1
host, cmd = args[i], shlex.split(" ".join(args[i + 1:]))
root = os.path.join(os.environ["FAKE_REMOTES"], host)
if not os.path.isdir(root):
    sys.stderr.write(f"ssh: Could not resolve hostname {host}: Name or service not known\\n")
    sys.exit(255)
cmd[-1] = root + "/" + cmd[-1].lstrip("/")
os.execvp(cmd[0], cmd)
'''


@pytest.fixture
def lab(tmp_path: Path) -> Any:
    if NO_DB:
        pytest.skip(NO_DB)
    root, remotes, bin_dir = tmp_path / "aegir", tmp_path / "remotes", tmp_path / "bin"
    (root / ".drush").mkdir(parents=True)
    drush = install_standin(bin_dir, sys.executable)
    (bin_dir / "fake_ssh.py").write_text(FAKE_SSH)
    env = {"HOME": str(root), "QM_STANDIN_AEGIR_ROOT": str(root), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "QM_STANDIN_RSYNC_RSH": f"{sys.executable} {bin_dir / 'fake_ssh.py'}", "FAKE_REMOTES": str(remotes),
           "LC_ALL": "C.UTF-8"}
    lab = Lab(root, remotes, drush, f"qmt{secrets.token_hex(4)}_", env)
    servers = {
        "server_master": {"remote_host": "aegir.lab.test", "http_service_type": "apache", "web_group": "www-data"},
        "server_web1": {"remote_host": "web1.test", "http_service_type": "apache"},
        "server_web2": {"remote_host": "web2.test", "http_service_type": "apache"},
        "server_web4": {"remote_host": "web4.test", "http_service_type": "apache"},
        "server_cluster": {"remote_host": "cluster.test", "http_service_type": "cluster",
                           "cluster_web_servers": ["@server_web1", "@server_web2"]},
        "server_nohost": {"remote_host": "nohost.test", "http_service_type": "apache"},
        "server_dbtest": {"remote_host": "db.test", "db_service_type": "mysql"},
    }
    for name, vals in servers.items():
        lab.write_alias(name, {"context_type": "server", "script_user": "aegir", "aegir_root": str(root), **vals})
    for host in ("web1.test", "web2.test", "web4.test"):
        (remotes / host).mkdir(parents=True)
    platforms = {"platform_d7a": ("d7a", "@server_cluster", _platform_d7),
                 "platform_d7b": ("d7b", "@server_web4", _platform_d7),
                 "platform_d7x": ("d7x", "@server_nohost", _platform_d7),
                 "platform_d10": ("d10", "@server_master", _platform_d10)}
    for name, (dirname, web, build) in platforms.items():
        proot = root / "platforms" / dirname
        build(proot)
        lab.write_alias(name, {"context_type": "platform", "server": "@server_master", "web_server": web,
                               "root": str(proot), "makefile": ""})
    try:
        yield lab
    finally:
        conn = _admin_conn()
        with conn, conn.cursor() as cur:
            for creds in lab.dbs.values():
                cur.execute(f"DROP DATABASE IF EXISTS `{creds['db_name']}`")
            for user in lab.users:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{ADMIN.host}'")


@pytest.fixture
def d7(lab: Lab) -> Lab:
    creds = lab.make_db("s7", D7_TABLES)
    _seed_d7(lab, "s7")
    lab.site("d7.test", "platform_d7a", creds)
    return lab


@pytest.fixture
def d10(lab: Lab) -> Lab:
    creds = lab.make_db("s10", D10_TABLES)
    _seed_d10(lab, "s10")
    lab.site("d10.test", "platform_d10", creds)
    return lab


# --- pure units ---------------------------------------------------------------------------------------


def test_php_serialize_round_trip() -> None:
    value = {"module": {"system": 0, "token": 1}, "list": ["a", "ü"], "n": None, "b": True, "f": 1.5}
    raw = ser.serialize(value)
    assert b's:2:"\xc3\xbc";' in raw  # byte length, as PHP counts it
    assert ser.unserialize(raw) == value
    assert ser.serialize(1) == b"i:1;" and ser.serialize("1") == b's:1:"1";'
    assert ser.unserialize(b'O:8:"stdClass":1:{s:1:"a";i:1;}') == {"a": 1}


def test_value_format_like_drush8() -> None:
    assert ser.drush_value_format("1") == 1  # vset maintenance_mode 1 stores i:1;, not s:1:"1";
    assert ser.drush_value_format("3.5") == 3.5
    assert ser.drush_value_format("TRUE") is True
    assert ser.drush_value_format("abc") == "abc"
    assert ser.drush_value_format("7", "integer") == 7


def test_parse_argv() -> None:
    alias, cmd, args, opts = parse_argv(["@x.test", "vset", "--yes", "maintenance_mode", "1", "-l", "u"])
    assert (alias, cmd, args) == ("@x.test", "vset", ["maintenance_mode", "1"])
    assert opts == {"yes": True, "uri": "u"}
    assert parse_argv(["provision-save", "@s", "--root=/r"])[:3] == (None, "provision-save", ["@s"])


def test_reads_real_aegir_drushrc_and_settings(tmp_path: Path) -> None:
    # provision's drushrc.php ends with code lines ($_SERVER copies, @include_once): skipped, not data.
    rc = tmp_path / "drushrc.php"
    rc.write_text("<?php \n\n$options['db_name'] = 'site1';\n$options['db_passwd'] = 'pw';\n\n# Aegir additions.\n"
                  "$_SERVER['db_name'] = $options['db_name'];\n$_SERVER['db_passwd'] = $options['db_passwd'];\n\n"
                  "# Local non-aegir-generated additions.\n@include_once('/x/sites/a/local.drushrc.php');\n")
    assert read_drushrc(rc) == {"db_name": "site1", "db_passwd": "pw"}
    plain = ("  $databases['default']['default'] = array(\n    'driver' => \"mysql\",\n    'database' => \"db1\",\n"
             "    'username' => \"u1\",\n    'password' => \"p1\",\n"
             "    'host' => \"h\",\n    'port' => \"3307\",\n   );\n")
    assert settings_credentials(plain) == {"db_name": "db1", "db_user": "u1", "db_passwd": "p1", "db_host": "h",
                                           "db_port": "3307"}
    assert settings_credentials("$db_url = 'mysqli://u:p%40ss@h:3306/d6db';")["db_passwd"] == "p@ss"
    assert settings_credentials("  'database' => $_SERVER['db_name'],") is None  # cloaked


def test_conf_path_fallback(tmp_path: Path) -> None:
    (tmp_path / "sites/example.com").mkdir(parents=True)
    assert conf_path(tmp_path, "www.example.com") == tmp_path / "sites/example.com"
    assert conf_path(tmp_path, "other.org") == tmp_path / "sites/default"


def test_install_standin(tmp_path: Path) -> None:
    path = install_standin(tmp_path / "bin", "/usr/bin/python3")
    assert path.stat().st_mode & 0o777 == 0o755
    assert path.read_text().startswith("#!/usr/bin/python3\n")


# --- commands ---------------------------------------------------------------------------------------------


def test_version(lab: Lab) -> None:
    r = lab.run("--version")
    assert r.returncode == 0 and "Drush Version   :  8.4.12" in r.stdout


def test_vset_vget_d7(d7: Lab) -> None:
    r = d7.run("@d7.test", "vset", "--yes", "maintenance_mode", "1")
    assert r.returncode == 0, r.stderr
    assert "maintenance_mode was set to 1." in msgs(r) and "[success]" in r.stderr
    assert d7.q("s7", "SELECT value FROM variable WHERE name='maintenance_mode'") == [(b"i:1;",)]
    assert d7.q("s7", "SELECT cid FROM cache_bootstrap ORDER BY cid") == [("other",)]  # 'variables' cleared
    r = d7.run("@d7.test", "vget", "maintenance_mode", "--format=json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"maintenance_mode": 1}
    assert d7.run("@d7.test", "vget", "maintenance_mode").stdout.strip() == "maintenance_mode: 1"
    assert d7.run("@d7.test", "vset", "--yes", "maintenance_mode", "0").returncode == 0
    assert d7.q("s7", "SELECT value FROM variable WHERE name='maintenance_mode'") == [(b"i:0;",)]
    # site_offline is rewritten to maintenance_mode on D7 (drush_variable_name_adjust)
    assert d7.run("@d7.test", "vset", "--yes", "site_offline", "1").returncode == 0
    assert d7.q("s7", "SELECT value FROM variable WHERE name='maintenance_mode'") == [(b"i:1;",)]


def test_vget_unknown_variable(d7: Lab) -> None:
    r = d7.run("@d7.test", "vget", "no_such_variable_here")
    assert r.returncode == 1 and "No matching variable found." in msgs(r) and "[error]" in r.stderr


def test_vset_prompt_hazard_without_exact(d7: Lab) -> None:
    """maintenance_mode absent, maintenance_mode_message present: drush 8 prompts, and --yes cancels."""
    d7.q("s7", "DELETE FROM variable WHERE name='maintenance_mode'")
    d7.q("s7", "INSERT INTO variable VALUES ('maintenance_mode_message', 's:3:\"Off\";')")
    r = d7.run("@d7.test", "vset", "--yes", "maintenance_mode", "1")
    assert r.returncode == 75 and "Cancelled." in msgs(r)
    assert "maintenance_mode (new variable)" in r.stdout
    assert d7.q("s7", "SELECT name FROM variable WHERE name='maintenance_mode'") == []
    assert d7.run("@d7.test", "vset", "--yes", "--exact", "maintenance_mode", "1").returncode == 0
    assert d7.q("s7", "SELECT value FROM variable WHERE name='maintenance_mode'") == [(b"i:1;",)]


def test_d6_site_offline(lab: Lab) -> None:
    creds = lab.make_db("s6", D7_TABLES)
    lab.q("s6", "INSERT INTO variable VALUES ('site_offline', 's:1:\"1\";')")
    proot = lab.root / "platforms/d6"
    (proot / "modules/system").mkdir(parents=True)
    (proot / "modules/system/system.module").write_text("<?php\ndefine('VERSION', '6.38');\n")
    lab.write_alias("platform_d6", {"context_type": "platform", "web_server": "@server_master", "root": str(proot)})
    lab.site("d6.test", "platform_d6", creds)
    r = lab.run("@d6.test", "vget", "site_offline")
    assert r.returncode == 0 and r.stdout.strip() == "site_offline: '1'"  # the D6 form's string value
    r = lab.run("@d6.test", "vset", "--yes", "maintenance_mode", "0")  # rewritten to site_offline on D6
    assert r.returncode == 0 and "site_offline was set to 0." in msgs(r)
    assert lab.q("s6", "SELECT value FROM variable WHERE name='site_offline'") == [(b"i:0;",)]
    assert "requires Drupal core version 8+" in msgs(lab.run("@d6.test", "state-get", "x"))


def test_state_d10(d10: Lab) -> None:
    r = d10.run("@d10.test", "state-set", "system.maintenance_mode", "1", "--input-format=integer")
    assert r.returncode == 0, r.stderr
    assert d10.q("s10", "SELECT value FROM key_value WHERE collection='state' AND name='system.maintenance_mode'") \
        == [(b"i:1;",)]
    r = d10.run("@d10.test", "state-get", "system.maintenance_mode", "--format=json")
    assert r.returncode == 0 and r.stdout.strip() == "1"
    assert d10.run("@d10.test", "state-get", "no.such.key").stdout.strip() == "null"
    r = d10.run("@d10.test", "vset", "--yes", "maintenance_mode", "1")
    assert r.returncode == 1 and "requires Drupal core version 6 or 7" in msgs(r)


def test_updatedb_d7_applies_pending_and_is_idempotent(d7: Lab) -> None:
    r = d7.run("@d7.test", "updatedb", "--yes")
    assert r.returncode == 0, r.stderr
    versions = dict(d7.q("s7", "SELECT name, schema_version FROM `system`"))
    assert versions == {"system": 7080, "pathauto": 7006, "views": 7302, "disabledmod": 7000, "standard": 0}
    assert " Pathauto  7006  Remove the old tokens." in r.stdout
    assert "Performed update: pathauto_update_7006" in msgs(r) and "Performed update: views_update_7302" in msgs(r)
    assert "Finished performing updates." in msgs(r)
    assert d7.q("s7", "SELECT COUNT(*) FROM cache") == [(0,)] and d7.q("s7", "SELECT COUNT(*) FROM cache_form") \
        == [(2,)]
    assert d7.q("s7", "SELECT value FROM variable WHERE name='maintenance_mode'") == [(b"i:0;",)]  # drush 8: untouched
    r = d7.run("@d7.test", "updb", "-y")
    assert r.returncode == 0 and "No database updates required" in msgs(r)


def test_updatedb_failure_marker_leaves_partial_state(d7: Lab) -> None:
    install = d7.root / "platforms/d7a/sites/all/modules/views/views.install"
    install.write_text(install.read_text() + "// standin: update 7302 fails\n")
    r = d7.run("@d7.test", "updatedb", "--yes")
    assert r.returncode == 1
    assert "views_update_7302" in msgs(r) and "[error]" in r.stderr
    assert "Finished performing updates." not in msgs(r)
    versions = dict(d7.q("s7", "SELECT name, schema_version FROM `system`"))
    assert versions["views"] == 7301 and versions["pathauto"] == 7006  # other modules still ran (drush 8, D7)


def test_updatedb_d10_restores_maintenance_mode(d10: Lab) -> None:
    kv = "SELECT value FROM key_value WHERE collection=%s AND name=%s"
    r = d10.run("@d10.test", "updatedb", "--yes")
    assert r.returncode == 0, r.stderr
    assert "Performing token_update_8002" in msgs(r) and "Cache rebuild complete." in msgs(r)
    assert d10.q("s10", kv, ("system.schema", "token")) == [(b"i:8002;",)]
    assert d10.q("s10", kv, ("state", "system.maintenance_mode")) == [(b"b:0;",)]
    assert d10.q("s10", "SELECT COUNT(*) FROM cache_default") == [(0,)]
    # An update that fails leaves the site in maintenance (the restoring batch operation never runs).
    d10.q("s10", "UPDATE key_value SET value='i:8001;' WHERE collection='system.schema' AND name='token'")
    install = d10.root / "platforms/d10/modules/contrib/token/token.install"
    install.write_text(install.read_text() + "// standin: update 8002 fails\n")
    r = d10.run("@d10.test", "updatedb", "--yes")
    assert r.returncode == 1 and "Update aborted by: token_update_8002" in msgs(r)
    assert d10.q("s10", kv, ("state", "system.maintenance_mode")) == [(b"b:1;",)]
    assert d10.q("s10", kv, ("system.schema", "token")) == [(b"i:8001;",)]


def test_updatedb_bootstrap_failures(d7: Lab) -> None:
    site_dir = d7.root / "platforms/d7a/sites/d7.test"
    (site_dir / "settings.php").rename(site_dir / "settings.php.off")
    r = d7.run("@d7.test", "updatedb", "--yes")
    assert r.returncode == 1 and "Could not find a Drupal settings.php file at ./sites/d7.test/settings.php." \
        in msgs(r)
    assert "Command updatedb needs a higher bootstrap level" in msgs(r)
    (site_dir / "settings.php.off").rename(site_dir / "settings.php")
    rc = phpfiles.parse_drushrc((site_dir / "drushrc.php").read_text())
    (site_dir / "drushrc.php").write_text(phpfiles.render_drushrc({**rc, "db_passwd": "wrong"}))
    r = d7.run("@d7.test", "updatedb", "--yes")
    assert r.returncode == 1 and "Drush was not able to start (bootstrap) the Drupal database." in msgs(r)
    site_dir.rename(site_dir.with_name("gone"))
    r = d7.run("@d7.test", "updatedb", "--yes")
    assert r.returncode == 1 and "./sites/default/settings.php" in msgs(r)  # Drupal's conf_path fallback


def test_cache_clear_and_rebuild(d7: Lab, d10: Lab) -> None:
    r = d7.run("@d7.test", "cache-clear", "all")
    assert r.returncode == 0 and "'all' cache was cleared." in msgs(r)
    assert d7.q("s7", "SELECT COUNT(*) FROM cache") == [(0,)] == d7.q("s7", "SELECT COUNT(*) FROM cache_bootstrap")
    assert d7.q("s7", "SELECT COUNT(*) FROM cache_form") == [(2,)]
    r = d10.run("@d10.test", "cr")
    assert r.returncode == 0 and "Cache rebuild complete." in msgs(r)
    assert d10.q("s10", "SELECT COUNT(*) FROM cache_default") == [(0,)]
    r = d10.run("@d10.test", "cc", "all")
    assert r.returncode == 1 and "deprecated for Drupal 8" in msgs(r)


def test_provision_save(d7: Lab) -> None:
    d7b_root = str(d7.root / "platforms/d7b")
    r = d7.run("provision-save", "@d7.test", "--context_type=site", "--uri=d7.test", "--platform=@platform_d7b",
               f"--root={d7b_root}", "--db_server=@server_dbtest")
    assert r.returncode == 0, r.stderr
    rec = d7.alias("d7.test")
    assert rec["platform"] == "@platform_d7b" and rec["root"] == d7b_root
    assert rec["site_path"] == f"{d7b_root}/sites/d7.test" and rec["client_name"] == "admin"
    assert rec["server"] == "@server_master"
    assert (d7.root / ".drush/d7.test.alias.drushrc.php").stat().st_mode & 0o777 == 0o440
    r = d7.run("provision-save", "@d7.test", "--platform=@platform_nope")
    assert r.returncode == 1 and "Could not find provision alias named: @platform_nope" in msgs(r)


def test_provision_verify_local(d10: Lab) -> None:
    site_dir = d10.root / "platforms/d10/sites/d10.test"
    r = d10.run("@d10.test", "provision-verify")
    assert r.returncode == 0, r.stderr
    settings = site_dir / "settings.php"
    text = settings.read_text()
    assert settings.stat().st_mode & 0o777 == 0o440
    assert "automatically generated by Aegir" in text and "$_SERVER['db_passwd']" in text
    assert d10.dbs["s10"]["db_passwd"] not in text  # cloaked
    vhost = d10.root / "config/server_master/apache/vhost.d/d10.test"
    assert "SetEnv db_name  " + d10.dbs["s10"]["db_name"] in vhost.read_text()
    assert (site_dir / "local.settings.php").is_file() and (site_dir / "private/temp").is_dir()
    assert phpfiles.parse_drushrc((site_dir / "drushrc.php").read_text())["installed"] is True
    assert "Generated config in write(): Drupal settings.php file" in msgs(r)
    assert "Running: rsync" not in msgs(r)  # the master is local: nothing to push


def test_provision_verify_missing_site_dir(d10: Lab) -> None:
    site_dir = d10.root / "platforms/d10/sites/d10.test"
    site_dir.rename(site_dir.with_name("elsewhere"))
    r = d10.run("@d10.test", "provision-verify")
    assert r.returncode == 1 and "does not exist" in msgs(r)
    assert not site_dir.exists()


def _front(lab: Lab, host: str, site_dir: Path) -> Path:
    front = lab.remotes / host / str(site_dir).lstrip("/")
    (front / "files").mkdir(parents=True)
    (front / "files/live.jpg").write_text("live data on the front\n")
    return front


def test_verify_cluster_push_deletes_front_files_missing_on_master(lab: Lab) -> None:
    creds = lab.make_db("s7", D7_TABLES)
    _seed_d7(lab, "s7")
    site_dir = lab.site("c.test", "platform_d7a", creds, files=False)  # master copy purged, as quick migrate does
    fronts = [_front(lab, h, site_dir) for h in ("web1.test", "web2.test")]
    r = lab.run("@c.test", "provision-verify")
    assert r.returncode == 0, r.stderr
    assert "--delete" in msgs(r) and "--exclude=files/*" not in msgs(r)
    for front in fronts:
        assert not (front / "files/live.jpg").exists()  # wiped by rsync --delete
        assert (front / "settings.php").is_file()
        host_root = front.parents[len(site_dir.parts) - 2]
        assert (host_root / str(lab.root).lstrip("/") / "config" / f"server_{host_root.name.split('.')[0]}"
                / "apache/vhost.d/c.test").is_file()
        assert (host_root / str(site_dir.parent.parent).lstrip("/") / "sites/all/modules/views").is_dir()
    assert not (lab.remotes / "web1.test" / str(lab.root).lstrip("/") / "platforms/d7a/sites/default").exists()


def test_verify_single_server_push_keeps_front_files(lab: Lab) -> None:
    creds = lab.make_db("s7", D7_TABLES)
    _seed_d7(lab, "s7")
    site_dir = lab.site("s.test", "platform_d7b", creds, files=False)
    front = _front(lab, "web4.test", site_dir)
    r = lab.run("@s.test", "provision-verify")
    assert r.returncode == 0, r.stderr
    assert "--exclude=files/*" in msgs(r) and "--exclude=private/*" in msgs(r)
    assert (front / "files/live.jpg").read_text() == "live data on the front\n"
    assert (front / "settings.php").is_file()


def test_verify_fails_when_rsync_fails(lab: Lab) -> None:
    creds = lab.make_db("s7", D7_TABLES)
    _seed_d7(lab, "s7")
    lab.site("x.test", "platform_d7x", creds)
    r = lab.run("@x.test", "provision-verify")
    assert r.returncode == 1 and "could not be synced to remote server nohost.test" in msgs(r)


@pytest.fixture
def hostmaster(d7: Lab) -> Lab:
    creds = d7.make_db("hm", HOSTMASTER_TABLES)
    hm_root = d7.root / "hostmaster-7.x-3.x"
    site = d7.site("aegir.lab.test", "platform_d7a", creds)
    d7.write_alias("hostmaster", {**d7.alias("aegir.lab.test"), "root": str(hm_root), "profile": "hostmaster",
                                  "site_path": str(site)})
    for nid, name in ((10, "platform_d7a"), (11, "platform_d7b"), (12, "server_dbtest")):
        d7.q("hm", "INSERT INTO hosting_context VALUES (%s, %s)", (nid, name))
    d7.q("hm", "INSERT INTO node (nid, vid, type, title, changed) VALUES (20, 21, 'site', 'd7.test', 5)")
    d7.q("hm", "INSERT INTO node_revision (nid, vid, title, log, timestamp) VALUES (20, 21, 'd7.test', '', 5)")
    d7.q("hm", "INSERT INTO hosting_context VALUES (20, 'd7.test')")
    d7.q("hm", "INSERT INTO hosting_site (vid, nid, platform, db_server, verified, status) "
               "VALUES (21, 20, 10, 12, 123, 1)")
    return d7


def test_hosting_import_updates_platform_in_place(hostmaster: Lab) -> None:
    lab = hostmaster
    assert lab.run("provision-save", "@d7.test", "--platform=@platform_d7b").returncode == 0
    r = lab.run("@hostmaster", "hosting-import", "@d7.test")
    assert r.returncode == 0, r.stderr
    assert lab.q("hm", "SELECT platform, verified, status FROM hosting_site WHERE vid=21") == [(11, 123, 1)]
    assert lab.q("hm", "SELECT changed > 5 FROM node WHERE nid=20") == [(1,)]
    assert lab.q("hm", "SELECT COUNT(*) FROM hosting_task") == [(0,)] == lab.q("hm", "SELECT COUNT(*) - 1 FROM node")


def test_hosting_import_unknown_context_creates_site_and_install_task(hostmaster: Lab) -> None:
    lab = hostmaster
    lab.write_alias("renamed.test", {**lab.alias("d7.test"), "uri": "renamed.test", "platform": "@platform_d7b"})
    r = lab.run("@hostmaster", "hosting-import", "renamed.test")
    assert r.returncode == 0, r.stderr
    [(nid, vid)] = lab.q("hm", "SELECT nid, vid FROM node WHERE type='site' AND title='renamed.test'")
    assert lab.q("hm", "SELECT platform, status, verified FROM hosting_site WHERE vid=%s", (vid,)) == [(11, 0, 0)]
    assert lab.q("hm", "SELECT name FROM hosting_context WHERE nid=%s", (nid,)) == [("renamed.test",)]
    tasks = lab.q("hm", "SELECT t.task_type, t.task_status, n.title FROM hosting_task t JOIN node n ON n.vid=t.vid "
                        "WHERE t.rid=%s", (nid,))
    assert tasks == [("install", 0, "Install: renamed.test")]
    assert lab.q("hm", "SELECT platform FROM hosting_site WHERE vid=21") == [(10,)]  # the old node is left behind


def test_unknown_command_and_alias_fail_loudly(d7: Lab) -> None:
    r = d7.run("@d7.test", "sql-drop", "--yes")
    assert r.returncode == 1 and "The drush command 'sql-drop' could not be found." in msgs(r)
    r = d7.run("@nope.test", "status")
    assert r.returncode == 1 and "Could not find the alias @nope.test" in msgs(r)


def test_fault_injection(d7: Lab) -> None:
    fail = d7.root / "drush-standin.fail"
    fail.write_text("vset\nupdatedb:after-partial once\n")
    r = d7.run("@d7.test", "vset", "--yes", "maintenance_mode", "1")
    assert r.returncode == 1 and "standin: injected failure of variable-set" in msgs(r)
    assert d7.q("s7", "SELECT value FROM variable WHERE name='maintenance_mode'") == [(b"i:0;",)]
    r = d7.run("@d7.test", "updatedb", "--yes")
    assert r.returncode == 1 and "standin: injected failure of updatedb" in msgs(r)
    versions = dict(d7.q("s7", "SELECT name, schema_version FROM `system`"))
    assert versions["pathauto"] == 7006 and versions["views"] == 7300  # only the first pending update ran
    assert fail.read_text() == "vset\n"  # 'once' consumed the rule
    assert d7.run("@d7.test", "updatedb", "--yes").returncode == 0


def test_sleep_is_interruptible_and_logged(d7: Lab) -> None:
    (d7.root / "drush-standin.sleep").write_text("updatedb 30\n")
    proc = subprocess.Popen([str(d7.drush), "@d7.test", "updatedb", "--yes"], env=d7.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM and time.monotonic() - started < 5
    assert dict(d7.q("s7", "SELECT name, schema_version FROM `system`"))["pathauto"] == 7005  # nothing applied
    last = json.loads((d7.root / "drush-standin.log").read_text().splitlines()[-1])
    assert last["signal"] == "SIGTERM" and last["exit"] is None


def test_log_has_every_call_and_no_secret(hostmaster: Lab) -> None:
    lab = hostmaster
    secret = "s3cr3t-" + secrets.token_hex(6)
    lab.run("@d7.test", "vget", "maintenance_mode")
    lab.run("@d7.test", "provision-verify")
    r = lab.run("provision-save", "@d7.test", f"--db_passwd={secret}")
    lab.run("@hostmaster", "hosting-import", "@d7.test")
    lines = [json.loads(x) for x in (lab.root / "drush-standin.log").read_text().splitlines()]
    assert len(lines) == 4 and all({"time", "argv", "cwd", "exit"} <= set(x) for x in lines)
    text = (lab.root / "drush-standin.log").read_text()
    for creds in lab.dbs.values():
        assert creds["db_passwd"] not in text
    assert secret not in text and secret not in r.stdout + r.stderr


def test_hosting_import_profile_lookup_and_rollback(hostmaster: Lab) -> None:
    """With package tables, the profile must exist on the target platform; if not, node_save fails and
    nothing is changed (strict sql_mode refuses profile = NULL)."""
    lab = hostmaster
    lab.q("hm", "CREATE TABLE hosting_package (vid INT NOT NULL DEFAULT 0, nid INT UNSIGNED NOT NULL DEFAULT 0, "
                "package_type VARCHAR(16) NOT NULL DEFAULT '', short_name VARCHAR(255) NOT NULL DEFAULT '', "
                "PRIMARY KEY (vid)) ENGINE=InnoDB")
    lab.q("hm", "CREATE TABLE hosting_package_instance (iid INT NOT NULL AUTO_INCREMENT, rid INT NOT NULL DEFAULT 0, "
                "package_id INT NOT NULL DEFAULT 0, PRIMARY KEY (iid)) ENGINE=InnoDB")
    lab.q("hm", "INSERT INTO hosting_package VALUES (31, 30, 'profile', 'standard')")
    assert lab.run("provision-save", "@d7.test", "--platform=@platform_d7b").returncode == 0
    r = lab.run("@hostmaster", "hosting-import", "@d7.test")
    assert r.returncode == 1 and "Could not find the Profile standard for Platfrom ID 11" in msgs(r)
    assert lab.q("hm", "SELECT platform, profile FROM hosting_site WHERE vid=21") == [(10, 0)]  # rolled back
    lab.q("hm", "INSERT INTO hosting_package_instance (rid, package_id) VALUES (11, 30)")
    r = lab.run("@hostmaster", "hosting-import", "@d7.test")
    assert r.returncode == 0, r.stderr
    assert lab.q("hm", "SELECT platform, profile FROM hosting_site WHERE vid=21") == [(11, 30)]


def test_verify_pack_pushes_masters_only_and_excludes_files(lab: Lab) -> None:
    lab.write_alias("server_pack", {"context_type": "server", "remote_host": "pack.test", "http_service_type": "pack",
                                    "master_web_servers": ["@server_web1"], "slave_web_servers": ["@server_web2"]})
    lab.write_alias("platform_d7p", {**lab.alias("platform_d7a"), "web_server": "@server_pack"})
    creds = lab.make_db("s7", D7_TABLES)
    _seed_d7(lab, "s7")
    site_dir = lab.site("p.test", "platform_d7p", creds, files=False)
    fronts = [_front(lab, h, site_dir) for h in ("web1.test", "web2.test")]
    r = lab.run("@p.test", "provision-verify")
    assert r.returncode == 0, r.stderr
    assert (fronts[0] / "settings.php").is_file() and (fronts[0] / "files/live.jpg").is_file()
    assert not (fronts[1] / "settings.php").exists()  # slaves get no code push (NFS)...
    vhost = lab.remotes / "web2.test" / str(lab.root).lstrip("/") / "config/server_web2/apache/vhost.d/p.test"
    assert vhost.is_file()  # ...but their vhost
