"""The states of runs and steps, and the requests other processes write for a runner: typed.

Every type is a ``StrEnum``: a member *is* the string stored in the journal (``RunState.ROLLED_BACK ==
"rolled_back"``), so journals written before these types existed read as they always did, SQLite stores
a member as its text, and JSON output and messages print the same words. A stored value this version
does not know (written by a newer one) reads as itself instead of failing: ``StepState("later")`` is a
``StepState`` equal to ``"later"``, belonging to no set below.

What an operator reads of a step is :func:`effective_state`: once a rollback touched a step its undo
state wins (``undone``, ``undo_failed``, ``undoing``, else the undo state as stored), before that its do
state. :func:`effective` also gives that phase's times, which every view of a step shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from .journal import StepRecord

__all__ = [
    "ACTIVE_RUN_STATES",
    "ENDED_WHOLE",
    "NEEDS_OPERATOR",
    "EffectiveState",
    "EffectiveStep",
    "Phase",
    "PublicState",
    "Request",
    "RunState",
    "StepState",
    "UndoState",
    "effective",
    "effective_state",
]


class _Stored(StrEnum):
    """A state as stored: an unknown value is kept as a member of its own (never a ValueError)."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member

    @classmethod
    def of(cls, value: str | None) -> Self | None:
        """``cls(value)``, None staying None (a nullable column)."""
        return None if value is None else cls(value)


class RunState(_Stored):
    """A run's state as the journal stores it (``runs.state``)."""

    RUNNING = "running"
    ROLLING_BACK = "rolling_back"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    NEEDS_ATTENTION = "needs_attention"
    ABORTED = "aborted"
    PAUSED = "paused"


class PublicState(_Stored):
    """A run's state as operators see it (``RunRecord.public_state``): running and rolling back are both
    ``running`` while the runner lives and ``interrupted`` once it is gone; paused shows as ``aborted``."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    NEEDS_ATTENTION = "needs_attention"
    INTERRUPTED = "interrupted"
    ABORTED = "aborted"


class StepState(_Stored):
    """A step's do state (``steps.state``)."""

    PENDING = "pending"
    STARTED = "started"
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


class UndoState(_Stored):
    """A step's undo state (``steps.undo_state``; NULL until a rollback touches the step)."""

    STARTED = "started"
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


class EffectiveState(_Stored):
    """A step's state as an operator reads it (``qm-tui run show``, ``watch``): see :func:`effective_state`."""

    PENDING = "pending"
    STARTED = "started"
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    UNDOING = "undoing"
    UNDONE = "undone"
    UNDO_FAILED = "undo_failed"


class Phase(_Stored):
    """Which half of a step a state belongs to."""

    DO = "do"
    UNDO = "undo"


class Request(_Stored):
    """What a runner is asked to do (``requests.kind``, or in process): abort and roll back, pause (stop,
    no rollback), or stop at the next safe point (a hang-up with ``migrate.on_hangup: stop``)."""

    ABORT = "abort"
    PAUSE = "pause"
    STOP = "stop"


#: Stored states of a run that holds its site (another migration of it is refused).
ACTIVE_RUN_STATES = (RunState.RUNNING, RunState.ROLLING_BACK, RunState.PAUSED, RunState.NEEDS_ATTENTION)
#: Public states that need an operator: listed first, in capitals.
NEEDS_OPERATOR = frozenset({PublicState.INTERRUPTED, PublicState.NEEDS_ATTENTION})
#: Public states of a run that ended with its site whole (on the new platform, or back on the old one).
ENDED_WHOLE = frozenset({PublicState.SUCCEEDED, PublicState.ROLLED_BACK})

_UNDO_SHOWN = {UndoState.OK: EffectiveState.UNDONE, UndoState.FAILED: EffectiveState.UNDO_FAILED,
               UndoState.STARTED: EffectiveState.UNDOING}


@dataclass(frozen=True, slots=True)
class EffectiveStep:
    """A step as an operator reads it: its effective state, and the phase it comes from with that phase's
    stored state and times."""

    state: EffectiveState
    phase: Phase
    stored: StepState | UndoState  # the phase's state as the journal has it
    started_at: float | None
    ended_at: float | None

    @property
    def duration(self) -> float | None:
        """How long the phase took; None while it runs (or never ran)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def elapsed(self, now: float) -> float | None:
        """How long the phase took, or has taken so far at ``now``; None if it never started."""
        if self.started_at is None:
            return None
        return (self.ended_at if self.ended_at is not None else now) - self.started_at


def effective(step: StepRecord) -> EffectiveStep:
    """The one place that says how a step reads: the undo phase wins once a rollback touched it."""
    if step.undo_state:
        undo = UndoState(step.undo_state)
        return EffectiveStep(_UNDO_SHOWN.get(undo) or EffectiveState(str(undo)), Phase.UNDO, undo,
                             step.undo_started_at, step.undo_ended_at)
    do = StepState(step.state)
    return EffectiveStep(EffectiveState(str(do)), Phase.DO, do, step.started_at, step.ended_at)


def effective_state(step: StepRecord) -> EffectiveState:
    """The step's state as an operator reads it: ``undone``, ``undo_failed``, ``undoing``, else the undo
    state as stored once a rollback touched it; before that its do state."""
    return effective(step).state
