"""TUI tests run against a real hostmaster database built from the lab scenario.

One database per test session (``qmt<hex>_hostmaster``, with its own ``qmt<hex>_hm_ro`` SELECT-only
account), dropped at the end. The world itself is built with a fixed prefix so every name the UI
shows (site DB names) is the same in every run: snapshots compare byte for byte.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pymysql
import pytest
import yaml

from qm_tui.app import QmApp
from qm_tui.config import Config, load_config

WORLD_PREFIX = "qmtui_"  # only names inside the data; nothing is created under it


@pytest.fixture
def state_cfg(tui_config: Config, tmp_path) -> Config:
    """The session's config with a state dir (journal) of this test's own."""
    import dataclasses

    return dataclasses.replace(tui_config, state_dir=tmp_path / "state")


@pytest.fixture
def state_journal(state_cfg: Config):
    from qm_tui.engine.journal import Journal

    j = Journal(state_cfg.state_dir)
    yield j
    j.close()


@pytest.fixture(scope="session")
def lab_world():
    from qm_lab.scenario import build_lab_world

    return build_lab_world(WORLD_PREFIX)


@pytest.fixture(scope="session")
def hostmaster(lab_world) -> Iterator[object]:
    """A unique hostmaster DB with the lab world; yields the HostmasterAccounts."""
    from qm_lab.hostmaster_db import AdminParams, create_hostmaster, drop_hostmaster

    admin = AdminParams.discover()
    try:
        admin.connect().close()
    except pymysql.err.MySQLError as exc:
        pytest.skip(f"MariaDB not reachable at {admin.host}:{admin.port} as {admin.user}: {exc}")
    account_prefix = f"qmt{secrets.token_hex(4)}_"
    database = f"{account_prefix}hostmaster"
    try:
        accounts = create_hostmaster(admin, database, lab_world, account_prefix=account_prefix)
        yield accounts
    finally:
        drop_hostmaster(admin, database, account_prefix)


@pytest.fixture(scope="session")
def tui_config(hostmaster, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The app's config: the read-only account, password inline (so the file is mode 0600)."""
    ro = hostmaster.ro
    root = tmp_path_factory.mktemp("tui-config")
    path = root / "config.yaml"
    data = {
        "title": "lab",  # fixed sub-title: no host name of this machine on screen
        "hostmaster": {
            "db": {"host": ro.host, "port": ro.port, "user": ro.user, "password": ro.password,
                   "name": ro.name, "connect_timeout": 5, "read_timeout": 30},
            "server": "aegir.lab.test",
        },
        "aegir_root": "/var/aegir",
        "ssh": {"known_hosts": str(root / "known_hosts")},
        "state_dir": str(root / "state"),
        "strict": False,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh)
    return load_config(path)


@pytest.fixture
def make_app(tui_config: Config):
    def make(read_only: bool = False) -> QmApp:
        return QmApp(tui_config, read_only=read_only)

    return make


@pytest.fixture(autouse=True)
def _no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor makes screenshots depend on timing; keep it solid."""
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
