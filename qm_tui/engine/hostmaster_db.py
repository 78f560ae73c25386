"""Read-only access to the Aegir hostmaster database (aiomysql, parameterised SQL only).

Every Aegir object is a node; the type tables are keyed by ``vid``, so every query joins
``node.vid = hosting_x.vid`` to see only current revisions (aegir.md §1.1). One query per list,
never one per row. All reads of one refresh share a consistent, read-only snapshot.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import aiomysql
import pymysql

from ..config import DbConfig
from ..errors import QmError
from .model import PackageInstance, SiteRecord, TaskStatus

# Tables (and for some, columns) the product reads; a missing one is reported by name.
REQUIRED_TABLES = (
    "node", "hosting_context", "hosting_site", "hosting_platform", "hosting_server", "hosting_service",
    "hosting_web_cluster", "hosting_web_pack", "hosting_package", "hosting_package_instance",
    "hosting_task",
)
SCHEMA_AEGIR3 = "aegir3 (Drupal 7 hostmaster: node_revision)"
SCHEMA_AEGIR2 = "aegir2 (Drupal 6 hostmaster: node_revisions)"
SCHEMA_IDS = {SCHEMA_AEGIR3: "aegir3", SCHEMA_AEGIR2: "aegir2"}


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
            if not isinstance(cause, OSError):
                return "unreachable"
            # asyncio says "Connect call failed ('127.0.0.1', 1)"; the errno text says why.
            why = os.strerror(cause.errno) if (cause.errno or 0) > 0 else (cause.strerror or str(cause))
            return f"unreachable ({why})"
        return f"error {code}: {text}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class _QuietCursor(aiomysql.Cursor):
    """No Python warnings for server warnings: they would print under the CLI's one-line error, and the
    one we can cause (a truncated GROUP_CONCAT) is detected and handled by ``instance_packages``."""

    async def _show_warnings(self, conn: Any) -> None:
        return None


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
            async with self.conn.cursor(_QuietCursor) as cur:
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

    @property
    def schema_id(self) -> str:
        """``aegir3`` or ``aegir2`` (empty before ``connect``)."""
        return SCHEMA_IDS.get(self.schema or "", "")

    async def summary(self) -> tuple[str, dict[str, dict[int | None, int]]]:
        """Server version and row counts for diagnostics: {kind: {status (None: no status): count}}."""
        version = (await self.query("SELECT VERSION()"))[0][0]
        rows = await self.query(
            """SELECT 'sites', s.status, COUNT(*) FROM node n JOIN hosting_site s ON s.vid = n.vid
               WHERE n.type = 'site' GROUP BY s.status
               UNION ALL
               SELECT 'platforms', p.status, COUNT(*) FROM node n JOIN hosting_platform p ON p.vid = n.vid
               WHERE n.type = 'platform' GROUP BY p.status
               UNION ALL
               SELECT 'servers', NULL, COUNT(*) FROM node n JOIN hosting_server hs ON hs.vid = n.vid
               WHERE n.type = 'server'
               UNION ALL
               SELECT 'packages', NULL, COUNT(*) FROM node n JOIN hosting_package pk ON pk.vid = n.vid
               WHERE n.type = 'package'
               UNION ALL
               SELECT 'package_instances', NULL, COUNT(*) FROM hosting_package_instance""")
        out: dict[str, dict[int | None, int]] = {}
        for kind, status, n in rows:
            out.setdefault(str(kind), {})[None if status is None else int(status)] = int(n)
        return str(version), out

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

    async def platform_heads(self) -> list[tuple[int, int, int, str | None]]:
        """Platform-owned rows of the core ('platform') and profile packages: (iid, platform nid, package nid,
        version), in iid order. The core row gives the platform's Drupal version; a profile row's iid owns that
        profile's package set (the target side of a comparison).

        The package filter is a semi-join so the server walks only the platforms' own rows (rid index) and
        never the millions of site rows that share these packages.
        """
        rows = await self.query(
            """SELECT i.iid, i.rid, i.package_id, i.version
               FROM node r
               JOIN hosting_package_instance i ON i.rid = r.nid
               WHERE r.type = 'platform'
                 AND i.package_id IN (SELECT pk.nid FROM hosting_package pk JOIN node pn ON pn.vid = pk.vid
                                      WHERE pk.package_type IN ('platform', 'profile'))""")
        return sorted((int(iid), int(rid), int(pkg), version) for iid, rid, pkg, version in rows)

    async def packages(self, types: Sequence[str] | None = None) -> dict[int, PackageMeta]:
        """Package nid -> (short name, type, old short name), current revisions; all types or just ``types``."""
        where, args = "", ()
        if types:
            where = f"WHERE pk.package_type IN ({_marks(types)})"
            args = tuple(types)
        rows = await self.query(
            f"""SELECT pk.nid, pk.short_name, pk.package_type, pk.old_short_name
                FROM hosting_package pk JOIN node pn ON pn.vid = pk.vid {where}""", args)
        return {int(nid): PackageMeta(sn, ptype, old or None) for nid, sn, ptype, old in rows}

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

    async def site_package_platforms(self, site_nid: int) -> set[int]:
        """The platforms the site's package rows were recorded on (by its last verify)."""
        rows = await self.query(
            "SELECT DISTINCT i.platform FROM hosting_package_instance i JOIN node r ON r.nid = i.rid "
            "AND r.type = 'site' WHERE i.rid = %s AND i.platform <> -1", (site_nid,))
        return {int(r[0]) for r in rows}

    async def site_aliases(self, site_nid: int) -> tuple[list[str], str]:
        """The site's domain aliases and redirection as the front end has them now (its current
        revision): Aegir's tasks pass them to provision-save, so hosting-import keeps them."""
        rows = await self.query(
            "SELECT a.alias, a.redirection FROM hosting_site_alias a JOIN node n ON n.vid = a.vid "
            "WHERE n.nid = %s ORDER BY a.alias", (site_nid,))
        return [str(r[0]) for r in rows], next((str(r[1]) for r in rows if r[1]), "")

    async def name_uses(self, name: str) -> list[str]:
        """Where the hostmaster already uses a name, in words: a site's title (any site not deleted), a
        domain alias or redirection of a site's current revision, or any context (site, platform, server)."""
        rows = await self.query(
            "SELECT CONCAT('site node ', n.nid, ' (', n.title, ')') FROM node n JOIN hosting_site s ON s.vid = n.vid "
            "WHERE n.type = 'site' AND LOWER(n.title) = %s AND s.status <> -2 "
            "UNION ALL SELECT CONCAT('an alias of site node ', a.nid) FROM hosting_site_alias a "
            "JOIN node n ON n.vid = a.vid JOIN hosting_site s ON s.vid = n.vid "
            "WHERE LOWER(a.alias) = %s AND s.status <> -2 "
            "UNION ALL SELECT CONCAT('the redirection of site node ', a.nid) FROM hosting_site_alias a "
            "JOIN node n ON n.vid = a.vid JOIN hosting_site s ON s.vid = n.vid "
            "WHERE LOWER(a.redirection) = %s AND s.status <> -2 "
            "UNION ALL SELECT CONCAT('the context of node ', c.nid) FROM hosting_context c WHERE LOWER(c.name) = %s",
            (name, name, name, name))
        return list(dict.fromkeys(str(r[0]) for r in rows))

    async def site_record(self, site_nid: int) -> SiteRecord | None:
        """The site node as the hostmaster has it now: platform, title and context name."""
        rows = await self.query(
            "SELECT s.platform, n.title, c.name FROM node n JOIN hosting_site s ON s.vid = n.vid "
            "LEFT JOIN hosting_context c ON c.nid = n.nid WHERE n.nid = %s", (site_nid,))
        if not rows:
            return None
        platform, title, context = rows[0]
        return SiteRecord(site_nid, int(platform), str(title), str(context) if context is not None else None)

    async def site_packages(self, site_nid: int) -> list[PackageInstance]:
        """The source side: the site's own rows, site-local code (platform = -1) excluded."""
        rows = await self.query(
            self._PKG_COLS + "JOIN node r ON r.nid = i.rid AND r.type = 'site' "
            "WHERE i.rid = %s AND i.platform <> -1 ORDER BY pk.short_name, pk.nid", (site_nid,))
        return [_pkg(r) for r in rows]

    async def instance_packages(self, iids: Iterable[int], meta: dict[int, PackageMeta],
                                package_ids: Iterable[int] | None = None) -> dict[int, list[PackageInstance]]:
        """The target side: the package sets owned by profile instances (rid = profile iid).

        ``package_ids`` limits the rows to those packages (a comparison only looks at the site's).

        One row per owner with its rows packed by GROUP_CONCAT: the set is ~150 rows per platform, 30,000
        for 200 platforms, and decoding that many rows in the pure-Python driver costs more than the
        whole query. A packed value that does not unpack cleanly (truncated, or a separator inside a
        version string) falls back to plain rows.
        """
        ids = sorted(set(iids))
        if not ids:
            return {}
        where = f"i.rid IN ({_marks(ids)}) AND i.platform <> -1"
        args: list[int] = list(ids)
        if package_ids is not None:
            pids = sorted(set(package_ids))
            if not pids:
                return {i: [] for i in ids}
            where += f" AND i.package_id IN ({_marks(pids)})"
            args += pids
        await self.query("SET SESSION group_concat_max_len = %s", (_PACKED_MAX,))
        rows = await self.query(
            f"""SELECT i.rid, COUNT(*),
                       GROUP_CONCAT(CONCAT_WS(CHAR(31), i.package_id, IFNULL(i.schema_version, ''),
                                              IFNULL(i.status, ''), IF(i.version IS NULL, 'N', CONCAT('V', i.version)))
                                    ORDER BY i.iid SEPARATOR '{_REC}')
                FROM hosting_package_instance i WHERE {where} GROUP BY i.rid""", args)
        out: dict[int, list[PackageInstance]] = {i: [] for i in ids}
        seen: dict[str, PackageInstance | None] = {}  # platforms share most rows: build each distinct one once
        try:
            for rid, count, packed in rows:
                out[int(rid)] = _unpack(packed, int(count), meta, seen)
            return out
        except ValueError:
            pass
        rows = await self.query(
            f"""SELECT i.rid, i.package_id, i.schema_version, i.status, i.version
                FROM hosting_package_instance i WHERE {where} ORDER BY i.iid""", args)
        out = {i: [] for i in ids}
        for rid, pkg, schema, status, version in rows:
            m = meta.get(int(pkg))
            if m is not None:
                out[int(rid)].append(_instance(int(pkg), m, version, schema, status))
        return out

    async def active_tasks(self, nids: Iterable[int]) -> list[ActiveTask]:
        """Queued or processing hosting tasks on any of these nodes (current task revisions), in nid order."""
        ids = sorted(set(nids))
        if not ids:
            return []
        rows = await self.query(
            f"""SELECT n.nid, t.rid, t.task_type, t.task_status FROM node n
                JOIN hosting_task t ON t.vid = n.vid
                WHERE n.type = 'task' AND t.rid IN ({_marks(ids)}) AND t.task_status IN (%s, %s)
                ORDER BY n.nid""", (*ids, int(TaskStatus.QUEUED), int(TaskStatus.PROCESSING)))
        return [ActiveTask(int(a), int(b), str(c), TaskStatus(int(d))) for a, b, c, d in rows]

    async def verified(self, nids: Iterable[int]) -> dict[int, int]:
        """``verified`` (unix time, 0: never) of these site and platform nodes' current revisions."""
        ids = sorted(set(nids))
        if not ids:
            return {}
        rows = await self.query(
            f"""SELECT n.nid, s.verified FROM node n JOIN hosting_site s ON s.vid = n.vid
                WHERE n.type = 'site' AND n.nid IN ({_marks(ids)})
                UNION ALL
                SELECT n.nid, p.verified FROM node n JOIN hosting_platform p ON p.vid = n.vid
                WHERE n.type = 'platform' AND n.nid IN ({_marks(ids)})""", (*ids, *ids))
        return {int(nid): int(v or 0) for nid, v in rows}


class ActiveTask(NamedTuple):
    nid: int  # the task node
    rid: int  # the node it works on
    task_type: str
    status: TaskStatus


_REC, _UNIT = "\x1e", "\x1f"  # ASCII record/unit separators: never in a version string in practice
_PACKED_MAX = 16 * 1024 * 1024  # bytes per packed set (~25 per row); a truncated one is detected anyway


def _marks(values: Sequence[Any]) -> str:
    """Placeholders for an IN list (the values are bound, never formatted in)."""
    return ",".join(["%s"] * len(values))


class PackageMeta(NamedTuple):
    short_name: str
    package_type: str
    old_short_name: str | None


def _instance(pkg: int, m: PackageMeta, version: str | None, schema: Any, status: Any) -> PackageInstance:
    return PackageInstance(package_nid=pkg, short_name=m.short_name, package_type=m.package_type,
                           version=version, schema_version=None if schema is None else int(schema),
                           status=int(status or 0), old_short_name=m.old_short_name)


def _unpack(packed: str | bytes | None, count: int, meta: dict[int, PackageMeta],
            seen: dict[str, PackageInstance | None]) -> list[PackageInstance]:
    """Rows packed by ``instance_packages``; ValueError when the value is not exactly ``count`` records.

    ``seen`` maps a packed record to its instance (None: unknown package), shared across owners.
    """
    text = packed.decode("utf-8") if isinstance(packed, bytes) else (packed or "")
    records = text.split(_REC)
    if len(records) != count:
        raise ValueError("packed package set does not have the expected number of rows")
    out = []
    for rec in records:
        if rec in seen:
            inst = seen[rec]
        else:
            pkg_s, schema_s, status_s, ver = rec.split(_UNIT, 3)  # ValueError on a short record
            if ver[:1] not in ("N", "V"):
                raise ValueError("bad version marker")
            m = meta.get(int(pkg_s))
            # A package without a current node is skipped, as a join on node would.
            inst = None if m is None else _instance(int(pkg_s), m, None if ver == "N" else ver[1:],
                                                    schema_s or None, status_s)
            seen[rec] = inst
        if inst is not None:
            out.append(inst)
    return out


def _pkg(r: tuple[Any, ...]) -> PackageInstance:
    _rid, nid, short_name, ptype, version, schema, status, old = r
    return PackageInstance(package_nid=int(nid), short_name=short_name, package_type=ptype,
                           version=version, schema_version=None if schema is None else int(schema),
                           status=int(status or 0), old_short_name=old or None)
