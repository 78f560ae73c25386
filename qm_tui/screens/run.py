"""Run screen: follows one migration purely from the journal (read-only polling).

The migration itself always runs in a detached runner process (``qm-tui _run``, ``rollback``,
``resume``), so closing the TUI never stops it; this screen attaches to runs started here, in
another terminal or by the CLI alike. Abort (then roll back) and pause (abort, no rollback) are
requests written to the journal, as ``qm-tui abort [--no-rollback]`` writes them; Rollback and
Resume start another detached runner and keep following.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Footer, Header, Static

from ..engine.follow import EVENTS_PAGE, RunFollower
from ..engine.journal import Journal, RunRecord
from ..engine.spawn import spawn_runner
from ..engine.states import (
    ENDED_WHOLE,
    EffectiveState,
    Phase,
    PublicState,
    Request,
    StepState,
    UndoState,
    effective,
)
from ..widgets.host_logs import HostLogs, Stamp, local_hms
from ..widgets.step_tree import StepTree, fmt_elapsed
from .base import EngineScreen, describe_error
from .confirm import ChooseAction, ConfirmAction
from .messages import RunPolled

__all__ = ["RECOVERABLE", "RunScreen", "rolling_back", "run_status"]

POLL_SECONDS = 0.3
IDLE_POLL_SECONDS = 1.0
# EVENTS_PAGE (imported): events read per poll at most; a poll that gets this many reads again at once.
#: Public states of a run that stopped without rolling back: it can still be rolled back.
RECOVERABLE = frozenset({PublicState.ABORTED, PublicState.NEEDS_ATTENTION, PublicState.INTERRUPTED})
#: Public states of a stopped run that can be resumed (unless a rollback already began).
RESUMABLE = frozenset({PublicState.INTERRUPTED, PublicState.ABORTED})
#: (action, title, help) offered in the command palette on this screen.
PALETTE = (
    ("abort", "Abort run…", "Stop the run, then roll back or pause (asks first)"),
    ("pause", "Pause run (stop, no rollback)…", "Stop the run and leave it paused for Resume or Rollback"),
    ("rollback", "Roll back run…", "Undo every step of this stopped run (asks first)"),
    ("resume", "Resume run…", "Finish this stopped run from where it stopped (asks first)"),
    ("timestamps", "Log: timestamps on/off", "Show each log line's time (HH:MM:SS, local time)"),
    ("filter_log", "Log: filter lines", "Show only the log lines containing a text"),
)
STATE_STYLE = {PublicState.RUNNING: "bold yellow", PublicState.SUCCEEDED: "bold green",
               PublicState.ROLLED_BACK: "bold cyan", PublicState.NEEDS_ATTENTION: "bold red",
               PublicState.INTERRUPTED: "bold red", PublicState.ABORTED: "bold magenta"}


def _hosts(run: RunRecord) -> tuple[list[str], set[str]]:
    masters = run.master_hosts
    hosts: list[str] = []
    for s in run.steps:
        if s.host not in hosts:
            hosts.append(s.host)
    hosts.sort(key=lambda h: h not in masters)
    return hosts, masters


def rolling_back(run: RunRecord) -> bool:
    """A rollback has touched the run (some step is in its undo phase)."""
    return any(effective(s).phase == Phase.UNDO for s in run.steps)


def run_status(run: RunRecord, now: float) -> Text:
    """state · progress · elapsed · current step (one line, fits 80 columns)."""
    state = run.public_state
    steps = [(s, effective(s)) for s in run.steps]
    text = Text.assemble((state.replace("_", " "), STATE_STYLE.get(state, "bold")))
    touched = [v for _, v in steps if v.phase == Phase.UNDO]
    if touched:
        undone = sum(v.stored in (UndoState.OK, UndoState.SKIPPED) for v in touched)
        text.append(f" · rollback {undone}/{len(touched)}")
    else:
        done = sum(s.state in (StepState.OK, StepState.SKIPPED) for s in run.steps)
        text.append(f" · {done}/{len(run.steps)} steps")
    running = state == PublicState.RUNNING
    end = run.ended_at if run.ended_at and not running else now
    text.append(f" · {fmt_elapsed(end - run.started_at)}")
    # The step in flight: an undo in progress, else a step started (and not yet undone).
    current = next((s for s, v in steps if v.state == EffectiveState.UNDOING), None) or next(
        (s for s, v in steps if v.state == EffectiveState.STARTED), None)
    if current is not None and running:
        text.append(f" · [{current.host}] {current.title}")
    elif run.error and not running:
        text.append(f" · {run.error}", style="italic")
    return text


class RunScreen(EngineScreen):
    BINDING_GROUP_TITLE = "Run"
    DANGEROUS = frozenset({"abort", "pause", "rollback", "resume"})
    # The footer shows the short description; help shows the tooltip when there is one.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "abort", "Abort", id="run.abort", tooltip="Abort: roll back, or stop without rolling back"),
        Binding("p", "pause", "Pause", id="run.pause",
                tooltip="Pause: stop without rolling back (then Resume or Rollback)"),
        Binding("b", "rollback", "Rollback", id="run.rollback"),
        Binding("u", "resume", "Resume", id="run.resume"),
        Binding("f", "follow", "Follow", id="run.follow"),
        Binding("w", "wrap", "Wrap", id="run.wrap"),
        Binding("t", "timestamps", "Times", id="run.timestamps", show=False, tooltip="Log: timestamps on/off"),
        Binding("slash", "filter_log", "Filter log", id="run.filter-log", key_display="/", show=False,
                tooltip="Log: show only lines containing a text"),
        Binding("escape", "close_filter", "Clear log filter", id="run.close-filter", show=False),
        Binding("left_square_bracket", "pane(-1)", "Prev host", id="run.prev-host", key_display="[", show=False),
        Binding("right_square_bracket", "pane(1)", "Next host", id="run.next-host", key_display="]", show=False),
    ]

    def __init__(self, run_id: str, *, clock: Callable[[], float] = time.time, poll_seconds: float = POLL_SECONDS,
                 proc: subprocess.Popen[bytes] | None = None, out: Path | None = None,
                 stamp: Stamp = local_hms) -> None:
        super().__init__()
        self.run_id = run_id
        self.clock = clock
        self.stamp = stamp  # how the log panes show an event's time
        self.poll_seconds = poll_seconds
        self.proc = proc  # the runner this TUI started, if any: its early death is reported
        self.out = out
        self.record: RunRecord | None = None
        self.polls = 0
        self._journal: Journal | None = None
        # The poll runs in a worker thread; closing its SQLite connection under it crashes the interpreter.
        self._journal_lock = threading.Lock()
        self._closed = False
        self._follower: RunFollower | None = None  # made with the journal, in the poll's thread
        self._pending: str | None = None  # "rollback"/"resume" spawned, not yet claimed by its runner
        self._status = ""
        self._handled = asyncio.Event()  # set when the last poll's message has been handled

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"run {self.run_id}", id="run-title")
        with Horizontal(id="run-body"):
            yield StepTree(clock=self.clock, id="run-steps")
            yield Static("waiting for the runner…", id="run-logs-placeholder")
        with Horizontal(id="run-actions"):
            yield Button("Rollback", id="run-rollback", variant="error", compact=True)
            yield Button("Resume", id="run-resume", variant="warning", compact=True)
        yield Static("attaching…", id="run-status", classes="status-line")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#run-actions").display = False
        self.follow()

    @property
    def tree(self) -> StepTree:
        return self.query_one("#run-steps", StepTree)

    @property
    def logs(self) -> HostLogs | None:
        found = self.query("#run-logs")
        return found.first(HostLogs) if found else None

    @property
    def run_state(self) -> PublicState | None:
        return self.record.public_state if self.record else None

    @property
    def last_event(self) -> int:
        """The id of the last journal event shown (0: none yet)."""
        return self._follower.last_event if self._follower is not None else 0

    # --- following the journal --------------------------------------------------------------------

    @work(exclusive=True, group="follow", exit_on_error=False, description="follow the run")
    async def follow(self) -> None:
        while True:
            if await self.poll():
                # A full page: more is waiting. Sleeping poll_seconds per page capped the screen at ~16,000
                # lines/s, less its own work, so a flood left it ever further behind. Read on once this
                # page is handled (pages never pile up in the message queue), letting the loop run first.
                await self._handled.wait()
                await asyncio.sleep(0)
                continue
            # An ended run is still watched (a rollback or resume may start elsewhere), just less often.
            live = self.run_state in (None, PublicState.RUNNING) or self._pending
            await asyncio.sleep(self.poll_seconds if live else max(self.poll_seconds, IDLE_POLL_SECONDS))

    def on_unmount(self) -> None:
        with self._journal_lock:
            self._closed = True
            if self._journal is not None:
                self._journal.close()
                self._journal = None
                self._follower = None

    async def poll(self) -> bool:
        """One read of the journal (in a thread: SQLite may wait on the runner's lock); True: a full page."""
        message = await asyncio.to_thread(self._read)
        self._handled.clear()
        self.post_message(message)
        return message.more

    def _read(self) -> RunPolled:
        with self._journal_lock:
            return RunPolled(self.record, []) if self._closed else self._read_journal()

    def _read_journal(self) -> RunPolled:
        try:
            if self._journal is None:
                self._journal = Journal(Path(self.qm.config.state_dir), read_only=True)
            if self._follower is None:
                self._follower = RunFollower(self._journal, self.run_id, page=EVENTS_PAGE)
            snap = self._follower.poll()
        except FileNotFoundError:
            return RunPolled(None, [], self._runner_note())
        except sqlite3.Error as exc:
            return RunPolled(self.record, [], f"journal unreadable: {exc}")
        if snap.run is None:
            return RunPolled(None, [], self._runner_note())
        return RunPolled(snap.run, snap.events, more=snap.more)

    def _runner_note(self) -> str:
        if self.proc is not None and self.proc.poll() is not None:
            tail = ""
            if self.out is not None and self.out.exists():
                tail = " ".join(self.out.read_text(errors="replace").splitlines()[-3:])
            return f"the runner exited ({self.proc.returncode}) before starting: {tail}"
        return f"run {self.run_id} is not in the journal yet (starting…)"

    @on(RunPolled)
    async def _polled(self, message: RunPolled) -> None:
        try:
            await self._show_poll(message)
        finally:
            self._handled.set()

    async def _show_poll(self, message: RunPolled) -> None:
        self.polls += 1
        run = message.run
        if run is None:
            self._set_status(Text(message.note or ""))
            return
        before = (self.run_state, self._pending)
        self.record = run
        if not self.tree.built:
            await self._build(run)
        with self.app.batch_update():
            self.tree.update_steps(run.steps)
            logs = self.logs
            if logs is not None and message.events:
                logs.write_events(message.events)
            status = run_status(run, self.clock())
            if message.note:
                status.append(f" · {message.note}", style="red")
            self._set_status(status)
        if self._pending and (run.public_state == PublicState.RUNNING or (self.proc and self.proc.poll() is not None)):
            self._pending = None
        if (self.run_state, self._pending) != before:
            self._state_changed()

    def _set_status(self, status: Text) -> None:
        """Only when the text changed: an update re-lays out the line, every poll would cost a frame."""
        if status.markup != self._status:
            self._status = status.markup
            self.query_one("#run-status", Static).update(status)

    async def _build(self, run: RunRecord) -> None:
        hosts, masters = _hosts(run)
        self.tree.build(run.steps, masters)
        self.query_one("#run-title", Static).update(
            Text.assemble(("run ", "dim"), run.id, "  ", (run.site, "bold"),
                          f"  {'' if run.operation == 'migrate' else run.operation + ' '}"
                          f"{run.source_platform} → {run.target_platform}"))
        await self.query_one("#run-logs-placeholder").remove()
        # Awaited: the panes are composed before the first write.
        await self.query_one("#run-body").mount(HostLogs(hosts, stamp=self.stamp, id="run-logs"))

    def _state_changed(self) -> None:
        state = self.run_state
        actions = self.query_one("#run-actions")
        rollback = self.check_action("rollback", ()) is True
        resume = self.check_action("resume", ()) is True
        self.query_one("#run-rollback", Button).display = rollback
        self.query_one("#run-resume", Button).display = resume
        actions.display = rollback or resume
        self.refresh_bindings()
        if state in ENDED_WHOLE:
            self.notify(f"run {self.run_id}: {state.replace('_', ' ')}", timeout=8)
        elif state in RECOVERABLE:
            self.notify(f"run {self.run_id}: {state.replace('_', ' ')}", severity="warning", timeout=10)

    # --- actions ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        state = self.run_state
        if action in ("abort", "pause"):
            return state == PublicState.RUNNING and not self._pending
        if action == "close_filter":
            # Only while the log filter box is shown; otherwise escape goes back, as everywhere.
            return self.logs is not None and self.logs.filter_open
        if action == "rollback":
            return state in RECOVERABLE and not self._pending
        if action == "resume":
            return (state in RESUMABLE and not self._pending and self.record is not None
                    and not self.rolling_back)
        return allowed

    @property
    def rolling_back(self) -> bool:
        return self.record is not None and rolling_back(self.record)

    def _pause_rollback(self) -> None:
        """During a rollback the engine turns any abort into a pause after the current undo: say so."""
        self.app.push_screen(ConfirmAction(
            f"Pause the rollback of run {self.run_id}?",
            "The runner finishes the undo in progress (never half-way) and pauses; Rollback or Resume later.",
            "Pause rollback"), lambda yes: self._send(Request.PAUSE if yes else None))

    def _may_stop(self, action: str) -> bool:
        """Abort and pause are allowed now; during a rollback both offer to pause it instead."""
        if self.check_action(action, ()) is not True:
            return False
        if self.rolling_back:
            self._pause_rollback()
            return False
        return True

    def action_abort(self) -> None:
        if not self._may_stop("abort"):
            return
        self.app.push_screen(ChooseAction(
            f"Abort run {self.run_id}?",
            "Abort and roll back: the runner kills the commands in flight and undoes every step it did; "
            "the site ends whole on its old platform.\n"
            "Stop, no rollback: the runner kills the commands in flight and pauses; the site stays as it "
            "is (in maintenance) until you Resume or Roll back.",
            [(Request.PAUSE, "Stop, no rollback", "warning"),
             (Request.ABORT, "Abort and roll back", "error")]),
            self._send)

    def action_pause(self) -> None:
        if not self._may_stop("pause"):
            return
        self.app.push_screen(ConfirmAction(
            f"Stop run {self.run_id} without rolling back?",
            "The runner kills the commands in flight and pauses. The site stays as it is (in maintenance) "
            "until you Resume or Roll back (here, or: qm-tui resume|rollback ID).",
            "Stop, no rollback"), lambda yes: self._send(Request.PAUSE if yes else None))

    def _send(self, kind: Request | str | None) -> None:
        """Write the request the runner polls for (``abort`` or ``pause``), as ``qm-tui abort`` does."""
        if kind is None:
            return
        try:
            journal = Journal(Path(self.qm.config.state_dir))
            try:
                journal.request(self.run_id, Request(kind))
            finally:
                journal.close()
        except (OSError, sqlite3.Error) as exc:
            self.notify(describe_error(exc), title="Abort not sent", severity="error", timeout=15)
            return
        then = "rolls back" if kind == Request.ABORT else "stops and pauses (then Resume or Rollback)"
        self.notify(f"abort requested; run {self.run_id} {then} at the next safe point", timeout=8)

    def _recover(self, action: str) -> None:
        if self.check_action(action, ()) is not True:
            return
        body = {"rollback": "Undo every step this run has done (after probing what the hosts really show).",
                "resume": "Finish this run from where it stopped (after probing what the hosts really show)."}
        self.app.push_screen(ConfirmAction(f"{action.capitalize()} run {self.run_id}?", body[action],
                                           action.capitalize()),
                             lambda yes: self._spawn(action) if yes else None)

    def _spawn(self, action: str) -> None:
        try:
            self.proc, self.out = spawn_runner(self.qm.config, self.run_id, [action, self.run_id])
        except OSError as exc:
            self.notify(describe_error(exc), title=f"{action} not started", severity="error", timeout=15)
            return
        self._pending = action
        self._state_changed()
        self.notify(f"{action} of run {self.run_id} started (detached runner pid {self.proc.pid})", timeout=8)

    def action_rollback(self) -> None:
        self._recover("rollback")

    def action_resume(self) -> None:
        self._recover("resume")

    @on(Button.Pressed, "#run-rollback")
    def _rollback_pressed(self) -> None:
        self.action_rollback()

    @on(Button.Pressed, "#run-resume")
    def _resume_pressed(self) -> None:
        self.action_resume()

    def action_follow(self) -> None:
        if self.logs is not None:
            self.logs.toggle_follow()

    def action_wrap(self) -> None:
        if self.logs is not None:
            self.logs.toggle_wrap()

    def action_pane(self, delta: int) -> None:
        if self.logs is not None:
            self.logs.cycle(delta)

    def action_timestamps(self) -> None:
        if self.logs is not None:
            self.logs.toggle_timestamps()

    def action_filter_log(self) -> None:
        if self.logs is not None:
            self.logs.open_filter()

    def action_close_filter(self) -> None:
        if self.logs is not None:
            self.logs.close_filter()

    def palette_commands(self) -> Iterator[SystemCommand]:
        """This screen's actions for the command palette, as allowed right now (read-only hides some)."""
        for action, title, help_text in PALETTE:
            if self.check_action(action, ()) is True:
                yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
