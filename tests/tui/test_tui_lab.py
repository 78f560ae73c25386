"""End to end on the lab: Site → Confirm (real plan and SSH preflight) → detached runner → Run screen.

The TUI only spawns ``python -m qm_tui _run`` and follows the journal, exactly as it does in production.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_support import Lab, hostmaster_platform, make_lab
from run_support import until
from tui_helpers import migrate_via_confirm, plain

from qm_tui.app import QmApp
from qm_tui.config import load_config

pytestmark = pytest.mark.lab

URI, SOURCE, TARGET = "cluster-d7.lab.test", "drupal-7.97-a", "drupal-7.98-b"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


async def test_migrate_through_confirm_and_run_screen(lab: Lab) -> None:
    app = QmApp(load_config(lab.config_path))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await migrate_via_confirm(pilot, URI, TARGET)
        await until(pilot, lambda: screen.run_state not in (None, "running"), timeout=240, what="the run to end")
        await pilot.pause(3 * screen.poll_seconds)  # the follow worker polls for ever: no settle() here
        assert screen.run_state == "succeeded", plain(screen.query_one("#run-status"))
        assert all(str(node.label).startswith("✔") for node in screen.tree.leaves.values())
        logs = screen.logs
        assert logs is not None and all(n > 0 for n in logs.counts.values()), logs.counts
        assert plain(screen.query_one("#run-status")).startswith("succeeded")
        assert screen.proc.wait(timeout=60) == 0
    assert hostmaster_platform(lab, URI) == TARGET
