"""RunFollower (qm_tui.engine.follow) against a real journal file: what each poll hands out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qm_tui.engine.follow import EVENTS_PAGE, RunFollower, RunSnapshot
from qm_tui.engine.journal import Journal
from qm_tui.engine.states import EffectiveState, PublicState

T0 = 1_700_000_000.0
M, W1 = "aegir.test", "web1.test"
STEPS = [("maintenance", M, "Maintenance mode on"), ("dump_db", M, "Dump the database"),
         ("park_files", W1, "Park files on web1")]
DEAD_PID = 4_194_303 * 8  # above any pid_max: never a live process


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path)
    j.create_run("r1", "shop.test", 7, "old", "new", {}, STEPS)  # this (live) process is its runner
    yield j
    j.close()


def lines(j: Journal, *texts: str, host: str = M, stream: str = "stdout") -> None:
    j.events_batch([("r1", T0, 1, host, stream, t) for t in texts])


def changes(snap: RunSnapshot) -> list[tuple[str, str, float | None]]:
    return [(c.step.name, c.state, c.duration) for c in snap.changes]


def test_first_poll_gives_the_record_all_output_and_every_step_past_pending(journal: Journal) -> None:
    journal.set_step("r1", 0, state="ok", started_at=T0, ended_at=T0 + 1.5)
    journal.set_step("r1", 1, state="started", started_at=T0 + 2, detail="dumping")
    lines(journal, "one", "two")
    snap = RunFollower(journal, "r1").poll()
    assert snap.run is not None and snap.run.id == "r1" and [s.name for s in snap.run.steps] == [
        "maintenance", "dump_db", "park_files"]
    assert [e[5] for e in snap.events] == ["one", "two"]
    assert changes(snap) == [("maintenance", "ok", 1.5), ("dump_db", "started", None)]
    assert snap.changes[1].step.detail == "dumping"
    assert snap.live and snap.state is PublicState.RUNNING and not snap.more


def test_a_run_not_yet_in_the_journal(journal: Journal) -> None:
    follower = RunFollower(journal, "r2")
    snap = follower.poll()
    assert (snap.run, snap.events, snap.changes, snap.more, snap.state, snap.live) == (None, [], [], False, None,
                                                                                       False)
    # Created later (a detached runner claims it): the follower picks it up from its start.
    journal.create_run("r2", "blog.test", 8, "old", "new", {}, STEPS)
    journal.events_batch([("r2", T0, 0, M, "info", "hello")])
    snap = follower.poll()
    assert snap.run is not None and [e[5] for e in snap.events] == ["hello"] and snap.changes == []


def test_output_is_handed_out_once_in_order_and_only_the_followed_runs(journal: Journal) -> None:
    follower = RunFollower(journal, "r1")
    lines(journal, "a")
    journal.create_run("other", "blog.test", 8, "old", "new", {}, STEPS)
    journal.events_batch([("other", T0, 0, M, "stdout", "not ours")])
    assert [e[5] for e in follower.poll().events] == ["a"]
    assert follower.poll().events == []
    lines(journal, "b", "c", host=W1, stream="stderr")
    snap = follower.poll()
    assert [(e[3], e[4], e[5]) for e in snap.events] == [(W1, "stderr", "b"), (W1, "stderr", "c")]
    assert follower.last_event == snap.events[-1][0]


def test_paging(journal: Journal) -> None:
    lines(journal, *[f"line {i}" for i in range(7)])
    follower = RunFollower(journal, "r1", page=3)
    pages = []
    while True:
        snap = follower.poll()
        pages.append(([e[5] for e in snap.events], snap.more))
        if not snap.more:
            break
    assert pages == [(["line 0", "line 1", "line 2"], True), (["line 3", "line 4", "line 5"], True),
                     (["line 6"], False)]
    lines(journal, "a", "b", "c")  # exactly a page: `more` is a guess, the next poll finds nothing
    snap = follower.poll()
    assert [e[5] for e in snap.events] == ["a", "b", "c"] and snap.more
    snap = follower.poll()
    assert snap.events == [] and not snap.more
    assert RunFollower(journal, "r1").page == EVENTS_PAGE
    with pytest.raises(ValueError):
        RunFollower(journal, "r1", page=0)


def test_step_changes_since_the_previous_poll(journal: Journal) -> None:
    follower = RunFollower(journal, "r1")
    assert follower.poll().changes == []  # every step pending: nothing to say
    journal.set_step("r1", 0, state="started", started_at=T0)
    assert changes(follower.poll()) == [("maintenance", "started", None)]
    assert follower.poll().changes == []  # nothing moved
    journal.set_step("r1", 0, state="ok", ended_at=T0 + 2)
    journal.set_step("r1", 1, state="started", started_at=T0 + 2)
    assert changes(follower.poll()) == [("maintenance", "ok", 2.0), ("dump_db", "started", None)]
    journal.set_step("r1", 1, detail="3 MiB so far")  # same state, a new detail: news too
    snap = follower.poll()
    assert changes(snap) == [("dump_db", "started", None)] and snap.changes[0].step.detail == "3 MiB so far"
    # The rollback: the undo phase is what shows, with its own times.
    journal.set_run("r1", state="rolling_back")
    journal.set_step("r1", 1, state="failed", ended_at=T0 + 3)
    journal.set_step("r1", 0, undo_state="started", undo_started_at=T0 + 4)
    snap = follower.poll()
    assert changes(snap) == [("maintenance", "undoing", None), ("dump_db", "failed", 1.0)]
    assert snap.changes[0].state is EffectiveState.UNDOING and snap.live
    journal.set_step("r1", 0, undo_state="ok", undo_ended_at=T0 + 4.5)
    assert changes(follower.poll()) == [("maintenance", "undone", 0.5)]


def test_run_ended(journal: Journal) -> None:
    follower = RunFollower(journal, "r1")
    assert follower.poll().live
    journal.set_step("r1", 0, state="ok", started_at=T0, ended_at=T0 + 1)
    lines(journal, "last words")
    journal.set_run("r1", state="succeeded", ended_at=T0 + 5)
    snap = follower.poll()
    assert not snap.live and snap.state is PublicState.SUCCEEDED
    assert changes(snap) == [("maintenance", "ok", 1.0)] and [e[5] for e in snap.events] == ["last words"]
    # A runner that died without a word is not live either: interrupted.
    journal.set_run("r1", state="running", ended_at=None, runner_pid=DEAD_PID, heartbeat_at=0.0)
    snap = follower.poll()
    assert not snap.live and snap.state is PublicState.INTERRUPTED and snap.changes == []


def test_a_failed_read_changes_nothing(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    follower = RunFollower(journal, "r1")
    follower.poll()
    journal.set_step("r1", 0, state="started", started_at=T0)
    lines(journal, "x")

    def locked(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(journal, "events_since", locked)
    with pytest.raises(sqlite3.OperationalError):
        follower.poll()
    monkeypatch.undo()
    snap = follower.poll()
    assert changes(snap) == [("maintenance", "started", None)] and [e[5] for e in snap.events] == ["x"]


def test_a_read_only_journal_will_do(journal: Journal, tmp_path: Path) -> None:
    journal.set_step("r1", 0, state="ok", started_at=T0, ended_at=T0 + 1)
    ro = Journal(tmp_path, read_only=True)
    try:
        assert changes(RunFollower(ro, "r1").poll()) == [("maintenance", "ok", 1.0)]
    finally:
        ro.close()
