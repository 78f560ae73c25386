"""Batch screen: one row per site of a batch (verdict, run, elapsed, reason), totals and an ETA, read from
the journal (a batch runs in its own process, so closing the TUI never stops it). ``a`` aborts the batch
(every running site rolls back, no new one starts), Enter opens a site's run (its step tree and logs)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from ..engine.batch_journal import BatchJournal, BatchRecord, SiteVerdict
from ..engine.journal import Journal
from ..widgets.step_tree import fmt_elapsed
from .base import EngineScreen, describe_error
from .confirm import ConfirmAction
from .messages import OpenRun

__all__ = ["BatchPolled", "BatchScreen", "batch_status"]

POLL_SECONDS = 0.5
COLUMNS = (("site", "Site"), ("verdict", "Verdict"), ("elapsed", "Time"), ("run", "Run"), ("reason", "Reason"))
STYLE = {SiteVerdict.MIGRATED: "green", SiteVerdict.ROLLED_BACK: "cyan", SiteVerdict.ATTENTION: "bold red",
         SiteVerdict.RUNNING: "bold yellow", SiteVerdict.SKIPPED: "dim", SiteVerdict.NOT_STARTED: "magenta"}


class BatchPolled(Message):
    def __init__(self, record: BatchRecord | None, note: str = "") -> None:
        super().__init__()
        self.record, self.note = record, note


def batch_status(rec: BatchRecord, now: float) -> str:
    """state · counts · elapsed · ETA (from the sites done so far, at the batch's concurrency)."""
    done = [s.seconds for s in rec.sites if s.state in (SiteVerdict.MIGRATED, SiteVerdict.ROLLED_BACK)
            and s.seconds is not None]
    left = rec.count(SiteVerdict.PENDING, SiteVerdict.RUNNING)
    parts = [rec.public_state, f"{rec.count(SiteVerdict.MIGRATED)} migrated",
             f"{rec.count(SiteVerdict.ROLLED_BACK)} rolled back", f"{rec.count(SiteVerdict.RUNNING)} running",
             f"{rec.count(SiteVerdict.PENDING)} pending", f"{rec.count(SiteVerdict.SKIPPED)} skipped"]
    if rec.count(SiteVerdict.ATTENTION):
        parts.append(f"{rec.count(SiteVerdict.ATTENTION)} NEED ATTENTION")
    end = rec.ended_at if rec.ended_at and rec.public_state != "running" else now
    parts.append(fmt_elapsed(end - rec.started_at))
    if rec.public_state == "running" and done and left:
        per = sum(done) / len(done) / max(1, int(rec.options.get("concurrency") or 1))
        parts.append(f"ETA ~{fmt_elapsed(per * left)}")
    return " · ".join(parts)


class BatchScreen(EngineScreen):
    BINDING_GROUP_TITLE = "Batch"
    DANGEROUS = frozenset({"abort"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "abort", "Abort batch", id="batch.abort"),
        Binding("enter", "open", "Open run", id="batch.open", show=False),
    ]

    def __init__(self, batch_id: str, *, clock: Callable[[], float] = time.time,
                 poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__()
        self.batch_id, self.clock, self.poll_seconds = batch_id, clock, poll_seconds
        self.record: BatchRecord | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"batch {self.batch_id}", id="batch-title")
        yield DataTable(id="batch-sites", cursor_type="row", zebra_stripes=True)
        yield Static("attaching…", id="batch-status", classes="status-line")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#batch-sites", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.follow()

    @work(exclusive=True, group="batch", exit_on_error=False, description="follow the batch")
    async def follow(self) -> None:
        while True:
            self.post_message(await asyncio.to_thread(self._read))
            await asyncio.sleep(self.poll_seconds)

    def _read(self) -> BatchPolled:
        try:
            journal = Journal(Path(self.qm.config.state_dir), read_only=True)
        except FileNotFoundError:
            return BatchPolled(None, "no journal yet")
        try:
            return BatchPolled(BatchJournal(journal).get(self.batch_id))
        except sqlite3.Error as exc:
            return BatchPolled(self.record, f"journal unreadable: {exc}")
        finally:
            journal.close()

    @on(BatchPolled)
    def _polled(self, message: BatchPolled) -> None:
        rec = self.record = message.record
        status = self.query_one("#batch-status", Static)
        if rec is None:
            status.update(message.note or f"batch {self.batch_id} is not in the journal")
            return
        self.query_one("#batch-title", Static).update(
            Text.assemble(("batch ", "dim"), rec.id, "  ", (f"{rec.source_platform} → {rec.target_platform}", "bold"),
                          f"  ({len(rec.sites)} sites)"))
        table = self.query_one("#batch-sites", DataTable)
        now = self.clock()
        with self.app.batch_update():
            for s in rec.sites:
                took = s.seconds if s.seconds is not None else (now - s.started_at if s.started_at else None)
                cells = (s.site, Text(str(s.state).replace("_", " "), style=STYLE.get(s.state, "")),
                         fmt_elapsed(took) if took is not None else "", s.run_id or "", s.reason or "")
                key = str(s.seq)
                if key in table.rows:
                    for (col, _label), value in zip(COLUMNS, cells, strict=True):
                        table.update_cell(key, col, value)
                else:
                    table.add_row(*cells, key=key)
        status.update(batch_status(rec, now) + (f" · {message.note}" if message.note else ""))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "abort":
            return self.record is not None and self.record.public_state == "running"
        return allowed

    def action_abort(self) -> None:
        if self.check_action("abort", ()) is not True:
            return
        self.app.push_screen(ConfirmAction(
            f"Abort batch {self.batch_id}?",
            "No new site starts; every running site's runner kills its commands in flight and rolls it back "
            "(each ends whole on its old platform). Sites already migrated stay migrated.",
            "Abort batch"), lambda yes: self._send() if yes else None)

    def _send(self) -> None:
        try:
            journal = Journal(Path(self.qm.config.state_dir))
            try:
                journal.request(self.batch_id, "abort")
            finally:
                journal.close()
        except (OSError, sqlite3.Error) as exc:
            self.notify(describe_error(exc), title="Abort not sent", severity="error", timeout=15)
            return
        self.notify(f"abort requested: batch {self.batch_id} starts no new site and rolls back the running ones",
                    timeout=8)

    def action_open(self) -> None:
        table = self.query_one("#batch-sites", DataTable)
        if self.record is None or table.row_count == 0:
            return
        seq = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or -1)
        site = next((s for s in self.record.sites if s.seq == seq), None)
        if site is None or not site.run_id:
            self.notify("this site has no run (skipped or not started)", timeout=4)
            return
        self.post_message(OpenRun(site.run_id))

    @on(DataTable.RowSelected, "#batch-sites")
    def _selected(self) -> None:
        self.action_open()
