"""``batch.select`` against a real MariaDB hostmaster (the lab scenario, no hosts): one snapshot for the
whole selection, and for every site the verdict ``service.targets`` gives it alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hostmaster_fixture import accounts_or_skip, write_config

from qm_lab.scenario import build_lab_world
from qm_tui.config import Config, load_config
from qm_tui.engine import batch, service
from qm_tui.engine.hostmaster_db import HostmasterDB

A, B = "drupal-7.97-a", "drupal-7.98-b"


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    for acc in accounts_or_skip(build_lab_world("qmtsel_")):
        yield load_config(write_config(tmp_path_factory.mktemp("sel") / "config.yaml", acc.ro))


@pytest.mark.parametrize("strict", [False, True])
def test_each_site_gets_the_verdict_targets_gives_it_alone(cfg: Config, strict: bool) -> None:
    cands = asyncio.run(batch.select(cfg, A, B, strict=strict))
    assert len(cands) > 5 and any(c.eligible for c in cands) and any(not c.eligible for c in cands)
    for c in cands:
        v = service.run_sync(service.targets(cfg, c.uri, strict=strict, only=B)).verdicts[0]
        assert (c.eligible, c.reasons, c.changes) == \
               (v.selectable, list(v.reasons), {str(k): n for k, n in v.counts.items() if n}), c.uri


def test_named_sites_off_the_platform_and_a_filter(cfg: Config) -> None:
    on_a = [c.uri for c in asyncio.run(batch.select(cfg, A, B))]
    off = next(c.uri for c in asyncio.run(batch.select(cfg, B, A)))
    cands = asyncio.run(batch.select(cfg, A, B, sites=[on_a[0], off, on_a[0]]))
    assert [c.uri for c in cands] == [on_a[0], off]
    assert cands[1].reasons == [f"not on {A} (on {B})"] and not cands[1].eligible
    assert [c.uri for c in asyncio.run(batch.select(cfg, A, B, text=on_a[1][:6]))] == \
           [u for u in on_a if on_a[1][:6] in u]


def test_one_connection_and_one_inventory_read_for_the_whole_platform(cfg: Config,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    connects: list[int] = []
    lists: list[str] = []
    orig_connect, orig_query = HostmasterDB.connect, HostmasterDB.query

    async def connect(self: HostmasterDB) -> None:
        connects.append(1)
        await orig_connect(self)

    async def query(self: HostmasterDB, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        flat = " ".join(sql.split())
        if "JOIN hosting_platform p ON p.vid = n.vid LEFT JOIN hosting_context" in flat or "GROUP_CONCAT" in flat:
            lists.append(flat)  # the platform list, or a read of the target's package sets
        return await orig_query(self, sql, args)

    monkeypatch.setattr(HostmasterDB, "connect", connect)
    monkeypatch.setattr(HostmasterDB, "query", query)
    cands = asyncio.run(batch.select(cfg, A, B))
    assert len(cands) > 5
    assert len(connects) == 1 and len(lists) == 2, (connects, lists)  # not once per site
