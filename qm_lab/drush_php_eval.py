"""``drush @hostmaster php-eval '<code>'`` for the stand-in: the one snippet qm-tui's rename sends.

Real drush runs any PHP after a full bootstrap of the hostmaster. The stand-in cannot run PHP, so it
understands exactly the rename template's code and refuses anything else (as a parse error would):
``node_load`` / set ``title`` / ``no_verify`` / ``node_save`` / ``hosting_context_register``, as
``hosting_migrate_post_hosting_migrate_task`` does on a rename. Its effects, on the hostmaster DB, in
one transaction: the node's title (node and its current revision), ``changed``, and the context name
with its ``hosting/c/<name>`` path alias (``hosting_context_register``: a db_merge on the nid). As in
Drupal, an unknown nid makes node_save fail with a PHP error; a context name already taken by another
node violates the unique key and rolls everything back.
"""

from __future__ import annotations

import re
import time

import pymysql

from .drush_env import DrushError, Env, connect
from .drush_hosting import hostmaster_site, pdo_error
from .drush_site import table_exists

RENAME = re.compile(
    r"\$node = node_load\((?P<nid>\d+)\); \$node->title = '(?P<title>[a-z0-9.-]+)'; \$node->no_verify = TRUE; "
    r"node_save\(\$node\); hosting_context_register\((?P<nid2>\d+), '(?P<name>[a-z0-9.-]+)'\);")


def cmd_php_eval(env: Env, alias: str | None, args: list[str]) -> int:
    code = " ".join(args).strip()
    m = RENAME.fullmatch(code)
    if m is None or m["nid"] != m["nid2"]:
        raise DrushError("standin: php-eval understands only qm-tui's rename snippet (node title and context)",
                         f"PHP Parse error: unexpected code: {code[:80]}")
    nid, title, name = int(m["nid"]), m["title"], m["name"]
    hm = hostmaster_site(env, alias)
    conn = connect(hm.creds)
    conn.autocommit(False)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT vid FROM node WHERE nid = %s", (nid,))
            row = cur.fetchone()
            if row is None:
                raise DrushError("PHP Fatal error: Call to a member function on a non-object (node_load "
                                 f"returned FALSE for node {nid})")
            vid, now = int(row[0]), int(time.time())
            cur.execute("UPDATE node SET title = %s, changed = %s WHERE nid = %s", (title, now, nid))
            cur.execute("UPDATE node_revision SET title = %s, timestamp = %s WHERE vid = %s", (title, now, vid))
            cur.execute("SELECT name FROM hosting_context WHERE nid = %s", (nid,))
            old = cur.fetchone()
            if old:
                cur.execute("UPDATE hosting_context SET name = %s WHERE nid = %s", (name, nid))
            else:
                cur.execute("INSERT INTO hosting_context (nid, name) VALUES (%s, %s)", (nid, name))
            if table_exists(cur, "url_alias"):
                cur.execute("DELETE FROM url_alias WHERE source = %s AND alias LIKE 'hosting/c/%%'", (f"node/{nid}",))
                cur.execute("INSERT INTO url_alias (source, alias, language) VALUES (%s, %s, 'und')",
                            (f"node/{nid}", f"hosting/c/{name}"))
        conn.commit()
    except pymysql.MySQLError as e:
        conn.rollback()
        raise pdo_error(e) from e
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return 0
