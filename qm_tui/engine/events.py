"""Typed events the engine emits; the CLI prints them, the TUI turns them into messages.

Events are plain frozen dataclasses (no Textual here). Every event also goes to the journal so that
another process can follow a run (``watch``, the TUI attached to a detached run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    site: str  # the operation's subject (its summary: what, from where, to where)
    source: str
    target: str
    steps: tuple[tuple[int, str, str, str], ...]  # (seq, name, host, title)
    operation: str = "migrate"


@dataclass(frozen=True)
class StepChanged:
    run_id: str
    seq: int
    name: str
    host: str
    phase: str  # "do" or "undo"
    state: str  # started, ok, failed, unknown, skipped
    detail: str | None = None
    at: float = 0.0


@dataclass(frozen=True)
class Output:
    run_id: str
    seq: int | None
    host: str
    stream: str  # "cmd" (the command, shown before its output), "stdout", "stderr", "info"
    line: str


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    state: str  # succeeded, rolled_back, needs_attention, aborted
    message: str
    manual: tuple[tuple[str, str], ...] = ()  # (host, command) an operator must run


Event = RunStarted | StepChanged | Output | RunFinished
EventSink = Callable[[Event], None]


def event_json(ev: Event) -> dict[str, Any]:
    d = asdict(ev)
    d["event"] = type(ev).__name__
    return d
