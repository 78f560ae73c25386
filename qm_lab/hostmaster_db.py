"""Create, load and drop the lab's Aegir 3 hostmaster database (PyMySQL over an admin connection).

``create_hostmaster`` makes the database from ``hostmaster_schema.sql``, loads a ``World`` into it
and creates two accounts with ``secrets``-generated passwords: a SELECT-only one for qm-tui and a
read-write one (what drush on the master uses, written to the hostmaster site's drushrc.php).
Identifiers are checked against ``^[A-Za-z0-9_]{1,64}$`` and backtick-quoted; every value is a
bound parameter. Large tables go through ``LOAD DATA LOCAL INFILE`` (multi-row INSERTs when the
server refuses local infile), so the 1.5M-row scale world loads in seconds, not minutes.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pymysql

from .world import DbCreds, PackageInstance, World

IDENT_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
ACCOUNT_HOSTS = ("127.0.0.1", "localhost")
# What provision grants a site's user on its database (provision:db/Provision/Service/db/mysql.php).
DRUPAL_GRANTS = ("SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, "
                 "CREATE TEMPORARY TABLES, LOCK TABLES")
BULK_THRESHOLD = 20_000  # rows: above this a table is loaded with LOAD DATA


def ident(name: str) -> str:
    """A validated, backtick-quoted identifier (database/table/column)."""
    if not IDENT_RE.fullmatch(name):
        raise ValueError(f"unsafe SQL identifier {name!r}")
    return f"`{name}`"


def check_account(name: str) -> str:
    if not IDENT_RE.fullmatch(name) or len(name) > 80:
        raise ValueError(f"unsafe account name {name!r}")
    return name


@dataclass(frozen=True)
class AdminParams:
    """An account that may create databases and users (the lab uses root on 127.0.0.1:3306).

    ``unix_socket``: connect through this socket instead of host/port (a private server without TCP).
    """

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    unix_socket: str | None = None

    @property
    def client_host(self) -> str:
        """The db_host accounts get: 'localhost' means the client's default socket, as in Aegir."""
        return "localhost" if self.unix_socket else self.host

    @classmethod
    def discover(cls) -> AdminParams:
        """``$QM_LAB_DB_ADMIN`` or /etc/qm-tui-lab/admin.json (written by scripts/install-system.sh
        when root has no TCP password login, as on a fresh Debian), else root with no password."""
        import json
        import os
        from pathlib import Path

        path = Path(os.environ.get("QM_LAB_DB_ADMIN") or "/etc/qm-tui-lab/admin.json")
        if path.is_file():
            data = json.loads(path.read_text())
            return cls(host=data.get("host", "127.0.0.1"), port=int(data.get("port", 3306)),
                       user=data["user"], password=data.get("password", ""))
        return cls()

    def connect(self, database: str | None = None, **kw: Any) -> pymysql.connections.Connection:
        where: dict[str, Any] = {"unix_socket": self.unix_socket} if self.unix_socket else \
            {"host": self.host, "port": self.port}
        return pymysql.connect(**where, user=self.user, password=self.password, database=database,
                               charset="utf8mb4", autocommit=True, **kw)


@dataclass(frozen=True)
class HostmasterAccounts:
    database: str
    ro: DbCreds  # SELECT only: qm-tui
    rw: DbCreds  # everything on that database: drush on the master
    load_seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


def schema_statements() -> list[str]:
    text = resources.files(__package__).joinpath("hostmaster_schema.sql").read_text("utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*$", text, flags=re.M) if s.strip()]


# --- version_code, as Aegir computes it (realism only: the product must not use it) -----------

_RELEASE_TYPES = {"": 0, "dev": 0, "unstable": 1, "alpha": 2, "beta": 3, "rc": 4, "release": 5}
_VC_CORE = re.compile(
    r"^(?P<platform_major>\d?)\.(?P<platform_minor>[x\d]*)?(-(?P<package_version_type>"
    r"dev|unstable|alpha|beta|rc)?(?P<package_patch_level>\d)*)?$")
_VC_CONTRIB = re.compile(
    r"(?P<platform_major>\d?)\.(?P<platform_minor>[x\d]*)?(-(?P<package_major>\d*)?\.(?P<package_minor>"
    r"[x\d]*)?(-(?P<package_version_type>alpha|unstable|beta|rc|dev)?(?P<package_patch_level>[\d]*)?)?)?")
_VC_DEFAULTS = {"platform_major": "0", "platform_minor": "0", "package_major": "0", "package_minor": "0",
                "package_version_type": "release", "package_patch_level": "0"}


def _php_int(s: str) -> int:
    m = re.match(r"\d+", s)
    return int(m.group(0)) if m else 0


@functools.lru_cache(maxsize=4096)
def version_code(version: str) -> int:
    """``hosting_package_instance_version_code``: PHP preg_match semantics included.

    PHP leaves non-participating groups *after* the last participating one out of ``$matches`` (so
    the defaults apply) and sets earlier ones to ''; ``(\\d)*`` keeps its last repetition.
    """
    m = _VC_CORE.search(version) or _VC_CONTRIB.search(version)
    if not m:
        return 0
    last = max((i for i in range(1, (m.re.groups or 0) + 1) if m.start(i) != -1), default=0)
    vals: dict[str, str] = {}
    for name, idx in m.re.groupindex.items():
        if m.start(idx) != -1:
            vals[name] = m.group(idx)
        elif idx < last:
            vals[name] = ""
    vals = {**_VC_DEFAULTS, **vals}
    # sprintf("%d%02d%02d%02d%02d%02d", ...) then (float): a digit string, not a sum
    text = (f'{_php_int(vals["platform_major"])}{_php_int(vals["platform_minor"]):02d}'
            f'{_php_int(vals["package_major"]):02d}{_php_int(vals["package_minor"]):02d}'
            f'{_RELEASE_TYPES[vals["package_version_type"]]:02d}{_php_int(vals["package_patch_level"]):02d}')
    return int(float(text))


# --- rows ---------------------------------------------------------------------------------------

Rows = tuple[tuple[str, ...], list[tuple[Any, ...]]]


def world_rows(world: World) -> dict[str, Rows]:
    """Every table's (columns, rows) except hosting_package_instance (streamed, see ``load_world``)."""
    t: dict[str, Rows] = {}

    def put(table: str, cols: str, rows: Iterable[tuple[Any, ...]]) -> None:
        t[table] = (tuple(cols.split()), list(rows))

    nodes = list(world.nodes())
    put("node", "nid vid type language title uid status created changed comment promote sticky tnid translate",
        ((n.nid, n.vid, n.TYPE, "und", n.title, 1, 1, n.created, n.changed, 0, 0, 0, 0, 0) for n in nodes))
    put("node_revision", "nid vid uid title log timestamp status comment promote sticky",
        ((r.nid, r.vid, 1, r.title, r.log, r.changed, 1, 0, 0, 0) for n in nodes for r in n.revisions()))
    put("hosting_context", "nid name",
        ((n.nid, ctx) for n in nodes if (ctx := getattr(n, "context", None))))
    put("hosting_site", "vid nid client db_server db_name platform profile language last_cron cron_key "
        "verified status",
        ((r.vid, r.nid, r.client, r.db_server, r.db_name, r.platform, r.profile, r.language, r.last_cron,
          r.cron_key, r.verified, r.status) for s in world.sites for r in s.revisions()))
    put("hosting_site_alias", "vid nid alias automatic redirection",
        ((r.vid, r.nid, a.alias, a.automatic, a.redirection) for s in world.sites for r in s.revisions()
         for a in r.aliases))
    put("hosting_site_backups", "bid site web_server description filename size timestamp",
        ((b.bid, b.site, b.web_server, b.description, b.filename, b.size, b.timestamp) for b in world.backups))
    put("hosting_platform", "vid nid publish_path makefile web_server verified status make_working_copy",
        ((r.vid, r.nid, r.publish_path, r.makefile, r.web_server, r.verified, r.status, r.make_working_copy)
         for p in world.platforms for r in p.revisions()))
    put("hosting_platform_client_access", "pid cid",
        ((p.nid, c) for p in world.platforms for c in p.client_access))
    put("hosting_server", "vid nid human_name verified status",
        ((r.vid, r.nid, r.human_name, r.verified, r.status) for s in world.servers for r in s.revisions()))
    put("hosting_ip_addresses", "nid ip_address", ((s.nid, ip) for s in world.servers for ip in s.ips))
    put("hosting_service", "vid nid service type restart_cmd port available",
        ((r.vid, r.nid, v.service, v.type, v.restart_cmd, v.port, v.available)
         for s in world.servers for r in s.revisions() for v in r.services))
    put("hosting_web_cluster", "vid nid web_server_nid",
        ((r.vid, r.nid, m) for s in world.servers for r in s.revisions() for m in r.cluster_members))
    put("hosting_web_pack", "vid nid web_server_nid type",
        ((r.vid, r.nid, m, kind) for s in world.servers for r in s.revisions() for m, kind in r.pack_members))
    put("hosting_db_server", "vid nid db_user db_passwd",
        ((r.vid, r.nid, r.db_user, r.db_passwd or "") for s in world.servers for r in s.revisions()
         if r.db_user is not None))
    put("hosting_client", "vid nid uname", ((r.vid, r.nid, r.uname) for c in world.clients for r in c.revisions()))
    put("hosting_client_user", "user client contact_type",
        ((uid, c.nid, kind) for c in world.clients for uid, kind in c.users))
    put("hosting_package", "vid nid package_type short_name old_short_name description",
        ((p.vid, p.nid, p.package_type, p.short_name, p.old_short_name, p.description) for p in world.packages))
    put("hosting_package_languages", "iid language",
        ((iid, lang) for iid, langs in world.languages.items() for lang in langs))
    put("hosting_task", "vid nid task_type rid task_status executed delta",
        ((r.vid, r.nid, r.task_type, r.rid, r.task_status, r.executed, r.delta)
         for k in world.tasks for r in k.revisions()))
    put("hosting_task_arguments", "vid nid name value",
        ((r.vid, r.nid, name, value) for k in world.tasks for r in k.revisions()
         for name, value in r.arguments.items()))
    put("hosting_task_log", "vid nid type message error timestamp",
        ((r.vid, r.nid, kind, msg, "", r.changed) for k in world.tasks for r in k.revisions()
         for kind, msg in r.log_entries))
    return t


INSTANCE_COLS = ("iid", "rid", "package_id", "filename", "schema_version", "version", "version_code", "status",
                 "platform")


def _instance_tuples(instances: Iterable[PackageInstance]) -> list[tuple[Any, ...]]:
    return [(i.iid, i.rid, i.package_id, i.filename, i.schema_version, i.version, version_code(i.version),
             i.status, i.platform) for i in instances]


# --- loading ------------------------------------------------------------------------------------


def _insert(cur: Any, table: str, cols: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs (PyMySQL's executemany batches VALUES lists up to ~1 MB per statement)."""
    if rows:
        sql = (f"INSERT INTO {ident(table)} ({', '.join(ident(c) for c in cols)}) "
               f"VALUES ({', '.join(['%s'] * len(cols))})")
        cur.executemany(sql, rows)


_TSV_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _tsv(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_TSV_ESC)
    return str(int(value))


def _load_data(cur: Any, table: str, cols: Sequence[str], instances: Iterable[PackageInstance]) -> None:
    """LOAD DATA LOCAL INFILE from a temporary TSV file (the fast path for the scale world)."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".tsv", delete=False) as fh:
        path = fh.name
        try:
            fh.writelines(f"{i.iid}\t{i.rid}\t{i.package_id}\t{_tsv(i.filename)}\t{i.schema_version}\t"
                          f"{_tsv(i.version)}\t{version_code(i.version)}\t{i.status}\t{i.platform}\n"
                          for i in instances)
        except BaseException:
            os.unlink(path)
            raise
    try:
        cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE {ident(table)} CHARACTER SET utf8mb4 "
                    f"({', '.join(ident(c) for c in cols)})", (path,))
    finally:
        os.unlink(path)


def load_world(conn: pymysql.connections.Connection, world: World) -> dict[str, int]:
    """Insert every row of ``world`` into the (empty) schema on ``conn``; one transaction."""
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        cur.execute("SET SESSION unique_checks = 0")  # every key we insert is unique by construction
        conn.begin()
        for table, (cols, rows) in world_rows(world).items():
            _insert(cur, table, cols, rows)
            counts[table] = len(rows)
        n = len(world.instances)
        if n > BULK_THRESHOLD:
            # Building the secondary indexes once, sorted, is much faster than maintaining them per row.
            cur.execute("ALTER TABLE hosting_package_instance DROP INDEX hosting_package_rid_idx, "
                        "DROP INDEX hosting_package_id_idx")
            try:
                _load_data(cur, "hosting_package_instance", INSTANCE_COLS, world.instances.values())
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] not in (1148, 2068, 3948):  # local infile refused
                    raise
                rows = iter(world.instances.values())
                while chunk := _instance_tuples(itertools.islice(rows, 50_000)):
                    _insert(cur, "hosting_package_instance", INSTANCE_COLS, chunk)
            cur.execute("ALTER TABLE hosting_package_instance ADD INDEX hosting_package_rid_idx (rid), "
                        "ADD INDEX hosting_package_id_idx (package_id)")
        else:
            _insert(cur, "hosting_package_instance", INSTANCE_COLS, _instance_tuples(world.instances.values()))
        counts["hosting_package_instance"] = n
        conn.commit()
        cur.execute("SET SESSION unique_checks = 1")
    return counts


# --- accounts and lifecycle ---------------------------------------------------------------------


def _create_account(cur: Any, user: str, password: str, grants: str, database: str) -> None:
    for host in ACCOUNT_HOSTS:
        cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
        cur.execute(f"GRANT {grants} ON {ident(database)}.* TO %s@%s", (user, host))


def kill_sessions(cur: Any, users: Iterable[str]) -> None:
    """End the sessions of these accounts: an open transaction would make DROP DATABASE wait forever."""
    users = list(users)
    if not users:
        return
    cur.execute(f"SELECT id FROM information_schema.processlist WHERE user IN ({', '.join(['%s'] * len(users))})",
                users)
    for (pid,) in cur.fetchall():
        try:
            cur.execute("KILL CONNECTION %s", (int(pid),))
        except pymysql.err.OperationalError as exc:  # already gone
            if not exc.args or exc.args[0] != 1094:
                raise


def account_names(account_prefix: str) -> tuple[str, str]:
    return check_account(f"{account_prefix}hm_ro"), check_account(f"{account_prefix}hm_rw")


def create_hostmaster(admin: AdminParams, database: str, world: World,
                      account_prefix: str | None = None) -> HostmasterAccounts:
    """Create ``database`` with the Aegir 3 schema, load ``world``, create the two accounts.

    Accounts are ``<account_prefix>hm_ro`` / ``hm_rw`` at 127.0.0.1 and localhost; the default
    prefix is the database name without its ``hostmaster`` suffix (``qmt1a2b_hostmaster`` ->
    ``qmt1a2b_``). Fails if the database already exists (never loads over data).
    """
    ro_user, rw_user = account_names(_default_prefix(database) if account_prefix is None else account_prefix)
    ro_pw, rw_pw = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    conn = admin.connect(local_infile=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {ident(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            cur.execute(f"USE {ident(database)}")
            for stmt in schema_statements():
                cur.execute(stmt)
        t0 = time.monotonic()
        rows = load_world(conn, world)
        seconds = time.monotonic() - t0
        with conn.cursor() as cur:
            _create_account(cur, ro_user, ro_pw, "SELECT", database)
            _create_account(cur, rw_user, rw_pw, DRUPAL_GRANTS, database)
    finally:
        conn.close()
    return HostmasterAccounts(
        database=database,
        ro=DbCreds(admin.client_host, admin.port, database, ro_user, ro_pw),
        rw=DbCreds(admin.client_host, admin.port, database, rw_user, rw_pw),
        load_seconds=seconds, rows=rows)


def _default_prefix(database: str) -> str:
    return database.removesuffix("hostmaster") if database.endswith("hostmaster") else f"{database}_"


def drop_hostmaster(admin: AdminParams, database: str, account_prefix: str | None = None) -> None:
    """Drop the database and both accounts (missing ones are fine); same default prefix as create."""
    if account_prefix is None:
        account_prefix = _default_prefix(database)
    conn = admin.connect()
    try:
        with conn.cursor() as cur:
            kill_sessions(cur, account_names(account_prefix))
            cur.execute(f"DROP DATABASE IF EXISTS {ident(database)}")
            for user in account_names(account_prefix):
                for host in ACCOUNT_HOSTS:
                    cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
    finally:
        conn.close()


def drop_prefix(admin: AdminParams, prefix: str) -> tuple[list[str], list[str]]:
    """Drop every database and account whose name starts with ``prefix`` (the lab's final sweep).

    The prefix must look like ``qmt<hex>_`` so a typo cannot sweep real databases.
    """
    if not re.fullmatch(r"qmt[0-9a-f]{4,32}_", prefix):
        raise ValueError(f"refusing to sweep prefix {prefix!r} (expected qmt<hex>_)")
    like = prefix.replace("_", "\\_") + "%"
    conn = admin.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT user FROM mysql.user WHERE user LIKE %s", (like,))
            kill_sessions(cur, [r[0] for r in cur.fetchall()])
            cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", (like,))
            dbs = [r[0] for r in cur.fetchall()]
            for db in dbs:
                cur.execute(f"DROP DATABASE IF EXISTS {ident(db)}")
            cur.execute("SELECT user, host FROM mysql.user WHERE user LIKE %s", (like,))
            users = [(u, h) for u, h in cur.fetchall()]
            for user, host in users:
                cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
    finally:
        conn.close()
    return dbs, [f"{u}@{h}" for u, h in users]


def stamp_verified(admin: AdminParams, database: str, world: World, when: int,
                   nids: Iterable[int] | None = None) -> None:
    """Aegir verified these platforms and sites (default: every one verified before) at ``when``: the
    current revisions' ``verified``, in the database and in ``world``.

    The lab calls it once its trees are written: a verify is always later than the code it scanned,
    and preflight refuses code changed since (by ctime, which cannot be set back)."""
    changed = world.stamp_verified(when, nids)
    if not changed:
        return
    conn = admin.connect(database)
    try:
        with conn.cursor() as cur:
            for table in ("hosting_platform", "hosting_site"):
                cur.execute(f"UPDATE {ident(table)} x JOIN node n ON n.vid = x.vid SET x.verified = %s "
                            f"WHERE n.nid IN ({', '.join(['%s'] * len(changed))})", (when, *changed))
    finally:
        conn.close()


def queue_task(admin: AdminParams, database: str, rid: int, task_type: str, status: int = 0) -> int:
    """``hosting_add_task``: a task node (titled as ``hosting_task_set_title`` does) on node ``rid``, queued
    (0) or with ``status`` (-1 processing: the dispatcher has started it). Returns its nid."""
    now = int(time.time())
    conn = admin.connect(database)
    try:
        with conn.cursor() as cur:
            conn.begin()
            cur.execute("SELECT title FROM node WHERE nid = %s", (rid,))
            title = f"{task_type.replace('_', ' ').capitalize()}: {cur.fetchone()[0]}"
            cur.execute("INSERT INTO node_revision (nid, uid, title, log, timestamp) VALUES (0, 1, %s, '', %s)",
                        (title, now))
            vid = cur.lastrowid
            cur.execute("INSERT INTO node (vid, type, language, title, uid, status, created, changed) "
                        "VALUES (%s, 'task', 'und', %s, 1, 1, %s, %s)", (vid, title, now, now))
            nid = cur.lastrowid
            cur.execute("UPDATE node_revision SET nid = %s WHERE vid = %s", (nid, vid))
            executed = None if status == 0 else now
            cur.execute("INSERT INTO hosting_task (vid, nid, task_type, rid, task_status, executed) "
                        "VALUES (%s, %s, %s, %s, %s, %s)", (vid, nid, task_type, rid, status, executed))
            conn.commit()
        return int(nid)
    finally:
        conn.close()


def finish_task(admin: AdminParams, database: str, task_nid: int, status: int = 1) -> None:
    """The dispatcher ran the task: its current revision gets ``status`` (1 success, 2 error, 3 warning)."""
    conn = admin.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE hosting_task t JOIN node n ON n.vid = t.vid SET t.task_status = %s, "
                        "t.executed = COALESCE(t.executed, UNIX_TIMESTAMP()) WHERE n.nid = %s", (status, task_nid))
    finally:
        conn.close()


def record_verify(admin: AdminParams, database: str, site_nid: int) -> None:
    """What a site verify task does to the hostmaster (hosting_package_instance_sync, then ``verified``):
    the site's rows are re-recorded on its current platform, with that platform's versions, and its
    ``verified`` is now (never earlier than before). Tests use it to stand for "the operator ran a verify
    in Aegir" after a quick migrate."""
    from .drush_hosting_task import sync_site_verify

    conn = admin.connect(database)
    try:
        with conn.cursor() as cur:
            sync_site_verify(cur, site_nid)
    finally:
        conn.close()
