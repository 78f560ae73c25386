"""``drush @hostmaster hosting-task @<site> verify [--force]`` for the stand-in (hosting 7.x-3.x).

``drush_hosting_task()`` with a context and a task type adds a task node for the context's node
(``hosting_add_task``), marks it processing, runs ``provision-verify`` on the context, stores every log
message of it in ``hosting_task_log``, and ends the task as success (1) or error (2) with its
``executed`` time and ``delta``. On success hosting's post-verify hooks record the verify: the site's
``verified`` becomes now and its package instances are re-recorded on its current platform, with that
platform's versions (``hosting_package_instance_sync``). Only site verify tasks are imitated.
"""

from __future__ import annotations

import time
from typing import Any

from .drush_env import DrushError, Env, connect
from .drush_hosting import _new_node, _nid, hostmaster_site

QUEUED, PROCESSING, SUCCESS, ERROR = 0, -1, 1, 2


def sync_site_verify(cur: Any, site_nid: int) -> None:
    """hosting's post-verify for a site: ``verified`` now (never earlier than before), and its package
    rows re-recorded on its current platform with that platform's versions. ``verified`` ends after
    every change made so far (a file changed this very second counts as older)."""
    cur.execute("UPDATE hosting_site s JOIN node n ON n.vid = s.vid "
                "SET s.verified = GREATEST(s.verified, UNIX_TIMESTAMP() + 1) WHERE n.nid = %s", (site_nid,))
    cur.execute("SELECT s.platform FROM node n JOIN hosting_site s ON s.vid = n.vid WHERE n.nid = %s", (site_nid,))
    (platform,) = cur.fetchone()
    cur.execute("UPDATE hosting_package_instance si JOIN hosting_package_instance pi "
                "ON pi.package_id = si.package_id AND pi.rid = %s "
                "SET si.version = pi.version, si.version_code = pi.version_code "
                "WHERE si.rid = %s AND si.platform <> -1", (platform, site_nid))
    cur.execute("UPDATE hosting_package_instance SET platform = %s WHERE rid = %s AND platform <> -1",
                (platform, site_nid))


def cmd_hosting_task(env: Env, alias: str | None, args: list[str]) -> int:
    from .drush_provision import cmd_provision_verify

    if len(args) < 2:
        raise DrushError("standin: hosting-task needs a context and a task type (hosting-task @site verify)")
    name, kind = "@" + args[0].lstrip("@"), args[1]
    if kind != "verify":
        raise DrushError(f"standin: hosting-task supports verify tasks only, not {kind}")
    hm = hostmaster_site(env, alias)
    conn = connect(hm.creds)
    start = int(time.time())
    try:
        with conn.cursor() as cur:
            rid = _nid(cur, name)
            if rid is None:
                raise DrushError(f"Could not find a node for the context {name}")
            cur.execute("SELECT title FROM node WHERE nid = %s", (rid,))
            (title,) = cur.fetchone()
            nid, vid = _new_node(cur, "task", f"Verify: {title}", 0, start)
            cur.execute("INSERT INTO hosting_task (vid, nid, task_type, task_status, rid, executed, delta) "
                        "VALUES (%s, %s, 'verify', %s, %s, NULL, NULL)", (vid, nid, PROCESSING, rid))
        conn.commit()
        env.out.log(f"Running task {nid}: Verify {title}", "notice")
        env.out.sink = []
        try:
            code = cmd_provision_verify(env, name, [])
        except DrushError as exc:
            for line in exc.args:
                env.out.log(str(line), "error")
            code = 1
        log, env.out.sink = env.out.sink, None
        status = SUCCESS if code == 0 and not env.out.errors else ERROR
        with conn.cursor() as cur:
            for level, message in log:
                cur.execute("INSERT INTO hosting_task_log (vid, nid, type, message, error, timestamp) "
                            "VALUES (%s, %s, %s, %s, '', %s)", (vid, nid, level, message, int(time.time())))
            cur.execute("UPDATE hosting_task SET task_status = %s, executed = %s, delta = %s WHERE vid = %s",
                        (status, start, int(time.time()) - start, vid))
            if status == SUCCESS:
                sync_site_verify(cur, rid)
        conn.commit()
    finally:
        conn.close()
    if status != SUCCESS:
        raise DrushError(f"Task {nid} (Verify: {title}) failed")
    env.out.log(f"Task {nid} (Verify: {title}) succeeded", "success")
    return 0
