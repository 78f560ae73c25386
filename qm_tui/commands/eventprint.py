"""Printing engine events for people, and surviving the terminal (a detached runner: ``engine.spawn``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..config import Config
from ..engine.events import Event, Output, RunFinished, RunStarted, StepChanged, event_json
from ..engine.states import Phase, Request, StepState

if TYPE_CHECKING:
    from ..engine.runner import Runner


class Printer:
    """Engine events to stdout. A dead terminal (EIO/EPIPE after a hang-up) silences it; the run
    itself must never fail because nobody is watching."""

    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines
        self.dead = False

    def silence(self) -> None:
        self.dead = True
        try:
            devnull = open(os.devnull, "w")  # noqa: SIM115 - replaces the dead terminal for good
            sys.stdout = sys.stderr = devnull
        except OSError:
            pass

    def line(self, text: str) -> None:
        """A line of our own (a batch's site verdicts), silenced like the events."""
        if self.dead:
            return
        try:
            print(text, flush=True)
        except (OSError, ValueError):
            self.silence()

    def __call__(self, ev: Event) -> None:
        if self.dead:
            return
        text = json.dumps(event_json(ev), ensure_ascii=False) if self.json_lines else format_event(ev)
        if text is None:
            return
        try:
            print(text, flush=True)
        except (OSError, ValueError):
            self.silence()


def format_event(ev: Event) -> str | None:
    if isinstance(ev, RunStarted):
        return f"{ev.site}: {ev.source} → {ev.target}, {len(ev.steps)} steps"
    if isinstance(ev, StepChanged):
        if ev.state == StepState.STARTED and ev.phase == Phase.DO:
            return None
        mark = {"ok": "ok", "failed": "FAILED", "unknown": "UNKNOWN"}.get(ev.state, ev.state)
        label = "undo " if ev.phase == "undo" else ""
        return f"[{ev.host}] {label}{ev.name}: {mark}" + (f" — {ev.detail}" if ev.detail else "")
    if isinstance(ev, Output) and ev.stream == "info":
        return f"[{ev.host}] {ev.line}"
    if isinstance(ev, RunFinished):
        lines = [f"{ev.state}: {ev.message}"] + [f"  on {host}: {cmd}" for host, cmd in ev.manual]
        return "\n".join(lines)
    return None


@contextmanager
def guard_signals(runner: Runner, cfg: Config, printer: Printer) -> Iterator[None]:
    """A hang-up never kills a step: the run finishes (or, ``migrate.on_hangup: stop``, pauses at the
    next safe point). Ctrl-C or SIGTERM aborts (and rolls back); a second one pauses the rollback."""
    loop = asyncio.get_running_loop()
    hits = {"int": 0}

    def hangup() -> None:
        printer.silence()
        if cfg.migrate.on_hangup == "stop" and runner.current is not None:
            runner.current.request(Request.STOP)

    def interrupt() -> None:
        hits["int"] += 1
        if runner.current is not None:
            runner.current.request(Request.ABORT if hits["int"] == 1 else Request.PAUSE)

    installed = []
    for sig, fn in ((signal.SIGHUP, hangup), (signal.SIGINT, interrupt), (signal.SIGTERM, interrupt)):
        try:
            loop.add_signal_handler(sig, fn)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def drive(runner: Runner, cfg: Config, json_lines: bool, start: Callable[[], Awaitable[int]]) -> int:
    """Run ``start()`` (a migrate, resume or rollback on ``runner``) with its events printed and the
    terminal's signals guarded; the runner is closed afterwards."""
    printer = Printer(json_lines)
    runner.subscribe(printer)
    try:
        with guard_signals(runner, cfg, printer):
            return await start()
    finally:
        await runner.close()

