"""Pilot tests of the Batch screen and of batches on the Runs screen, from a journal filled by hand."""

from __future__ import annotations

import pytest
from run_support import T0, new_run, until
from textual.widgets import DataTable
from tui_helpers import plain, settle

from qm_tui.app import QmApp
from qm_tui.config import Config
from qm_tui.engine.batch_journal import BatchJournal, SiteVerdict
from qm_tui.engine.journal import Journal
from qm_tui.screens.batch import BatchScreen
from qm_tui.screens.run import RunScreen
from qm_tui.screens.runs import RunsScreen

SIZE = (120, 36)
NOW = T0 + 300


@pytest.fixture
def cfg(state_cfg: Config) -> Config:
    return state_cfg


@pytest.fixture
def journal(state_journal: Journal) -> Journal:
    return state_journal


def a_batch(journal: Journal, batch_id: str = "b20261204-120000-abcd") -> str:
    bj = BatchJournal(journal)
    bj.create(batch_id, "drupal-7.97-a", "drupal-7.98-b", {"concurrency": 2, "canary": 1},
              [("one.lab.test", SiteVerdict.PENDING, None, {"upgrade": 3}),
               ("two.lab.test", SiteVerdict.PENDING, None, {}),
               ("three.lab.test", SiteVerdict.PENDING, None, {}),
               ("odd.lab.test", SiteVerdict.SKIPPED, "install profile acme not on the target", {})])
    bj.set(batch_id, started_at=T0)
    new_run(journal, "r-one", "one.lab.test")
    bj.set_site(batch_id, 0, state=SiteVerdict.MIGRATED, run_id="r-one", started_at=T0, ended_at=T0 + 100)
    new_run(journal, "r-two", "two.lab.test")
    bj.set_site(batch_id, 1, state=SiteVerdict.RUNNING, run_id="r-two", started_at=T0 + 100)
    return batch_id


def rows(screen: BatchScreen) -> list[list[str]]:
    table = screen.query_one("#batch-sites", DataTable)
    return [[cell(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def cell(value: object) -> str:
    return value if isinstance(value, str) else value.plain  # type: ignore[attr-defined]


async def attach(pilot, app: QmApp, batch_id: str) -> BatchScreen:
    await settle(pilot)
    screen = BatchScreen(batch_id, clock=lambda: NOW, poll_seconds=0.05)
    await app.push_screen(screen)
    await until(pilot, lambda: screen.record is not None and len(rows(screen)) == 4, what="the batch")
    return screen


async def test_the_batch_screen_shows_every_site_totals_and_eta(cfg: Config, journal: Journal) -> None:
    batch_id = a_batch(journal)
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await attach(pilot, app, batch_id)
        got = rows(screen)
        assert got[0][:4] == ["one.lab.test", "migrated", "1m40s", "r-one"]
        assert got[1][:2] == ["two.lab.test", "running"] and got[1][2] == "3m20s"
        assert got[3][1] == "skipped" and "acme" in got[3][4]
        status = plain(screen.query_one("#batch-status"))
        assert status.startswith("running · 1 migrated · 0 rolled back · 1 running · 1 pending · 1 skipped")
        assert "ETA ~1m40s" in status  # 100 s a site, 2 left, 2 at a time
        # a site that ends shows up at the next poll
        BatchJournal(journal).set_site(batch_id, 1, state=SiteVerdict.ROLLED_BACK, ended_at=T0 + 150,
                                       reason="verify failed")
        await until(pilot, lambda: rows(screen)[1][1] == "rolled back", what="the next poll")
        # Enter on a site opens its run; on a skipped one it says why not
        table = screen.query_one("#batch-sites", DataTable)
        table.move_cursor(row=3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        table.move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), what="the run screen")
        assert app.screen.run_id == "r-one"


async def test_abort_from_the_batch_screen_writes_the_request(cfg: Config, journal: Journal) -> None:
    batch_id = a_batch(journal)
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await attach(pilot, app, batch_id)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("escape")  # the confirm: cancelled, nothing sent
        await pilot.pause()
        assert [r[0] for r in journal.db.execute("SELECT kind FROM requests WHERE run_id = ?", (batch_id,))] == []
        await pilot.press("a")
        await pilot.pause()
        await pilot.click("#action-ok")
        await pilot.pause()
    kinds = [r[0] for r in journal.db.execute("SELECT kind FROM requests WHERE run_id = ?", (batch_id,))]
    assert kinds == ["abort"]


async def test_batches_are_listed_and_opened_from_the_runs_screen(cfg: Config, journal: Journal) -> None:
    batch_id = a_batch(journal)
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = RunsScreen()
        await app.push_screen(runs)
        table = runs.query_one("#runs", DataTable)
        await until(pilot, lambda: table.row_count == 3, what="the runs and the batch")
        assert cell(table.get_row_at(0)[1]) == "batch of 4 sites"
        table.move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, BatchScreen), what="the batch screen")
        assert app.screen.batch_id == batch_id
