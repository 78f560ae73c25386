"""Pilot tests of the quick-migrate Confirm modal: a real plan from the test hostmaster, a fake preflight."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static
from tui_helpers import open_site, plain, select_target, settle

from qm_tui.config import Config
from qm_tui.engine.runner import Prepared, Runner
from qm_tui.screens.confirm import MigrateConfirm
from qm_tui.screens.site import SiteScreen

SIZE = (120, 36)


@pytest.fixture
def cfg(tui_config: Config, tmp_path: Path) -> Config:
    return dataclasses.replace(tui_config, state_dir=tmp_path / "state")


def preflight_says(*problems: str):
    """The real plan (hostmaster DB only); the SSH preflight replaced by a fixed answer."""

    async def prepare(cfg: Config, uri: str, platform: str, strict: bool) -> tuple[Prepared, list[str]]:
        runner = Runner(cfg)
        try:
            return await runner.prepare(uri, platform, strict), list(problems)
        finally:
            await runner.close()

    return prepare


async def open_confirm(pilot, app, case, prepare) -> tuple[MigrateConfirm, list[object]]:
    screen = await open_site(pilot, case.site)
    await select_target(pilot, case.target)
    assert isinstance(screen, SiteScreen) and screen.targets is not None and screen.cursor_verdict is not None
    results: list[object] = []
    modal = MigrateConfirm(app.config, screen.targets.site, screen.cursor_verdict.platform, False, prepare=prepare)
    app.push_screen(modal, results.append)
    await settle(pilot)
    return modal, results


async def test_confirm_needs_the_uri_typed(cfg: Config, lab_world) -> None:
    from qm_tui.app import QmApp

    case = lab_world.cases["eligible"]
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        modal, results = await open_confirm(pilot, app, case, preflight_says())
        assert app.screen is modal
        assert app.focused is not None and app.focused.id == "confirm-cancel"
        assert modal.prepared is not None and modal.problems == []
        steps = plain(modal.query_one("#confirm-steps", Static))
        assert f"{len(modal.prepared.steps)} steps:" in steps and "Hostmaster:" in steps
        assert case.target in plain(modal.query_one("#confirm-summary", Static))
        proceed = modal.query_one("#confirm-proceed", Button)
        box = modal.query_one("#confirm-uri", Input)
        assert proceed.disabled
        box.value = case.site + "x"
        await pilot.pause()
        assert proceed.disabled
        box.value = case.site.upper()
        await pilot.pause()
        assert proceed.disabled
        box.value = case.site
        await pilot.pause()
        assert not proceed.disabled
        await pilot.click("#confirm-proceed")
        await pilot.pause()
        assert len(results) == 1 and isinstance(results[0], Prepared)
        assert results[0].ctx.uri == case.site and results[0].ctx.target.title == case.target
        assert app.screen is not modal


async def test_confirm_refused_preflight_keeps_proceed_disabled(cfg: Config, lab_world) -> None:
    from qm_tui.app import QmApp

    case = lab_world.cases["eligible"]
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        modal, results = await open_confirm(pilot, app, case, preflight_says("the site is locked by run X"))
        assert "the site is locked by run X" in plain(modal.query_one("#confirm-problems", Static))
        box = modal.query_one("#confirm-uri", Input)
        box.value = case.site
        box.focus()
        await pilot.pause()
        assert modal.query_one("#confirm-proceed", Button).disabled
        await pilot.press("enter")  # submitting the box does nothing either
        await pilot.pause()
        assert app.screen is modal
        await pilot.press("escape")
        await pilot.pause()
        assert results == [None] and app.screen is not modal


async def test_confirm_reports_a_failed_plan(cfg: Config, lab_world) -> None:
    from qm_tui.app import QmApp

    async def broken(cfg: Config, uri: str, platform: str, strict: bool) -> tuple[Prepared, list[str]]:
        raise OSError("ssh: connection refused")

    case = lab_world.cases["eligible"]
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        modal, _results = await open_confirm(pilot, app, case, broken)
        assert "connection refused" in plain(modal.query_one("#confirm-problems", Static))
        modal.query_one("#confirm-uri", Input).value = case.site
        await pilot.pause()
        assert modal.query_one("#confirm-proceed", Button).disabled
