"""Pilot helpers shared by the TUI tests (imported by module name: pytest puts this dir on sys.path)."""

from __future__ import annotations

import io

from rich.console import Console
from run_support import until
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Static

from qm_tui.screens.compare import CompareScreen
from qm_tui.screens.confirm import MigrateConfirm
from qm_tui.screens.run import RunScreen
from qm_tui.screens.site import SiteScreen
from qm_tui.screens.sites import SitesScreen


async def settle(pilot: Pilot) -> None:
    """Let workers finish and their messages land (a worker's message can start another worker)."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_site(pilot: Pilot, uri: str) -> SiteScreen:
    """From the Sites screen: filter to ``uri``, then Enter twice (leave the box, open the row).

    The box gets its value in one go: Pilot spends ~60 ms a key press, typing is tested elsewhere.
    """
    await settle(pilot)
    sites = pilot.app.screen
    assert isinstance(sites, SitesScreen)
    await pilot.press("slash")
    sites.query_one("#sites-filter", Input).value = uri
    await pilot.press("enter")
    assert sites.table.cursor_key is not None, f"{uri} not in the list"
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SiteScreen), type(screen)
    assert screen.targets is not None and screen.targets.site.uri == uri
    return screen


async def select_target(pilot: Pilot, title: str) -> None:
    """Put the Site screen's cursor on the target platform titled ``title``."""
    screen = pilot.app.screen
    assert isinstance(screen, SiteScreen)
    table = screen.query_one("#targets", DataTable)
    keys = [k for k, v in screen._verdicts.items() if v.platform.title == title]
    assert keys, f"{title} is not a target of {screen.uri}"
    table.move_cursor(row=table.get_row_index(keys[0]))
    await pilot.pause()
    verdict = screen.cursor_verdict
    assert verdict is not None and verdict.platform.title == title


async def open_compare(pilot: Pilot, uri: str, title: str) -> CompareScreen:
    await open_site(pilot, uri)
    await select_target(pilot, title)
    await pilot.press("c")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CompareScreen), type(screen)
    return screen


def table_keys(table: DataTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


def plain(widget: Static) -> str:
    """The text a Static shows (its content may be a Rich renderable: render it without colour)."""
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


async def migrate_via_confirm(pilot: Pilot, uri: str, target: str) -> RunScreen:
    """Site → Confirm (the real plan and preflight; type the URI, Proceed) → the Run screen following the
    detached runner the TUI spawned."""
    app = pilot.app
    await open_site(pilot, uri)
    await select_target(pilot, target)
    await pilot.press("m")
    await pilot.pause()
    modal = app.screen
    assert isinstance(modal, MigrateConfirm)
    await until(pilot, lambda: modal.problems is not None, timeout=120, what="plan and preflight")
    assert modal.problems == [], modal.problems
    assert modal.query_one("#confirm-proceed", Button).disabled  # until the URI is typed
    modal.query_one("#confirm-uri", Input).value = uri
    await pilot.pause()
    assert not modal.query_one("#confirm-proceed", Button).disabled
    await pilot.click("#confirm-proceed")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, RunScreen) and screen.proc is not None
    return screen


def record_spawns(monkeypatch, module) -> list[list[str]]:
    """Record the detached runners ``module`` (the app, the Run screen) would start instead of starting them."""
    from pathlib import Path

    spawned: list[list[str]] = []

    class FakeProc:
        pid = 4242

        def poll(self) -> int | None:
            return None

    def fake_spawn(config, run_id: str, argv: list[str]) -> tuple[FakeProc, Path]:
        spawned.append(argv)
        return FakeProc(), Path(config.state_dir) / "runner.out"

    monkeypatch.setattr(module, "spawn_runner", fake_spawn)
    return spawned
