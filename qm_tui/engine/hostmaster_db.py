"""Read-only access to the Aegir hostmaster database (aiomysql, parameterised SQL only).

Every Aegir object is a node; the type tables are keyed by ``vid``, so every query joins
``node.vid = hosting_x.vid`` to see only current revisions (aegir.md §1.1). One query per list,
never one per row. All reads of one refresh share a consistent, read-only snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiomysql
import pymysql

from ..config import DbConfig
from ..errors import QmError
from .model import PackageInstance, ProfileInstance

# Tables (and for some, columns) the product reads; a missing one is reported by name.
REQUIRED_TABLES = (
    "node", "hosting_context", "hosting_site", "hosting_platform", "hosting_server", "hosting_service",
    "hosting_web_cluster", "hosting_web_pack", "hosting_package", "hosting_package_instance",
    "hosting_task",
)
SCHEMA_AEGIR3 = "aegir3 (Drupal 7 hostmaster: node_revision)"
SCHEMA_AEGIR2 = "aegir2 (Drupal 6 hostmaster: node_revisions)"


class HostmasterError(QmError):
    """One line for the user: names host:port, user and the cause."""


@dataclass(frozen=True)
class ServerRow:
    nid: int
    vid: int
    title: str
    context: str | None
    http_type: str | None
    status: int | None


def _describe(db: DbConfig) -> str:
    return f"hostmaster DB {db.where} (user {db.user}, database {db.name})"


def _explain(exc: BaseException) -> str:
    if isinstance(exc, pymysql.err.MySQLError) and exc.args:
        code = exc.args[0]
        text = str(exc.args[1]) if len(exc.args) > 1 else ""
        if code in (1045, 1698):
            return "login refused (access denied)"
        if code == 1049:
            return "database does not exist"
        if code in (2003, 2002):
            cause = exc.__cause__ or exc.__context__
            return f"unreachable ({cause.strerror or cause})" if isinstance(cause, OSError) else "unreachable"
        return f"error {code}: {text}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class HostmasterDB:
    """An open connection plus the queries. Use ``async with HostmasterDB(cfg) as db``."""

    def __init__(self, cfg: DbConfig) -> None:
        self.cfg = cfg
        self.conn: aiomysql.Connection | None = None
        self.schema: str | None = None

    async def __aenter__(self) -> HostmasterDB:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def connect(self) -> None:
        cfg = self.cfg
        kwargs: dict[str, Any] = dict(user=cfg.user, password=cfg.secret(), db=cfg.name,
                                      connect_timeout=cfg.connect_timeout, charset="utf8mb4",
                                      autocommit=True)
        if cfg.unix_socket:
            kwargs["unix_socket"] = cfg.unix_socket
        else:
            kwargs.update(host=cfg.host, port=cfg.port)
        try:
            self.conn = await asyncio.wait_for(aiomysql.connect(**kwargs), cfg.connect_timeout + 1)
        except (TimeoutError, pymysql.err.MySQLError, OSError) as exc:
            raise HostmasterError(f"{_describe(cfg)}: {_explain(exc)}") from None
        try:
            self.schema = await self.detect_schema()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    async def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        if self.conn is None:
            raise HostmasterError(f"{_describe(self.cfg)}: not connected")
        try:
            async with self.conn.cursor() as cur:
                await asyncio.wait_for(cur.execute(sql, args), self.cfg.read_timeout)
                return list(await cur.fetchall())
        except (TimeoutError, pymysql.err.MySQLError, OSError) as exc:
            self.close()  # a timed-out read leaves the protocol desynchronised
            raise HostmasterError(f"{_describe(self.cfg)}: query failed: {_explain(exc)}") from None

    async def begin_snapshot(self) -> None:
        await self.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    async def end_snapshot(self) -> None:
        await self.query("COMMIT")

    async def detect_schema(self) -> str:
        rows = await self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
        tables = {r[0] for r in rows}
        for t in REQUIRED_TABLES:
            if t not in tables:
                raise HostmasterError(f"{_describe(self.cfg)}: table {t} is missing; "
                                      "is this an Aegir hostmaster database?")
        if "node_revision" in tables:
            return SCHEMA_AEGIR3
        if "node_revisions" in tables:
            return SCHEMA_AEGIR2
        raise HostmasterError(f"{_describe(self.cfg)}: neither node_revision (Aegir 3) nor "
                              "node_revisions (Aegir 2) exists; unknown hostmaster schema")

    # --- lists ----------------------------------------------------------------------------------

    async def servers(self) -> dict[int, ServerRow]:
        status = "hs.status" if self.schema == SCHEMA_AEGIR3 else "NULL"
        rows = await self.query(
            f"""SELECT n.nid, n.vid, n.title, c.name, sv.type, {status}
                FROM node n
                JOIN hosting_server hs ON hs.vid = n.vid
                LEFT JOIN hosting_context c ON c.nid = n.nid
                LEFT JOIN hosting_service sv
                       ON sv.vid = n.vid AND sv.service = 'http' AND sv.available = 1
                WHERE n.type = 'server'
                ORDER BY n.nid, sv.type""")
        out: dict[int, ServerRow] = {}
        for nid, vid, title, ctx, http_type, st in rows:
            # A server with several http rows (e.g. apache + apache_ssl): keep a cluster/pack type.
            prev = out.get(nid)
            if prev is None or http_type in ("cluster", "pack"):
                out[nid] = ServerRow(nid, vid, title, ctx, http_type, st)
        return out

    async def web_members(self) -> dict[int, list[tuple[int, str]]]:
        """Cluster/pack server nid -> [(member server nid, 'cluster'|'master'|'slave')] (current vid)."""
        rows = await self.query(
            """SELECT w.nid, w.web_server_nid, 'cluster' FROM hosting_web_cluster w
                 JOIN node n ON n.vid = w.vid
               UNION ALL
               SELECT w.nid, w.web_server_nid, w.type FROM hosting_web_pack w
                 JOIN node n ON n.vid = w.vid
               ORDER BY 1, 2""")
        out: dict[int, list[tuple[int, str]]] = {}
        for nid, member, kind in rows:
            out.setdefault(nid, []).append((member, kind))
        return out

    async def platform_rows(self) -> list[tuple[Any, ...]]:
        return await self.query(
            """SELECT n.nid, n.title, c.name, p.publish_path, p.web_server, p.status, p.verified
               FROM node n
               JOIN hosting_platform p ON p.vid = n.vid
               LEFT JOIN hosting_context c ON c.nid = n.nid
               WHERE n.type = 'platform'
               ORDER BY n.title, n.nid""")

    async def core_versions(self) -> dict[int, str | None]:
        """Platform nid -> version of its 'platform'-type package (the Drupal core)."""
        rows = await self.query(
            """SELECT i.rid, i.version
               FROM hosting_package_instance i
               JOIN node r ON r.nid = i.rid AND r.type = 'platform'
               JOIN hosting_package pk ON pk.nid = i.package_id
               JOIN node pn ON pn.vid = pk.vid
               WHERE pk.package_type = 'platform'
               ORDER BY i.iid""")
        return {rid: version for rid, version in rows}

    async def site_counts(self) -> dict[int, int]:
        rows = await self.query(
            """SELECT s.platform, COUNT(*) FROM node n JOIN hosting_site s ON s.vid = n.vid
               WHERE n.type = 'site' AND s.status <> -2 GROUP BY s.platform""")
        return {p: int(c) for p, c in rows}

    async def site_rows(self, include_deleted: bool, uri: str | None = None) -> list[tuple[Any, ...]]:
        where = "" if include_deleted else "AND s.status <> -2"
        args: tuple[Any, ...] = ()
        if uri is not None:
            where += " AND n.title = %s"
            args = (uri,)
        return await self.query(
            f"""SELECT n.nid, n.title, s.status, s.verified, s.db_name, s.profile, pk.short_name,
                       s.platform, cn.title, s.db_server, dn.title
                FROM node n
                JOIN hosting_site s ON s.vid = n.vid
                LEFT JOIN node pn ON pn.nid = s.profile
                LEFT JOIN hosting_package pk ON pk.vid = pn.vid
                LEFT JOIN node cn ON cn.nid = s.client
                LEFT JOIN node dn ON dn.nid = s.db_server
                WHERE n.type = 'site' {where}
                ORDER BY n.title, n.nid""", args)

    async def site_uris(self) -> list[str]:
        rows = await self.query("SELECT n.title FROM node n JOIN hosting_site s ON s.vid = n.vid "
                                "WHERE n.type = 'site'")
        return [r[0] for r in rows]

    # --- packages -------------------------------------------------------------------------------

    _PKG_COLS = ("SELECT i.rid, pk.nid, pk.short_name, pk.package_type, i.version, i.schema_version, "
                 "i.status, pk.old_short_name FROM hosting_package_instance i "
                 "JOIN hosting_package pk ON pk.nid = i.package_id "
                 "JOIN node pn ON pn.vid = pk.vid ")

    async def site_packages(self, site_nid: int) -> list[PackageInstance]:
        """The source side: the site's own rows, site-local code (platform = -1) excluded."""
        rows = await self.query(
            self._PKG_COLS + "JOIN node r ON r.nid = i.rid AND r.type = 'site' "
            "WHERE i.rid = %s AND i.platform <> -1 ORDER BY pk.short_name, pk.nid", (site_nid,))
        return [_pkg(r) for r in rows]

    async def profile_instances(self, profile_nid: int, short_name: str | None) -> list[ProfileInstance]:
        """Instances (on platforms) of the site's profile package, or of a profile renamed from it."""
        rows = await self.query(
            """SELECT i.iid, i.rid, pk.nid, pk.short_name, pk.old_short_name
               FROM hosting_package_instance i
               JOIN node r ON r.nid = i.rid AND r.type = 'platform'
               JOIN hosting_package pk ON pk.nid = i.package_id
               JOIN node pn ON pn.vid = pk.vid
               WHERE pk.package_type = 'profile' AND (pk.nid = %s OR pk.old_short_name = %s)
               ORDER BY i.iid""", (profile_nid, short_name or ""))
        return [ProfileInstance(iid, rid, nid, sn, old) for iid, rid, nid, sn, old in rows]

    async def instance_packages(self, iids: Iterable[int]) -> dict[int, list[PackageInstance]]:
        """The target side: packages owned by profile instances (rid = profile iid)."""
        ids = sorted(set(iids))
        if not ids:
            return {}
        marks = ",".join(["%s"] * len(ids))
        rows = await self.query(
            self._PKG_COLS + f"WHERE i.rid IN ({marks}) AND i.platform <> -1", ids)
        out: dict[int, list[PackageInstance]] = {i: [] for i in ids}
        for r in rows:
            out[r[0]].append(_pkg(r))
        return out

    async def active_tasks(self, nid: int) -> list[tuple[int, str, int]]:
        """Queued (0) or processing (-1) hosting tasks for a node: [(task nid, type, status)]."""
        rows = await self.query(
            """SELECT n.nid, t.task_type, t.task_status FROM node n
               JOIN hosting_task t ON t.vid = n.vid
               WHERE n.type = 'task' AND t.rid = %s AND t.task_status IN (0, -1)
               ORDER BY n.nid""", (nid,))
        return [(int(a), str(b), int(c)) for a, b, c in rows]


def _pkg(r: tuple[Any, ...]) -> PackageInstance:
    _rid, nid, short_name, ptype, version, schema, status, old = r
    return PackageInstance(package_nid=int(nid), short_name=short_name, package_type=ptype,
                           version=version, schema_version=None if schema is None else int(schema),
                           status=int(status or 0), old_short_name=old or None)
