"""SVG snapshots of every screen at fixed sizes (pytest-textual-snapshot).

Deterministic by construction: the lab world has a fixed clock and fixed names (conftest.py), the
config sets a fixed sub-title, no widget shows a time, the input cursor does not blink, and every
``run_before`` waits for the workers before the screenshot. Regenerate with
``pytest tests/tui --snapshot-update`` and look at the report before committing the SVGs.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from tui_helpers import open_compare, open_site, select_target, settle

SMALL, LARGE = (80, 24), (120, 36)
EVERY_VERDICT = ("verdicts-d7.lab.test", "drupal-7.101-c")  # one comparison with all six verdicts


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x36"])
def test_sites(snap_compare, make_app, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=settle)


def test_sites_filtered_with_platforms(snap_compare, make_app) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("p", "down", "down", "enter", "slash", *"acme")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x36"])
def test_site(snap_compare, make_app, size) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_site(pilot, EVERY_VERDICT[0])
        await select_target(pilot, EVERY_VERDICT[1])

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x36"])
def test_compare(snap_compare, make_app, size) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_compare(pilot, *EVERY_VERDICT)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_compare_all_rows(snap_compare, make_app) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_compare(pilot, *EVERY_VERDICT)
        await pilot.press("a")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=run_before)


def test_help(snap_compare, make_app) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)
