"""``drush @hostmaster hosting-import @<site>`` for the stand-in, on the real hostmaster database.

hosting 7.x-3.x ``hosting_drush_import()``: a context that ``hosting_context`` knows updates its node in
place (``hosting_site_update`` on the current vid; ``no_verify`` so no verify task; ``verified`` is NOT
touched). An unknown context (e.g. a renamed site) creates a NEW site node, status queued, and
``hosting_site_node_insert()`` queues an ``install`` task for it: the quick-migrate rename hazard.
Everything runs in one transaction, as node_save() does; an error rolls all of it back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pymysql

from .drush_env import CRED_KEYS, DB_ERROR_HINT, DrushError, Env, Site, connect, php_falsy, read_drushrc
from .drush_provision import as_list
from .drush_site import table_exists


def pdo_error(e: pymysql.MySQLError) -> DrushError:
    """A database error as drush reports it (the transaction rolled back by the caller)."""
    code, msg = (e.args + ("",))[:2] if e.args else (0, str(e))
    return DrushError(f"PDOException: SQLSTATE: {code} {msg}",
                      "Drush command terminated abnormally due to an unrecoverable error.")


def hostmaster_site(env: Env, alias: str | None) -> Site:
    rec = env.require_alias(alias or "hostmaster")
    site_path = Path(str(rec.get("site_path") or f"{rec.get('root')}/sites/{rec.get('uri')}"))
    site = Site(env, (alias or "hostmaster").lstrip("@"), rec, Path(str(rec.get("root") or "")),
                str(rec.get("uri") or ""), site_dir=site_path)
    rc = site_path / "drushrc.php"
    errors = []
    if not site_path.is_dir():
        errors.append(f"Could not find a Drupal settings.php file at ./sites/{site.uri}/settings.php.")
    elif not (site_path / "settings.php").is_file():
        errors.append(f"Could not find a Drupal settings.php file at ./sites/{site_path.name}/settings.php.")
    else:
        site.drushrc = read_drushrc(rc) if rc.is_file() else {}
        site.creds = {k: site.drushrc.get(k) for k in CRED_KEYS}
        if not site.db_ok():
            errors.append(DB_ERROR_HINT)
    if errors:
        raise DrushError(
            "Command hosting-import needs a higher bootstrap level to run - you will need to invoke drush "
            "from a more functional Drupal environment to run this command.",
            "The drush command 'hosting-import' could not be executed.",
            *errors,
        )
    return site


def _nid(cur: Any, context: Any) -> int | None:
    """hosting_context_nid(): nid of a context name ('@x' or 'x'), NULL when unknown."""
    if not context:
        return None
    cur.execute("SELECT nid FROM hosting_context WHERE name = %s", (str(context).lstrip("@"),))
    row = cur.fetchone()
    return int(row[0]) if row else None


def _profile(cur: Any, platform: int | None, short_name: str) -> int | None:
    cur.execute(
        "SELECT i.package_id FROM hosting_package_instance i JOIN hosting_package p ON p.nid = i.package_id "
        "WHERE i.rid = %s AND p.short_name = %s LIMIT 1",
        (platform, short_name),
    )
    row = cur.fetchone()
    return int(row[0]) if row else None


def _new_node(cur: Any, ntype: str, title: str, uid: int, now: int) -> tuple[int, int]:
    cur.execute(
        "INSERT INTO node (vid, type, language, title, uid, status, created, changed, comment, promote, sticky, "
        "tnid, translate) VALUES (0, %s, 'und', %s, %s, 1, %s, %s, 0, 0, 0, 0, 0)",
        (ntype, title, uid, now, now),
    )
    nid = cur.lastrowid
    cur.execute(
        "INSERT INTO node_revision (nid, uid, title, log, timestamp, status, comment, promote, sticky) "
        "VALUES (%s, %s, %s, '', %s, 1, 0, 0, 0)",
        (nid, uid, title, now),
    )
    vid = cur.lastrowid
    cur.execute("UPDATE node SET vid = %s WHERE nid = %s", (vid, nid))
    return nid, vid


def _import_aliases(cur: Any, nid: int, vid: int, ctx: dict[str, Any]) -> None:
    """hosting_alias_drush_context_import(): the node takes the alias file's aliases and redirection,
    and hosting_alias_update() rewrites the revision's rows; so a front-end edit never saved to the
    alias file is reverted. (Automatic aliases keep their flag; Aegir recomputes them by DNS.)"""
    cur.execute("SELECT alias FROM hosting_site_alias WHERE vid = %s AND automatic = 1", (vid,))
    automatic = {r[0] for r in cur.fetchall()}
    redirection = "" if php_falsy(ctx.get("redirection")) else str(ctx["redirection"])
    cur.execute("DELETE FROM hosting_site_alias WHERE vid = %s", (vid,))
    for a in dict.fromkeys(a.strip() for a in as_list(ctx.get("aliases")) if a.strip()):
        cur.execute("INSERT INTO hosting_site_alias (vid, nid, alias, automatic, redirection) "
                    "VALUES (%s, %s, %s, %s, %s)", (vid, nid, a, int(a in automatic), redirection))


def cmd_hosting_import(env: Env, alias: str | None, args: list[str]) -> int:
    if not args:
        raise DrushError("Missing argument 1")
    hm = hostmaster_site(env, alias)
    name = "@" + args[0].lstrip("@")
    ctx = env.alias(name)
    if ctx is None:  # d($alias)->name is empty: drush_hosting_import() silently does nothing
        return 0
    if ctx.get("context_type") != "site":
        raise DrushError(f"standin: hosting-import supports site contexts only, not {ctx.get('context_type')}")
    env.out.log(f"Importing {name}", "notice")
    now = int(time.time())
    conn = connect(hm.creds)
    conn.autocommit(False)
    try:
        with conn.cursor() as cur:
            platform = _nid(cur, ctx.get("platform"))
            db_server = _nid(cur, ctx.get("db_server"))
            profile: int | None = None
            packages = table_exists(cur, "hosting_package_instance") and table_exists(cur, "hosting_package")
            if packages:
                profile = _profile(cur, platform, str(ctx.get("profile") or ""))
                if profile is None:
                    env.out.log(f"Could not find the Profile {ctx.get('profile')} for Platfrom ID {platform}", "error")
            client = None
            if ctx.get("client_name") and table_exists(cur, "hosting_client"):
                cur.execute("SELECT nid FROM hosting_client WHERE uname = %s", (str(ctx["client_name"]),))
                row = cur.fetchone()
                client = int(row[0]) if row else None
            fields = {"platform": platform, "db_server": db_server, "language": str(ctx.get("language") or "en"),
                      "cron_key": str(ctx.get("cron_key") or "")}
            if packages:
                fields["profile"] = profile  # NULL when not found: strict mode refuses it, as in Aegir
            if client is not None:
                fields["client"] = client
            cur.execute(
                "SELECT n.nid, n.vid, n.type FROM hosting_context c JOIN node n ON n.nid = c.nid WHERE c.name = %s",
                (name.lstrip("@"),),
            )
            row = cur.fetchone()
            if row:
                nid, vid, ntype = int(row[0]), int(row[1]), row[2]
                env.out.log(f"Context {name} already has an associated node. Updating {ntype} node {nid} instead.",
                            "notice")
                sets = ", ".join(f"{k} = %s" for k in fields)
                cur.execute(f"UPDATE hosting_site SET {sets} WHERE vid = %s", (*fields.values(), vid))
                if table_exists(cur, "hosting_site_alias"):
                    _import_aliases(cur, nid, vid, ctx)
                cur.execute("UPDATE node SET changed = %s WHERE nid = %s", (now, nid))
                cur.execute("UPDATE node_revision SET timestamp = %s WHERE vid = %s", (now, vid))
            else:
                title = str(ctx.get("uri") or name.lstrip("@")).strip().lower()
                nid, vid = _new_node(cur, "site", title, 0, now)
                fields.setdefault("profile", 0)
                fields.setdefault("client", client or 0)
                cols = {"vid": vid, "nid": nid, "db_name": "", "last_cron": 0, "status": 0, "verified": 0, **fields}
                cur.execute(
                    f"INSERT INTO hosting_site ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                    tuple(cols.values()),
                )
                cur.execute("INSERT INTO hosting_context (nid, name) VALUES (%s, %s)", (nid, name.lstrip("@")))
                if table_exists(cur, "url_alias"):
                    cur.execute("DELETE FROM url_alias WHERE alias = %s", (f"hosting/c/{name.lstrip('@')}",))
                    cur.execute("INSERT INTO url_alias (source, alias, language) VALUES (%s, %s, 'und')",
                                (f"node/{nid}", f"hosting/c/{name.lstrip('@')}"))
                # hosting_site_node_insert() -> hosting_add_task($nid, 'install'): a queued task node.
                tnid, tvid = _new_node(cur, "task", f"Install: {title}", 0, now)
                cur.execute(
                    "INSERT INTO hosting_task (vid, nid, task_type, task_status, rid, executed, delta) "
                    "VALUES (%s, %s, 'install', 0, %s, NULL, NULL)",
                    (tvid, tnid, nid),
                )
        conn.commit()
    except pymysql.MySQLError as e:
        conn.rollback()
        raise pdo_error(e) from e
    finally:
        conn.close()
    env.out.log(f"Context {name} has been imported. Updated site node {nid}.", "notice")
    return 1 if env.out.errors else 0
