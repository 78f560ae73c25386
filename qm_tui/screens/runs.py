"""Runs screen: migration history from the journal; open one to attach to it (live if it runs).

Interrupted and stuck runs come first: they need an operator (as ``qm-tui runs``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from ..engine.batch_journal import BatchJournal, BatchRecord
from ..engine.journal import Journal, RunRecord
from ..engine.states import NEEDS_OPERATOR
from .base import EngineScreen
from .messages import OpenBatch, OpenRun, RunsLoaded
from .run import STATE_STYLE

__all__ = ["RunsScreen", "order_runs"]

ATTENTION = NEEDS_OPERATOR
COLUMNS = (("id", "Run"), ("site", "Site"), ("from", "From"), ("to", "To"), ("state", "State"),
           ("started", "Started (UTC)"))


def order_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """Runs that need an operator first, then newest first."""
    return sorted(runs, key=lambda r: (r.public_state not in ATTENTION, -r.started_at))


def _read_runs(state_dir: Path) -> tuple[list[RunRecord], list[BatchRecord]]:
    try:
        journal = Journal(state_dir, read_only=True)
    except FileNotFoundError:
        return [], []
    try:
        try:
            batches = BatchJournal(journal).list()
        except sqlite3.OperationalError:  # no batch yet: its tables do not exist
            batches = []
        return journal.list_runs(), batches
    finally:
        journal.close()


class RunsScreen(EngineScreen):
    BINDING_GROUP_TITLE = "Runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Attach", id="runs.open", show=False),
        Binding("r", "reload", "Refresh", id="runs.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunRecord] = []
        self.batch_ids: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="runs-status", classes="status-line")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self.runs:  # back from a Run screen: states may have moved on
            self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#runs-status", Static).update(self.loading_text)
        self.load_runs()

    @work(exclusive=True, group="runs", exit_on_error=False, description="read the run history")
    async def load_runs(self) -> None:
        runs, batches = await asyncio.to_thread(_read_runs, Path(self.qm.config.state_dir))
        self.post_message(RunsLoaded(runs, batches))

    @on(RunsLoaded)
    def _loaded(self, message: RunsLoaded) -> None:
        self.runs = order_runs(message.runs)
        table = self.query_one("#runs", DataTable)
        self.batch_ids = {b.id for b in message.batches}
        with self.app.batch_update():
            table.clear()
            for b in message.batches:
                started = datetime.fromtimestamp(b.started_at, tz=UTC).strftime("%Y-%m-%d %H:%M")
                table.add_row(b.id, f"batch of {len(b.sites)} sites", b.source_platform, b.target_platform,
                              Text(b.public_state.upper() if b.public_state == "interrupted" else b.public_state,
                                   style="bold yellow" if b.public_state == "running" else ""), started, key=b.id)
            for r in self.runs:
                state = r.public_state
                shown = state.upper() if state in ATTENTION else state
                started = datetime.fromtimestamp(r.started_at, tz=UTC).strftime("%Y-%m-%d %H:%M")
                table.add_row(r.id, r.site, r.source_platform or "", r.target_platform or "",
                              Text(shown.replace("_", " "), style=STATE_STYLE.get(state, "")), started, key=r.id)
        stuck = sum(r.public_state in ATTENTION for r in self.runs)
        note = f" · {stuck} need attention" if stuck else ""
        self.query_one("#runs-status", Static).update(
            f"{len(self.runs)} runs{note} · enter attaches (live while running)" if self.runs
            else "no runs in the journal yet")

    def action_open(self) -> None:
        table = self.query_one("#runs", DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key:
            self._open(str(key))

    def _open(self, key: str) -> None:
        self.post_message(OpenBatch(key) if key in self.batch_ids else OpenRun(key))

    @on(DataTable.RowSelected, "#runs")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self._open(str(event.row_key.value))
