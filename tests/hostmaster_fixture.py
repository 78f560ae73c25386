"""A throw-away hostmaster database for tests (and the benchmark): create, configure, drop.

``lab_hostmaster(world)`` creates ``qmt<hex>_hostmaster`` with its own ``qmt<hex>_hm_ro``
SELECT-only account and drops both on exit, also when the body fails. ``write_config`` writes a
qm-tui config file (mode 0600, password inline) for one such database. When MariaDB is not
reachable the helpers raise ``Unreachable``; a test fixture turns that into a skip with the reason
(``tests/conftest.py`` turns skips into failures under CI=true).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from qm_lab.hostmaster_db import (
    ACCOUNT_HOSTS,
    AdminParams,
    HostmasterAccounts,
    create_hostmaster,
    drop_hostmaster,
    ident,
)
from qm_lab.world import DbCreds, World

# The lab admin account of scripts/install-system.sh (a fresh Debian's root has no TCP login), else root.
ADMIN = AdminParams.discover()
MASTER = "aegir.lab.test"


class Unreachable(RuntimeError):
    """MariaDB cannot be reached with the admin account: the reason to skip."""


def check_admin(admin: AdminParams = ADMIN) -> None:
    try:
        admin.connect().close()
    except pymysql.err.MySQLError as exc:
        raise Unreachable(f"MariaDB not reachable at {admin.host}:{admin.port} as {admin.user}: {exc}") from None


def new_prefix() -> str:
    return f"qmt{secrets.token_hex(4)}_"


@contextmanager
def lab_hostmaster(world: World, admin: AdminParams = ADMIN) -> Iterator[HostmasterAccounts]:
    """A uniquely named hostmaster DB loaded with ``world``; dropped (with its accounts) on exit."""
    check_admin(admin)
    prefix = new_prefix()
    database = f"{prefix}hostmaster"
    try:
        yield create_hostmaster(admin, database, world, account_prefix=prefix)
    finally:
        drop_hostmaster(admin, database, prefix)


def config_data(creds: DbCreds, root: Path, *, server: str = MASTER, strict: bool = False,
                **db_overrides: Any) -> dict[str, Any]:
    db: dict[str, Any] = {"host": creds.host, "port": creds.port, "user": creds.user, "password": creds.password,
                          "name": creds.name, "connect_timeout": 5, "read_timeout": 60}
    db.update(db_overrides)
    return {
        "hostmaster": {"db": db, "server": server},
        "aegir_root": "/var/aegir",
        "ssh": {"known_hosts": str(root / "known_hosts")},
        "state_dir": str(root / "state"),
        "strict": strict,
    }


def write_config(path: Path, creds: DbCreds, **kw: Any) -> Path:
    """A config file for ``creds`` at ``path`` (mode 0600: the password is inline)."""
    data = config_data(creds, path.parent, **kw)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh)
    return path


def admin_query(sql: str, args: Any = None, database: str | None = None,
                admin: AdminParams = ADMIN) -> list[tuple[Any, ...]]:
    conn = admin.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


@contextmanager
def side_database(accounts: HostmasterAccounts, suffix: str, copy_from: str | None = None,
                  admin: AdminParams = ADMIN) -> Iterator[DbCreds]:
    """Another database next to a test hostmaster (``<prefix><suffix>``), readable by its read-only
    account, empty or a copy of ``copy_from``'s tables; dropped on exit."""
    prefix = accounts.database.removesuffix("hostmaster")
    name = f"{prefix}{suffix}"
    conn = admin.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            try:
                for host in ACCOUNT_HOSTS:
                    cur.execute(f"GRANT SELECT ON {ident(name)}.* TO %s@%s", (accounts.ro.user, host))
                if copy_from is not None:
                    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                (copy_from,))
                    for (table,) in cur.fetchall():
                        cur.execute(f"CREATE TABLE {ident(name)}.{ident(table)} LIKE {ident(copy_from)}.{ident(table)}")
                        cur.execute(f"INSERT INTO {ident(name)}.{ident(table)} "
                                    f"SELECT * FROM {ident(copy_from)}.{ident(table)}")
                yield DbCreds(accounts.ro.host, accounts.ro.port, name, accounts.ro.user, accounts.ro.password)
            finally:
                cur.execute(f"DROP DATABASE IF EXISTS {ident(name)}")
    finally:
        conn.close()


def accounts_or_skip(world: World) -> Iterator[HostmasterAccounts]:
    """For a module fixture: a hostmaster with ``world`` for the module, or a skip naming why (a failure
    under CI=true)."""
    try:
        with lab_hostmaster(world) as acc:
            yield acc
    except Unreachable as exc:
        pytest.skip(str(exc))
