"""Abort from the Run screen on the lab: "abort one" (roll back at once) and "roll back one" (stop
without rolling back, then Rollback). The drush stand-in sleeps in updatedb so the abort lands while
a remote command is in flight, after the files were parked on every front.

The TUI only writes requests to the journal and spawns detached runners, exactly as in production.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_support import (
    Lab,
    assert_files_at,
    clear_standin,
    fronts_of,
    hostmaster_platform,
    make_lab,
    no_leftovers,
    reset_faults,
    site_state,
    source_of,
    standin,
)
from run_support import until
from textual.pilot import Pilot
from textual.widgets import Button
from tui_helpers import migrate_via_confirm, plain

from qm_tui.app import QmApp
from qm_tui.config import load_config
from qm_tui.screens.confirm import ChooseAction, ConfirmAction
from qm_tui.screens.run import RunScreen

pytestmark = pytest.mark.lab

TARGET = "drupal-7.98-b"
SLOW_STEP = "updatedb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


@pytest.fixture(autouse=True)
def _clean(lab: Lab) -> Iterator[None]:
    yield from reset_faults(lab)


async def start_migration(pilot: Pilot, uri: str) -> RunScreen:
    """Site → Confirm (real plan and preflight) → Run screen, then wait until updatedb is running."""
    screen = await migrate_via_confirm(pilot, uri, TARGET)

    def slow_step_running() -> bool:
        return screen.record is not None and any(s.name == SLOW_STEP and s.state == "started"
                                                 for s in screen.record.steps)

    await until(pilot, slow_step_running, timeout=90, what=f"{SLOW_STEP} to start")
    await pilot.pause(1.0)  # the remote drush is running (sleeping), not just announced
    return screen


async def ended(pilot: Pilot, screen: RunScreen, state: str, *, after: tuple[str, ...] = (),
                timeout: float = 120) -> None:
    """Wait until the run leaves running (and the ``after`` states it was in), then expect ``state``."""
    await until(pilot, lambda: screen.run_state not in (None, "running", *after), timeout=timeout,
                what="the run to stop")
    await pilot.pause(3 * screen.poll_seconds)  # the follow worker polls for ever: no settle() here
    assert screen.run_state == state, plain(screen.query_one("#run-status"))


def assert_whole_on_source(lab: Lab, uri: str, fronts: list[str], before: object) -> None:
    source = source_of(lab, uri)
    assert hostmaster_platform(lab, uri) == source
    assert_files_at(lab, uri, source, before, site_state(lab, uri, fronts))  # type: ignore[arg-type]
    no_leftovers(lab, uri)


async def test_abort_one_rolls_back(lab: Lab) -> None:
    uri = "cluster-d7.lab.test"
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    standin(lab, "sleep", f"{SLOW_STEP} 60\n")
    app = QmApp(load_config(lab.config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await start_migration(pilot, uri)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ChooseAction)
        await pilot.click("#action-abort")
        await pilot.pause()
        assert app.screen is screen
        await ended(pilot, screen, "rolled_back")
        assert not screen.query_one("#run-actions").display  # nothing left to roll back or resume
        assert screen.record is not None
        assert [s.state for s in screen.record.steps if s.name == SLOW_STEP] != ["ok"]  # stopped in flight
        assert screen.proc is not None and screen.proc.wait(timeout=60) == 1  # exit 1: rolled back
    assert_whole_on_source(lab, uri, fronts, before)


async def test_stop_without_rollback_then_roll_back_one(lab: Lab) -> None:
    uri = "gluster-d7.lab.test"  # files are a symlink to shared storage on web1-3
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    standin(lab, "sleep", f"{SLOW_STEP} 60\n")
    app = QmApp(load_config(lab.config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await start_migration(pilot, uri)
        first = screen.proc
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction)
        await pilot.click("#action-ok")
        await pilot.pause()
        await ended(pilot, screen, "aborted")  # paused: nothing undone, nothing finished
        assert first is not None and first.wait(timeout=60) == 3  # exit 3: needs an operator
        assert screen.record is not None and not any(s.undo_state for s in screen.record.steps)
        assert hostmaster_platform(lab, uri) == source_of(lab, uri)  # the hostmaster is only told at the end
        await until(pilot, lambda: screen.query_one("#run-rollback", Button).display, what="Rollback offered")
        assert screen.query_one("#run-resume", Button).display
        clear_standin(lab)

        await pilot.click("#run-rollback")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction) and app.focused is not None
        assert app.focused.id == "action-cancel"
        await pilot.click("#action-ok")
        await pilot.pause()
        assert screen.proc is not first  # a new detached runner: qm-tui rollback ID
        await ended(pilot, screen, "rolled_back", after=("aborted",))
        assert screen.record is not None and any(s.undo_state == "ok" for s in screen.record.steps)
        assert screen.proc is not None and screen.proc.wait(timeout=60) == 1
    assert_whole_on_source(lab, uri, fronts, before)
