"""Pilot tests of the rename confirm: `n` on the Site screen, the new name typed twice, a real plan from the
test hostmaster (the SSH preflight replaced by a fixed answer), and the runner started for the rename."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static
from tui_helpers import open_site, plain, record_spawns, settle

from qm_tui.config import Config
from qm_tui.engine.operations import Prepared
from qm_tui.engine.runner import Runner
from qm_tui.screens.rename import RenameConfirm

SIZE = (120, 36)


@pytest.fixture
def cfg(tui_config: Config, tmp_path: Path) -> Config:
    return dataclasses.replace(tui_config, state_dir=tmp_path / "state")


def preflight_says(*problems: str):
    async def prepare(cfg: Config, uri: str, new_uri: str) -> tuple[Prepared, list[str]]:
        runner = Runner(cfg)
        try:
            return await runner.prepare_op("rename", uri, new_uri), list(problems)
        finally:
            await runner.close()

    return prepare


async def open_rename(pilot, app, uri, prepare) -> tuple[RenameConfirm, list[object]]:
    screen = await open_site(pilot, uri)
    results: list[object] = []
    modal = RenameConfirm(app.config, screen.targets.site, prepare=prepare)
    app.push_screen(modal, results.append)
    await settle(pilot)
    return modal, results


async def test_n_opens_the_rename_confirm(cfg: Config, lab_world) -> None:
    from qm_tui.app import QmApp

    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await open_site(pilot, lab_world.cases["eligible"].site)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, RenameConfirm)
        assert app.focused is not None and app.focused.id == "rename-new"
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RenameConfirm)


async def test_rename_needs_the_new_name_planned_then_typed_again(cfg: Config, lab_world) -> None:
    from qm_tui.app import QmApp

    uri = lab_world.cases["eligible"].site
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        modal, results = await open_rename(pilot, app, uri, preflight_says())
        proceed = modal.query_one("#rename-proceed", Button)
        new, again = modal.query_one("#rename-new", Input), modal.query_one("#rename-again", Input)
        new.value = "renamed.lab.test"
        again.value = "renamed.lab.test"
        await pilot.pause()
        assert proceed.disabled  # not planned yet
        new.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert modal.prepared is not None and modal.problems == []
        steps = plain(modal.query_one("#rename-steps", Static))
        assert f"{len(modal.prepared.steps)} steps:" in steps and "Rename the site dir" in steps
        assert not proceed.disabled
        new.value = "other.lab.test"  # the plan shown is for another name now
        await pilot.pause()
        assert proceed.disabled
        new.value = "renamed.lab.test"
        again.value = "renamed.lab.tes"
        await pilot.pause()
        assert proceed.disabled
        again.value = "renamed.lab.test"
        await pilot.pause()
        assert not proceed.disabled
        await pilot.click("#rename-proceed")
        await pilot.pause()
        assert len(results) == 1 and isinstance(results[0], Prepared)
        assert results[0].op.kind == "rename" and results[0].ctx.dst_uri == "renamed.lab.test"


async def test_a_refused_or_invalid_name_keeps_proceed_disabled(cfg: Config, lab_world) -> None:
    from qm_tui.app import QmApp

    uri = lab_world.cases["eligible"].site
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        modal, _ = await open_rename(pilot, app, uri, preflight_says("renamed.lab.test is already used"))
        new, again = modal.query_one("#rename-new", Input), modal.query_one("#rename-again", Input)
        new.value = again.value = "renamed.lab.test"
        new.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "already used" in plain(modal.query_one("#rename-problems", Static))
        assert modal.query_one("#rename-proceed", Button).disabled
        new.value = again.value = "bad name!"
        new.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert "not a valid host name" in plain(modal.query_one("#rename-problems", Static))
        assert modal.query_one("#rename-proceed", Button).disabled


async def test_a_confirmed_rename_starts_its_detached_runner(cfg: Config, lab_world,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import qm_tui.app as app_module
    from qm_tui.app import QmApp

    spawned = record_spawns(monkeypatch, app_module)
    uri = lab_world.cases["eligible"].site
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_site(pilot, uri)
        prep, _ = await preflight_says()(cfg, uri, "renamed.lab.test")
        app.post_message(app_module.RenameRequested(screen.targets.site))
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, RenameConfirm)
        modal.dismiss(prep)
        for _ in range(5):  # the Run screen then polls for ever (no runner): pause, never settle
            await pilot.pause()
    assert spawned == [["_run", "rename", uri, "renamed.lab.test", "--run-id", prep.ctx.run_id, "--no-strict"]]
