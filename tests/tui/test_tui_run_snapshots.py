"""SVG snapshots of the Run screen (mid-run, its abort dialog, stopped with Rollback offered) at 80x24.

Deterministic: the journal is filled by hand with fixed names and times, and the screen's clock is fixed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from run_support import MASTER, T0, WEB1, new_run, output, until
from textual.pilot import Pilot
from tui_helpers import settle

from qm_tui.app import QmApp
from qm_tui.config import Config
from qm_tui.engine.journal import Journal
from qm_tui.screens.run import RunScreen

RUN_ID = "20261122-040000-ab12"


@pytest.fixture
def app(tui_config: Config, tmp_path: Path) -> QmApp:
    cfg = dataclasses.replace(tui_config, state_dir=tmp_path / "state")
    journal = Journal(cfg.state_dir)
    new_run(journal, RUN_ID)
    journal.set_step(RUN_ID, 0, state="ok", started_at=T0, ended_at=T0 + 2)
    journal.set_step(RUN_ID, 1, state="ok", started_at=T0 + 2, ended_at=T0 + 9)
    journal.set_step(RUN_ID, 2, state="started", started_at=T0 + 9)
    output(journal, RUN_ID, 0, MASTER, ("cmd", "drush @shop.lab.test vset maintenance_mode 1 --yes"),
           ("stdout", "maintenance_mode was set to 1."))
    output(journal, RUN_ID, 1, MASTER, ("cmd", "mysqldump shop > /var/aegir/backups/shop.sql"),
           ("stderr", "warning: table cache_form is large"))
    output(journal, RUN_ID, 2, WEB1, ("cmd", "mv files /var/aegir/.qm-tui/parked/shop"))
    journal.close()
    return QmApp(cfg)


async def _attach(pilot: Pilot) -> None:
    await settle(pilot)
    screen = RunScreen(RUN_ID, clock=lambda: T0 + 65, poll_seconds=0.05)
    await pilot.app.push_screen(screen)
    await until(pilot, lambda: screen.logs is not None and sum(screen.logs.counts.values()) == 5, what="the run")
    await pilot.pause(0.2)


def test_run_mid_run(snap_compare, app: QmApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=_attach)


def test_run_abort_dialog(snap_compare, app: QmApp) -> None:
    """Abort offers both ways out, focus on Cancel."""

    async def run_before(pilot: Pilot) -> None:
        await _attach(pilot)
        await pilot.press("a")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_run_stopped_offers_rollback(snap_compare, app: QmApp) -> None:
    journal = Journal(Path(app.config.state_dir))
    journal.set_step(RUN_ID, 2, state="failed", ended_at=T0 + 12, detail="mv: cannot move")
    journal.set_run(RUN_ID, state="needs_attention", ended_at=T0 + 12, error="park_files failed on web1")
    journal.close()

    async def run_before(pilot: Pilot) -> None:
        await _attach(pilot)
        pilot.app.clear_notifications()
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
