"""Following a run from the journal, as ``qm-tui watch`` and the TUI's Run screen do.

A follower only reads (a read-only journal will do): the runner may be this process, another one, or
gone. Each :meth:`RunFollower.poll` reads the run record, then the output written since the previous
poll (a page at most), and says which steps changed meanwhile. The record is read first, so a run seen
ended has all of its output at hand: poll on while :attr:`RunSnapshot.more` says a full page came back.

A poll that raises (``sqlite3.Error``: the runner holds the lock too long, the file went away) changes
nothing in the follower: the next poll reads the same again.
"""

from __future__ import annotations

from dataclasses import dataclass

from .journal import Journal, RunRecord, StepRecord
from .states import EffectiveState, EffectiveStep, PublicState, effective

__all__ = ["EVENTS_PAGE", "EventRow", "RunFollower", "RunSnapshot", "StepChange"]

#: Events read per poll at most (a full page: more are waiting, poll again at once).
EVENTS_PAGE = 5000

#: One journaled output line: (event id, time, step seq, host, stream, line); stream is one of
#: cmd (a command as run, masked), stdout, stderr, info (the engine's own notes).
EventRow = tuple[int, float, int | None, str | None, str, str]


@dataclass(frozen=True, slots=True)
class StepChange:
    """A step whose effective state or detail changed since the previous poll."""

    step: StepRecord
    effective: EffectiveStep

    @property
    def state(self) -> EffectiveState:
        return self.effective.state

    @property
    def duration(self) -> float | None:
        """How long the step's current phase (do, or undo once a rollback touched it) took; None: not ended."""
        return self.effective.duration


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """What one poll saw."""

    run: RunRecord | None  # None: not in the journal (yet)
    events: list[EventRow]  # output written since the previous poll, oldest first, at most a page
    changes: list[StepChange]  # in step order; the first poll: every step past pending
    more: bool  # a full page of events came back: more are waiting

    @property
    def state(self) -> PublicState | None:
        return self.run.public_state if self.run is not None else None

    @property
    def live(self) -> bool:
        """The run is in the journal and still running (or rolling back) with its runner alive."""
        return self.state == PublicState.RUNNING


class RunFollower:
    """Follows run ``run_id`` in ``journal``, ``page`` events per poll at most."""

    def __init__(self, journal: Journal, run_id: str, *, page: int = EVENTS_PAGE) -> None:
        if page < 1:
            raise ValueError(f"page must be at least 1, not {page}")
        self.journal = journal
        self.run_id = run_id
        self.page = page
        self._last_event = 0
        self._seen: dict[int, tuple[EffectiveState, str | None]] = {}

    @property
    def last_event(self) -> int:
        """The id of the last event handed out (0: none yet)."""
        return self._last_event

    def poll(self) -> RunSnapshot:
        run = self.journal.get_run(self.run_id)
        if run is None:
            return RunSnapshot(None, [], [], more=False)
        events: list[EventRow] = self.journal.events_since(self.run_id, self._last_event, limit=self.page)
        # Both reads succeeded: only now does the follower move on.
        changes = []
        for step in run.steps:
            view = effective(step)
            key = (view.state, step.detail)
            before = self._seen.get(step.seq)
            # A step is news once it moved past pending (or, seen before, whenever it moved at all).
            if before != key and (before is not None or view.state != EffectiveState.PENDING):
                changes.append(StepChange(step, view))
            self._seen[step.seq] = key
        if events:
            self._last_event = events[-1][0]
        return RunSnapshot(run, events, changes, more=len(events) >= self.page)
