"""Pilot tests of picking sites on the Sites screen and of the batch confirm: every picked site checked against
the target from the test hostmaster (real ``batch.select``), the policy validated, the target typed to start,
then the batch recorded in the journal and its detached runner started (recorded, not run)."""

from __future__ import annotations

import pytest
from run_support import until
from textual.widgets import Button, Input, Select, Static
from tui_helpers import plain, record_spawns, settle

import qm_tui.app as app_module
from qm_tui.app import QmApp
from qm_tui.config import Config
from qm_tui.engine.batch_journal import BatchJournal, SiteVerdict
from qm_tui.engine.journal import Journal
from qm_tui.screens.batch import BatchScreen
from qm_tui.screens.batch_confirm import BatchConfirm
from qm_tui.screens.sites import SitesScreen

SIZE = (120, 40)
SOURCE, TARGET = "drupal-7.97-a", "drupal-7.98-b"


async def sites_screen(pilot) -> SitesScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SitesScreen) and screen.loaded
    return screen


async def filter_to(pilot, screen: SitesScreen, text: str) -> None:
    await pilot.press("slash")
    screen.query_one("#sites-filter", Input).value = text
    await pilot.press("enter")
    await settle(pilot)


def picked_uris(screen: SitesScreen) -> list[str]:
    return sorted(screen._by_nid[n].uri for n in screen.picked)


async def test_space_picks_star_picks_every_shown_site_and_the_header_counts(state_cfg: Config) -> None:
    app = QmApp(state_cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await sites_screen(pilot)
        await filter_to(pilot, screen, "-d7.lab")
        shown = [e.site.uri for e in screen.visible_entries()]
        first, second = shown[0], shown[1]
        await pilot.press("space", "space")
        assert picked_uris(screen) == sorted([first, second])
        assert screen.table.marked == frozenset(screen.picked)  # the rows are painted as picked
        assert "2 picked" in plain(screen.query_one("#sites-status", Static))
        await pilot.press("up", "space")  # space again unpicks
        assert picked_uris(screen) == [first]
        await pilot.press("asterisk")
        assert picked_uris(screen) == sorted(shown)
        assert f"{len(shown)} picked" in plain(screen.query_one("#sites-status", Static))
        await pilot.press("asterisk")  # all shown already picked: unpick them
        assert screen.picked == set()
        assert "picked" not in plain(screen.query_one("#sites-status", Static))


async def test_b_refuses_picks_on_two_platforms_and_a_bare_list(state_cfg: Config) -> None:
    app = QmApp(state_cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await sites_screen(pilot)
        await pilot.press("b")  # nothing picked, no platform narrowed to
        await settle(pilot)
        assert isinstance(app.screen, SitesScreen)
        assert any("pick sites" in str(n.message) for n in app._notifications)
        await filter_to(pilot, screen, "cluster-d")  # cluster-d7 (7.97-a) and cluster-d10
        await pilot.press("asterisk", "b")
        await settle(pilot)
        assert isinstance(app.screen, SitesScreen)
        assert any("one platform" in str(n.message) for n in app._notifications)


async def open_confirm(pilot, app: QmApp, picks: str | None) -> BatchConfirm:
    screen = await sites_screen(pilot)
    if picks is None:  # every enabled site of the platform narrowed to
        nid = next(p.nid for p in app.inventory.platforms if p.title == SOURCE)
        screen.select_platform(nid)
        await settle(pilot)
    else:
        await filter_to(pilot, screen, picks)
        await pilot.press("asterisk")
    await pilot.press("b")
    await settle(pilot)
    assert isinstance(app.screen, BatchConfirm)
    return app.screen


async def choose_target(pilot, modal: BatchConfirm, title: str) -> None:
    key = next(k for k, p in modal.targets.items() if p.title == title)
    modal.query_one("#batch-target", Select).value = key
    await settle(pilot)
    assert modal.candidates is not None


def start(modal: BatchConfirm) -> Button:
    return modal.query_one("#batch-start", Button)


async def test_the_confirm_lists_every_site_and_starts_a_detached_batch(
        state_cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    spawned = record_spawns(monkeypatch, app_module)
    app = QmApp(state_cfg)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_confirm(pilot, app, None)
        assert modal.sites == ()  # the platform's enabled sites, chosen by the engine
        assert SOURCE not in {p.title for p in modal.targets.values()}  # never its own platform
        await choose_target(pilot, modal, TARGET)
        verdicts = {c.uri: c for c in modal.candidates}
        assert verdicts["cluster-d7.lab.test"].eligible
        assert not verdicts["intranet-d7.lab.test"].eligible  # its install profile is not on b
        listing = plain(modal.query_one("#batch-verdicts", Static))
        for c in modal.candidates:
            assert c.uri in listing
            for reason in c.reasons:
                assert reason in listing
        assert "disabled-d7.lab.test" not in verdicts  # only enabled sites
        assert start(modal).disabled  # nothing typed yet
        modal.query_one("#batch-concurrency", Input).value = "3"
        modal.query_one("#batch-again", Input).value = TARGET[:-1]
        await settle(pilot)
        assert start(modal).disabled  # not exactly the target's name
        modal.query_one("#batch-again", Input).value = TARGET
        await settle(pilot)
        assert not start(modal).disabled
        assert "then 3 at a time" in plain(modal.query_one("#batch-policy", Static))
        await pilot.click("#batch-start")
        # Not settle(): the Batch screen follows the journal in a worker that never completes.
        await until(pilot, lambda: isinstance(app.screen, BatchScreen), what="the Batch screen")
        assert len(spawned) == 1 and spawned[0][0] == "_batch"
        batch_id = spawned[0][1]
        assert isinstance(app.screen, BatchScreen) and app.screen.batch_id == batch_id
        journal = Journal(state_cfg.state_dir)
        try:
            rec = BatchJournal(journal).get(batch_id)
        finally:
            journal.close()
        assert rec is not None and rec.options["concurrency"] == 3 and rec.options["canary"] == 1
        assert {s.site: s.state for s in rec.sites} == {
            c.uri: SiteVerdict.PENDING if c.eligible else SiteVerdict.SKIPPED for c in modal.candidates}


async def test_a_bad_policy_or_no_eligible_site_never_starts(
        state_cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    spawned = record_spawns(monkeypatch, app_module)
    app = QmApp(state_cfg)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_confirm(pilot, app, "intranet-d7")
        assert modal.sites == ("intranet-d7.lab.test",)
        await choose_target(pilot, modal, TARGET)
        modal.query_one("#batch-again", Input).value = TARGET
        await settle(pilot)
        assert "no picked site is eligible" in plain(modal.query_one("#batch-policy", Static))
        assert start(modal).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SitesScreen) and app.screen.picked  # cancelling keeps the picks
        await pilot.press("asterisk")  # unpick them: the platform's enabled sites next
        assert not app.screen.picked
        modal = await open_confirm(pilot, app, None)
        await choose_target(pilot, modal, TARGET)
        modal.query_one("#batch-again", Input).value = TARGET
        for field, value, error in (("concurrency", "0", "--concurrency must be at least 1"),
                                    ("max-failures", "2", "max failures applies to on failure continue")):
            modal.query_one(f"#batch-{field}", Input).value = value
            await settle(pilot)
            assert error in plain(modal.query_one("#batch-policy", Static))
            assert start(modal).disabled
            modal.query_one(f"#batch-{field}", Input).value = "1" if field == "concurrency" else ""
        await settle(pilot)
        assert not start(modal).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert spawned == [] and isinstance(app.screen, SitesScreen)
