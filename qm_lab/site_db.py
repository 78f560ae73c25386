"""Per-site Drupal databases for the lab: ``<prefix>s<nid>`` owned by ``<prefix>u<nid>``.

Each installed site (enabled or disabled; not queued, not deleted, not the hostmaster, whose DB is
the hostmaster DB) gets the tables qm-tui and the drush stand-in touch, filled from the ``World``
so that they agree with the hostmaster's package instances and with the files ``trees`` writes:

* D6/D7: ``system`` (one row per module/theme of the site's package instances, disabled ones
  included, never-installed modules at schema -1), ``variable`` (PHP-serialized), ``file_managed``
  (one row per managed file in ``site.files``), ``node``, ``cache``, ``cache_bootstrap``.
* D8+: ``key_value`` (``system.schema`` per installed module, ``state``), ``config``
  (``core.extension``, ``system.site``), ``file_managed``, ``node``, ``cache_default``, ``cache_bootstrap``.

The user exists at 127.0.0.1 and localhost with a ``secrets`` password and the grants provision
gives a site user. Sites are created on a few parallel connections (CREATE TABLE is the slow part).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .hostmaster_db import ACCOUNT_HOSTS, DRUPAL_GRANTS, AdminParams, check_account, ident, kill_sessions
from .world import DbCreds, Package, Platform, Site, SiteFile, World

_CACHE_D7 = ("(cid VARCHAR(255) NOT NULL DEFAULT '', data LONGBLOB, expire INT NOT NULL DEFAULT 0, "
             "created INT NOT NULL DEFAULT 0, serialized SMALLINT NOT NULL DEFAULT 0, PRIMARY KEY (cid), "
             "KEY expire (expire))")
_CACHE_D8 = ("(cid VARCHAR(255) BINARY NOT NULL DEFAULT '', data LONGBLOB, expire INT NOT NULL DEFAULT 0, "
             "created DECIMAL(14,3) NOT NULL DEFAULT 0, serialized SMALLINT NOT NULL DEFAULT 0, tags LONGTEXT, "
             "checksum VARCHAR(255) NOT NULL, PRIMARY KEY (cid), KEY expire (expire))")
_TAIL = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
D7_TABLES = {
    "system": "(filename VARCHAR(255) NOT NULL DEFAULT '', name VARCHAR(255) NOT NULL DEFAULT '', "
              "type VARCHAR(12) NOT NULL DEFAULT '', owner VARCHAR(255) NOT NULL DEFAULT '', "
              "status INT NOT NULL DEFAULT 0, {throttle}bootstrap INT NOT NULL DEFAULT 0, "
              "schema_version SMALLINT NOT NULL DEFAULT -1, weight INT NOT NULL DEFAULT 0, info BLOB, "
              "PRIMARY KEY (filename), KEY system_list (status, bootstrap, type, weight, name), "
              "KEY type_name (type, name))",
    "variable": "(name VARCHAR(128) NOT NULL DEFAULT '', value LONGBLOB NOT NULL, PRIMARY KEY (name))",
    "file_managed": "(fid INT UNSIGNED NOT NULL AUTO_INCREMENT, uid INT UNSIGNED NOT NULL DEFAULT 0, "
                    "filename VARCHAR(255) NOT NULL DEFAULT '', uri VARCHAR(255) BINARY NOT NULL DEFAULT '', "
                    "filemime VARCHAR(255) NOT NULL DEFAULT '', filesize BIGINT UNSIGNED NOT NULL DEFAULT 0, "
                    "status TINYINT NOT NULL DEFAULT 0, timestamp INT UNSIGNED NOT NULL DEFAULT 0, "
                    "PRIMARY KEY (fid), UNIQUE KEY uri (uri), KEY uid (uid))",
    "node": "(nid INT UNSIGNED NOT NULL AUTO_INCREMENT, vid INT UNSIGNED NOT NULL DEFAULT 0, "
            "type VARCHAR(32) NOT NULL DEFAULT '', language VARCHAR(12) NOT NULL DEFAULT '', "
            "title VARCHAR(255) NOT NULL DEFAULT '', uid INT NOT NULL DEFAULT 0, status INT NOT NULL DEFAULT 1, "
            "created INT NOT NULL DEFAULT 0, changed INT NOT NULL DEFAULT 0, comment INT NOT NULL DEFAULT 0, "
            "promote INT NOT NULL DEFAULT 0, sticky INT NOT NULL DEFAULT 0, tnid INT UNSIGNED NOT NULL DEFAULT 0, "
            "translate INT NOT NULL DEFAULT 0, PRIMARY KEY (nid), UNIQUE KEY vid (vid))",
    "cache": _CACHE_D7,
    "cache_bootstrap": _CACHE_D7,
}
D8_TABLES = {
    "key_value": "(collection VARCHAR(128) NOT NULL DEFAULT '', name VARCHAR(128) NOT NULL DEFAULT '', "
                 "value LONGBLOB NOT NULL, PRIMARY KEY (collection, name))",
    "config": "(collection VARCHAR(255) NOT NULL DEFAULT '', name VARCHAR(255) NOT NULL DEFAULT '', "
              "data LONGBLOB, PRIMARY KEY (collection, name))",
    "file_managed": "(fid INT UNSIGNED NOT NULL AUTO_INCREMENT, uuid VARCHAR(128) NOT NULL, langcode VARCHAR(12) "
                    "NOT NULL, uid INT UNSIGNED, filename VARCHAR(255), uri VARCHAR(255) BINARY NOT NULL, "
                    "filemime VARCHAR(255), filesize BIGINT UNSIGNED, status TINYINT NOT NULL, created INT, "
                    "changed INT NOT NULL, PRIMARY KEY (fid), UNIQUE KEY file_field__uuid__value (uuid))",
    "node": "(nid INT UNSIGNED NOT NULL AUTO_INCREMENT, vid INT UNSIGNED, type VARCHAR(32) NOT NULL, "
            "uuid VARCHAR(128) NOT NULL, langcode VARCHAR(12) NOT NULL, PRIMARY KEY (nid), "
            "UNIQUE KEY node_field__uuid__value (uuid), UNIQUE KEY node__vid (vid))",
    "cache_default": _CACHE_D8,
    "cache_bootstrap": _CACHE_D8,
}


def php_serialize(value: Any) -> bytes:
    """PHP ``serialize()`` for None/bool/int/str/list/dict (string lengths in bytes, as PHP)."""
    if value is None:
        return b"N;"
    if isinstance(value, bool):
        return b"b:%d;" % value
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        return b's:%d:"%s";' % (len(raw), raw)
    if isinstance(value, list | tuple):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        body = b"".join(php_serialize(k) + php_serialize(v) for k, v in value.items())
        return b"a:%d:{%s}" % (len(value), body)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def site_files(uri: str, extra: int = 0, extra_size: int = 4096) -> list[SiteFile]:
    """The files every installed site gets (see lab.md), plus ``extra`` bulk files."""
    out = [
        SiteFile(b"files/.htaccess", 140, "text/plain", managed=False),
        SiteFile(b"files/pictures/picture-1.png", 2311, "image/png", changed=True),
        SiteFile(b"files/field/image/photo-1.jpg", 5120, "image/jpeg"),
        SiteFile(b"files/styles/thumbnail/public/field/image/photo-1.jpg", 901, "image/jpeg", managed=False),
        SiteFile(b"files/documents/annual report 2023.pdf", 7342, "application/pdf"),
        SiteFile("files/documents/café-menu.txt".encode("latin-1"), 333, "text/plain", managed=False),
        SiteFile(b"files/css/css_kOOcuCaDxxdGuLmWc5HNbwz6E0GzR9x9C1NeI3ssygE.css", 1502, "text/css", managed=False,
                 new=True),
        SiteFile(b"files/inline/new-upload.docx", 2048, "application/msword", new=True),
        SiteFile(b"private/files/.htaccess", 140, "text/plain", managed=False),
        SiteFile(b"private/files/invoices/invoice-0001.pdf", 4096, "application/pdf"),
    ]
    out += [SiteFile(b"files/bulk/%03d/file-%05d.bin" % (i // 100, i), extra_size) for i in range(extra)]
    return out


def site_db_names(prefix: str, nid: int) -> tuple[str, str]:
    """(database, user) of a site, as lab.md names them."""
    return f"{prefix}s{nid}", check_account(f"{prefix}u{nid}")


def installed_sites(world: World) -> list[Site]:
    """Sites that have a database of their own (the hostmaster site uses the hostmaster DB)."""
    return [s for s in world.sites if s.installed and s.context != "hostmaster"]


def _rel(platform: Platform, filename: str) -> str:
    return filename.removeprefix(platform.publish_path.rstrip("/") + "/")


def _uri(rel: bytes) -> str:
    text = rel.decode()
    if text.startswith("private/files/"):
        return "private://" + text.removeprefix("private/files/")
    return "public://" + text.removeprefix("files/")


def _fake_uuid(*parts: object) -> str:
    """A deterministic UUID-shaped string (same world, same rows)."""
    h = hashlib.md5(repr(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def site_rows(world: World, site: Site) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """Every table's (columns, rows) for one site's database."""
    platform = world.platform_of(site)
    pkgs: dict[int, Package] = {p.nid: p for p in world.packages}
    major, when = platform.major, site.verified or site.created
    rows = world.instances_of(site.nid)
    profile = pkgs[site.profile].short_name
    exts = [(pkgs[i.package_id], i) for i in rows if pkgs[i.package_id].package_type in ("module", "theme")]
    managed = [f for f in site.files if f.managed]
    themes = [p.short_name for p, i in exts if p.package_type == "theme" and i.status == 1]
    out: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {}
    if major < 8:
        info = {p.short_name: php_serialize({"name": p.title, "description": "", "version": i.version,
                                             "core": f"{major}.x", "dependencies": []}) for p, i in exts}
        system = [(_rel(platform, i.filename), p.short_name, p.package_type,
                   "themes/engines/phptemplate/phptemplate.engine" if p.package_type == "theme" else "",
                   i.status, 0, -1 if p.package_type == "theme" or (i.status == 0 and i.schema_version == 0)
                   else i.schema_version, 0, info[p.short_name]) for p, i in exts]
        if major == 7:  # D7 lists the install profile as a module, weight 1000
            prow = next(i for i in rows if i.package_id == site.profile)
            system.append((_rel(platform, prow.filename), profile, "module", "", 1, 0, 0, 1000,
                           php_serialize({"name": pkgs[site.profile].title, "version": prow.version})))
        out["system"] = (("filename", "name", "type", "owner", "status", "bootstrap", "schema_version", "weight",
                          "info"), system)
        files_dir, priv = f"sites/{site.uri}/files", f"sites/{site.uri}/private"
        variables: dict[str, Any] = {"site_name": site.uri, "site_mail": f"admin@{site.uri}",
                                     "install_profile": profile, "theme_default": themes[0] if themes else "",
                                     "cron_key": site.cron_key, "cron_last": site.last_cron or 0}
        if major == 6:
            variables |= {"site_offline": "1" if site.maintenance else "0", "file_directory_path": files_dir,
                          "file_directory_temp": f"{priv}/temp"}
        else:
            variables |= {"maintenance_mode": int(site.maintenance), "file_public_path": files_dir,
                          "file_private_path": f"{priv}/files", "file_temporary_path": f"{priv}/temp",
                          "drupal_private_key": _fake_uuid("pk", site.nid)}
        out["variable"] = (("name", "value"), [(k, php_serialize(v)) for k, v in variables.items()])
        out["file_managed"] = (("uid", "filename", "uri", "filemime", "filesize", "status", "timestamp"),
                               [(1, f.rel.rsplit(b"/", 1)[-1].decode(), _uri(f.rel), f.mime, f.size, 1, when)
                                for f in managed])
        out["node"] = (("nid", "vid", "type", "language", "title", "uid", "status", "created", "changed"),
                       [(n, n, "page", "und", t, 1, 1, when, when) for n, t in _NODES])
        out["cache"] = (("cid", "data", "expire", "created", "serialized"),
                        [("theme_registry:x", b"a:0:{}", 0, when, 1)])
        out["cache_bootstrap"] = (("cid", "data", "expire", "created", "serialized"),
                                  [("variables", php_serialize(variables), 0, when, 1)])
        return out
    enabled = [(p, i) for p, i in exts if i.status == 1]
    schema = [("system.schema", p.short_name, php_serialize(i.schema_version))
              for p, i in enabled if p.package_type == "module"]
    schema.append(("system.schema", profile, php_serialize(8000)))
    state = [("state", "system.maintenance_mode", php_serialize(site.maintenance)),
             ("state", "system.cron_last", php_serialize(site.last_cron or 0)),
             ("state", "install_time", php_serialize(site.created))]
    extension = {"module": {**{p.short_name: 0 for p, _ in enabled if p.package_type == "module"}, profile: 1000},
                 "theme": {t: 0 for t in themes}, "profile": profile}
    out["key_value"] = (("collection", "name", "value"), schema + state)
    out["config"] = (("collection", "name", "data"), [
        ("", "core.extension", php_serialize(extension)),
        ("", "system.site", php_serialize({"uuid": _fake_uuid("site", site.nid), "name": site.uri,
                                           "mail": f"admin@{site.uri}", "page": {"front": "/node"}})),
        ("", "system.theme", php_serialize({"default": themes[0] if themes else "stark", "admin": "claro"}))])
    out["file_managed"] = (("uuid", "langcode", "uid", "filename", "uri", "filemime", "filesize", "status",
                            "created", "changed"),
                           [(_fake_uuid("f", site.nid, f.rel), "en", 1, f.rel.rsplit(b"/", 1)[-1].decode(),
                             _uri(f.rel), f.mime, f.size, 1, when, when) for f in managed])
    out["node"] = (("nid", "vid", "type", "uuid", "langcode"),
                   [(n, n, "page", _fake_uuid("n", site.nid, n), "en") for n, _ in _NODES])
    cache = (("cid", "data", "expire", "created", "serialized", "tags", "checksum"),
             [("route:x", b"a:0:{}", -1, when, 1, "", "0")])
    out["cache_default"] = cache
    out["cache_bootstrap"] = cache
    return out


_NODES = ((1, "Welcome"), (2, "About us"), (3, "Contact"))


def _create_one(admin: AdminParams, world: World, site: Site, password: str) -> DbCreds:
    db, user = site_db_names(world.prefix, site.nid)
    if site.db_name != db:
        raise ValueError(f"{site.uri}: hostmaster says db_name {site.db_name!r}, lab expects {db!r}")
    platform = world.platform_of(site)
    tables = D8_TABLES if platform.major >= 8 else D7_TABLES
    conn = admin.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {ident(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            cur.execute(f"USE {ident(db)}")
            for name, ddl in tables.items():
                ddl = ddl.replace("{throttle}", "throttle TINYINT NOT NULL DEFAULT 0, " if platform.major == 6 else "")
                cur.execute(f"CREATE TABLE {ident(name)} {ddl}{_TAIL}")
            for name, (cols, rows) in site_rows(world, site).items():
                if rows:
                    cur.executemany(f"INSERT INTO {ident(name)} ({', '.join(ident(c) for c in cols)}) "
                                    f"VALUES ({', '.join(['%s'] * len(cols))})", rows)
            for host in ACCOUNT_HOSTS:
                cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
                cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
                cur.execute(f"GRANT {DRUPAL_GRANTS} ON {ident(db)}.* TO %s@%s", (user, host))
    finally:
        conn.close()
    return DbCreds(admin.client_host, admin.port, db, user, password)


def create_site_dbs(admin: AdminParams, world: World, sites: Iterable[Site] | None = None,
                    workers: int = 4) -> dict[int, DbCreds]:
    """Create the database and user of every installed site (or of ``sites``); nid -> credentials.

    On failure the databases created so far stay: call ``drop_site_dbs`` (or ``drop_prefix``).
    """
    todo = list(installed_sites(world) if sites is None else sites)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {s.nid: pool.submit(_create_one, admin, world, s, secrets.token_urlsafe(15)) for s in todo}
        return {nid: f.result() for nid, f in futures.items()}


def drop_site_dbs(admin: AdminParams, prefix: str, nids: Iterable[int]) -> None:
    """Drop the databases and users of these site nids (missing ones are fine)."""
    nids = list(nids)
    conn = admin.connect()
    try:
        with conn.cursor() as cur:
            kill_sessions(cur, [site_db_names(prefix, nid)[1] for nid in nids])
            for nid in nids:
                db, user = site_db_names(prefix, nid)
                cur.execute(f"DROP DATABASE IF EXISTS {ident(db)}")
                for host in ACCOUNT_HOSTS:
                    cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
    finally:
        conn.close()
