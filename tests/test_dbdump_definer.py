"""The site DB dump restores as the site's own user although its views, triggers, routines and event were
created for another, privileged DEFINER (issue 14 L1). Real MariaDB and qm-tui's own dump/restore commands,
run through bash as ``Runtime.with_db_credentials`` runs them (credentials on stdin). The site user has what
provision's grant() gives, ``ALL PRIVILEGES ON `db`.*``: no SUPER or SET USER, so a DEFINER of someone else
cannot be re-created. A row, a table comment, a view and a trigger body holding "DEFINER=`x`@`y`" and whole
dump header lines must come back byte for byte."""

from __future__ import annotations

import dataclasses
import secrets
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from hostmaster_fixture import ADMIN, Unreachable, admin_query, check_admin, new_prefix
from test_push_excludes import ctx_for

from qm_lab.hostmaster_db import ACCOUNT_HOSTS, ident
from qm_tui.engine.dbdump import (
    OPTS,
    READ_CNF,
    STRIP_DEFINERS,
    dump_command,
    option_file,
    restore_command,
    verify_command,
)
from qm_tui.engine.operations import MigrationContext

ODD = "DEFINER=`x`@`y`"
ROWS = {
    1: ODD,
    # every header form the filter rewrites, each on a line of its own inside one value
    2: "\n".join(["/*!50013 DEFINER=`x`@`y` SQL SECURITY DEFINER */",
                  "/*!50001 CREATE ALGORITHM=UNDEFINED DEFINER=`x` SQL SECURITY DEFINER VIEW `v` AS select 1 */;",
                  "/*!50003 CREATE*/ /*!50017 DEFINER=`x`@`y`*/ /*!50003 TRIGGER t BEFORE INSERT ON t */;;",
                  "/*!50106 CREATE*/ /*!50117 DEFINER=`x`@`y`*/ /*!50106 EVENT `e` ON SCHEDULE */ ;;",
                  "CREATE DEFINER=`x`@`y` PROCEDURE `p`()", ""]),
    3: "it's é ✓ \\ \"q\" \t DEFINER=`a``b`@`%` \r\n CREATE DEFINER=`x`@`y` FUNCTION",
}


@dataclasses.dataclass(frozen=True)
class SiteDb:
    name: str
    user: str
    password: str
    definer: str  # the privileged account every object is created for ('%' host)
    role: str  # a role as a view's definer: mariadb-dump writes that view on one line

    def creds(self, password: str | None = None) -> dict[str, object]:
        host = ADMIN.client_host
        return {"db_name": self.name, "db_user": self.user, "db_passwd": password or self.password,
                "db_host": host, "db_port": None if host == "localhost" else ADMIN.port}

    def connect(self) -> pymysql.connections.Connection:
        return dataclasses.replace(ADMIN, user=self.user, password=self.password).connect(self.name)


def make_objects(db: SiteDb) -> None:
    conn = ADMIN.connect(db.name)
    try:
        with conn.cursor() as cur:
            d, r = f"{conn.escape(db.definer)}@'%'", conn.escape(db.role)
            cur.execute(f"CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT NOT NULL, note VARCHAR(64)) "
                        f"COMMENT {conn.escape(ODD)}")
            cur.executemany("INSERT INTO t (id, v) VALUES (%s, %s)", list(ROWS.items()))
            cur.execute(f"CREATE DEFINER={d} SQL SECURITY DEFINER VIEW v_definer AS "
                        f"SELECT id, {conn.escape(ODD)} AS lit FROM t")
            cur.execute(f"CREATE DEFINER={d} SQL SECURITY INVOKER VIEW v_invoker AS SELECT id FROM t")
            cur.execute(f"CREATE DEFINER={r} VIEW v_role AS SELECT 1 AS one")
            cur.execute(f"CREATE DEFINER={d} TRIGGER t_note BEFORE INSERT ON t FOR EACH ROW "
                        f"SET NEW.note = {conn.escape(ODD)}")
            cur.execute(f"CREATE DEFINER={d} PROCEDURE p_one() SELECT 1")
            cur.execute(f"CREATE DEFINER={d} FUNCTION f_answer() RETURNS INT DETERMINISTIC RETURN 42")
            cur.execute(f"CREATE DEFINER={d} EVENT e_daily ON SCHEDULE EVERY 1 DAY DISABLE "
                        "DO DELETE FROM t WHERE id < 0")
    finally:
        conn.close()


@pytest.fixture
def site_db() -> Iterator[SiteDb]:
    try:
        check_admin()
    except Unreachable as exc:
        pytest.skip(str(exc))
    prefix = new_prefix()
    db = SiteDb(f"{prefix}site", f"{prefix}u", secrets.token_urlsafe(15), f"{prefix}d`e f@x", f"{prefix}role")
    try:
        admin_query(f"CREATE DATABASE {ident(db.name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        for host in ACCOUNT_HOSTS:
            admin_query("CREATE USER %s@%s IDENTIFIED BY %s", (db.user, host, db.password))
            admin_query(f"GRANT ALL PRIVILEGES ON {ident(db.name)}.* TO %s@%s", (db.user, host))  # provision's grant()
        admin_query("CREATE USER %s@'%%' IDENTIFIED BY %s", (db.definer, secrets.token_urlsafe(15)))
        admin_query(f"GRANT ALL PRIVILEGES ON {ident(db.name)}.* TO %s@'%%'", (db.definer,))
        admin_query(f"CREATE ROLE {ident(db.role)}")
        admin_query(f"GRANT ALL PRIVILEGES ON {ident(db.name)}.* TO {ident(db.role)}")
        make_objects(db)
        yield db
    finally:
        admin_query(f"DROP DATABASE IF EXISTS {ident(db.name)}")
        for user, host in [(db.user, h) for h in ACCOUNT_HOSTS] + [(db.definer, "%")]:
            admin_query("DROP USER IF EXISTS %s@%s", (user, host))
        admin_query(f"DROP ROLE IF EXISTS {ident(db.role)}")


def as_site(cmd: str, creds: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """``cmd`` as ``Runtime.with_db_credentials`` runs it: {db} filled in, the option file on stdin."""
    cnf, name = option_file(creds, ADMIN.unix_socket)
    return subprocess.run(["bash", "-c", cmd.replace("{db}", shlex.quote(name))], input=cnf, text=True,
                          capture_output=True, timeout=120)


def inventory(db: SiteDb) -> dict[str, str]:
    """Every view, trigger, routine and event of the site DB -> its definer (a view's: and SQL SECURITY)."""
    return {f"{kind} {name}": str(definer) for kind, sql in (
        ("view", "SELECT table_name, CONCAT(definer, ' ', security_type) FROM information_schema.views "
                 "WHERE table_schema = %s"),
        ("trigger", "SELECT trigger_name, definer FROM information_schema.triggers WHERE trigger_schema = %s"),
        ("routine", "SELECT routine_name, definer FROM information_schema.routines WHERE routine_schema = %s"),
        ("event", "SELECT event_name, definer FROM information_schema.events WHERE event_schema = %s"),
    ) for name, definer in admin_query(sql, (db.name,))}


def assert_data_intact(db: SiteDb) -> None:
    rows = admin_query("SELECT id, CAST(v AS BINARY) FROM t ORDER BY id", database=db.name)
    assert rows == [(k, v.encode()) for k, v in ROWS.items()]
    assert admin_query("SELECT table_comment FROM information_schema.tables WHERE table_schema = %s AND "
                 "table_name = 't'", (db.name,)) == [(ODD,)]
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO t (id, v) VALUES (99, 'new')")  # the trigger fires, with its body intact
            cur.execute("SELECT note FROM t WHERE id = 99")
            assert cur.fetchall() == ((ODD,),)
            cur.execute("DELETE FROM t WHERE id = 99")
            cur.execute("SELECT DISTINCT lit FROM v_definer")
            assert cur.fetchall() == ((ODD,),)
            cur.execute("SELECT f_answer()")
            assert cur.fetchall() == ((42,),)
    finally:
        conn.close()


def site_account(db: SiteDb) -> str:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            return str(cur.fetchone()[0])
    finally:
        conn.close()


def dump(ctx: MigrationContext, db: SiteDb) -> str:
    res = as_site(dump_command(ctx), db.creds())
    assert res.returncode == 0, res.stderr
    assert f"@@DUMP {ctx.dump_path} " in res.stdout
    assert subprocess.run(["bash", "-c", verify_command(ctx)], timeout=30).returncode == 0
    return Path(ctx.dump_path).read_text("utf-8")


def restore(ctx: MigrationContext, db: SiteDb) -> None:
    res = as_site(restore_command(ctx), db.creds())
    assert res.returncode == 0, res.stderr
    assert "qm: database restored from" in res.stdout


def test_a_rollback_restores_as_the_site_user(site_db: SiteDb, tmp_path: Path) -> None:
    db, ctx = site_db, ctx_for(tmp_path)
    definer = f"{db.definer}@%"
    before = inventory(db)
    assert before == {"view v_definer": f"{definer} DEFINER", "view v_invoker": f"{definer} INVOKER",
                      "view v_role": f"{db.role}@ DEFINER", "trigger t_note": definer,
                      "routine p_one": definer, "routine f_answer": definer, "event e_daily": definer}
    text = dump(ctx, db)
    assert "DEFINER=`" + db.name.removesuffix("site") not in text  # neither the user nor the role is left
    # Routines and events are not dumped (mariadb-dump's default, as provision's dump): the site user may
    # not SHOW CREATE another definer's routine at all, and the restore leaves them in place.
    assert "p_one" not in text and "e_daily" not in text
    conn = db.connect()
    try:
        with conn.cursor() as cur:  # what an updatedb might do
            cur.execute("UPDATE t SET v = 'changed' WHERE id = 1")
            cur.execute("CREATE TABLE added (id INT)")
            cur.execute("DROP VIEW v_invoker")
            cur.execute("DROP TRIGGER t_note")
    finally:
        conn.close()
    restore(ctx, db)
    me = site_account(db)
    assert inventory(db) == {**before, "view v_definer": f"{me} DEFINER", "view v_invoker": f"{me} INVOKER",
                             "view v_role": f"{me} DEFINER", "trigger t_note": me}
    assert {r[0] for r in admin_query("SHOW TABLES", database=db.name)} == {"t", "v_definer", "v_invoker", "v_role"}
    assert_data_intact(db)


def test_the_filter_strips_every_form_mariadb_dump_writes(site_db: SiteDb, tmp_path: Path) -> None:
    """A dump with --routines and --events (taken by the admin: the site user may not) shows every form; the
    filter changes just those header lines, and the file restores whole as the site user."""
    db, ctx = site_db, ctx_for(tmp_path)
    cnf = "[client]\n" + "".join(f"{k}={v}\n" for k, v in (
        ("user", ADMIN.user), ("password", '"' + ADMIN.password.replace("\\", "\\\\").replace('"', '\\"') + '"'),
        *((("socket", ADMIN.unix_socket),) if ADMIN.unix_socket else (("host", ADMIN.host), ("port", ADMIN.port)))))
    raw = subprocess.run(["bash", "-c", READ_CNF + f'"$(command -v mariadb-dump)" {OPTS} --routines --events '
                          f"--hex-blob --default-character-set=utf8mb4 -- {shlex.quote(db.name)}"],
                         input=cnf.encode(), capture_output=True, timeout=120, check=True).stdout
    out = subprocess.run(["bash", "-c", STRIP_DEFINERS], input=raw, capture_output=True, timeout=60,
                         check=True).stdout
    mark = ("DEFINER=`" + db.name.removesuffix("site")).encode()
    pairs = list(zip(raw.split(b"\n"), out.split(b"\n"), strict=True))
    changed = [(a, b) for a, b in pairs if a != b]
    assert len(changed) == 7  # 3 views, the trigger, the event, the procedure, the function
    for a, b in changed:  # one clause cut from each, as ` DEFINER=...` or `/*!50017 DEFINER=...*/ `
        cut = len(a) - len(b)
        at = next(i for i in range(len(b) + 1) if a[:i + 1] != b[:i + 1])
        assert a[:at] + a[at + cut:] == b and a[at:at + cut].lstrip(b"/*!0123456789 ").startswith(mark), a
    assert mark not in out
    admin_query(f"DROP DATABASE {ident(db.name)}")  # db-level grants outlive the database
    admin_query(f"CREATE DATABASE {ident(db.name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    Path(ctx.dump_path).parent.mkdir(parents=True)
    Path(ctx.dump_path).write_bytes(out)
    restore(ctx, db)
    me = site_account(db)
    assert inventory(db) == {"view v_definer": f"{me} DEFINER", "view v_invoker": f"{me} INVOKER",
                             "view v_role": f"{me} DEFINER", "trigger t_note": me,
                             "routine p_one": me, "routine f_answer": me, "event e_daily": me}
    assert_data_intact(db)


def test_failures_fail_the_step(site_db: SiteDb, tmp_path: Path) -> None:
    db, ctx = site_db, ctx_for(tmp_path)
    res = as_site(dump_command(ctx), db.creds(password="wrong"))
    # pipefail: mariadb-dump's own exit 2, not sed's 0 (nor the trailer check's 9 behind it)
    assert res.returncode == 2 and "qm: dump failed (exit 2)" in res.stderr
    assert list(Path(ctx.dump_path).parent.iterdir()) == []  # no dump, no .partial
    # a verified-looking dump whose import fails: the restore fails instead of reporting "restored"
    Path(ctx.dump_path).write_text("SELECT 1;\nNOT SQL;\n" + "-- padding\n" * 120 + "-- Dump completed\n")
    assert subprocess.run(["bash", "-c", verify_command(ctx)], timeout=30).returncode == 0
    res = as_site(restore_command(ctx), db.creds())
    assert res.returncode == 1 and "qm: import of" in res.stderr and "restored" not in res.stdout
