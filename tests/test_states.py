"""Typed run and step states (qm_tui.engine.states): equal to the journal's strings, old journals keep working,
and one effective_state() says how a step reads wherever it is shown."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from qm_tui import cli
from qm_tui.engine import journal as journal_module
from qm_tui.engine.journal import Journal, StepRecord
from qm_tui.engine.states import (
    EffectiveState,
    Phase,
    PublicState,
    Request,
    RunState,
    StepState,
    UndoState,
    effective,
    effective_state,
)

DEAD_PID = 4_194_303 * 8  # above any pid_max


def test_every_member_is_the_string_the_journal_stores() -> None:
    assert journal_module.RUN_STATES == ("running", "rolling_back", "succeeded", "rolled_back", "needs_attention",
                                         "aborted", "paused")
    assert journal_module.STEP_STATES == ("pending", "started", "ok", "failed", "unknown", "skipped")
    assert journal_module.UNDO_STATES == ("started", "ok", "failed", "unknown", "skipped")
    assert [str(p) for p in PublicState] == ["running", "succeeded", "rolled_back", "needs_attention", "interrupted",
                                            "aborted"]
    assert [str(r) for r in Request] == ["abort", "pause", "stop"]
    assert RunState.ROLLED_BACK == "rolled_back" and f"{RunState.ROLLED_BACK}" == "rolled_back"
    assert json.dumps({"state": EffectiveState.UNDO_FAILED}) == '{"state": "undo_failed"}'
    assert {"ok": 1}[StepState.OK] == 1


def test_a_value_this_version_does_not_know_reads_as_itself() -> None:
    later = StepState("later")
    assert isinstance(later, StepState) and later == "later" and str(later) == "later"
    assert later not in set(StepState)
    assert UndoState.of(None) is None and UndoState.of("ok") is UndoState.OK
    with pytest.raises(ValueError):
        StepState(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("state", "undo", "shown", "phase"), [
    ("pending", None, "pending", "do"),
    ("started", None, "started", "do"),
    ("ok", None, "ok", "do"),
    ("failed", None, "failed", "do"),
    ("unknown", None, "unknown", "do"),
    ("skipped", None, "skipped", "do"),
    ("ok", "started", "undoing", "undo"),
    ("ok", "ok", "undone", "undo"),
    ("failed", "failed", "undo_failed", "undo"),
    ("ok", "unknown", "unknown", "undo"),
    ("ok", "skipped", "skipped", "undo"),
    ("ok", "later", "later", "undo"),  # written by a newer version: shown as stored
    ("later", None, "later", "do"),
])
def test_effective_state(state: str, undo: str | None, shown: str, phase: str) -> None:
    step = StepRecord(0, "dump_db", "m", "Dump", state, undo_state=undo)
    assert effective_state(step) == shown and isinstance(effective_state(step), EffectiveState)
    assert effective(step).phase == phase
    assert effective(step).stored == (undo or state)


def test_effective_times_are_the_phase_shown() -> None:
    step = StepRecord(0, "dump_db", "m", "Dump", "ok", started_at=10.0, ended_at=12.5)
    view = effective(step)
    assert (view.phase, view.started_at, view.ended_at) == (Phase.DO, 10.0, 12.5)
    assert view.duration == view.elapsed(99.0) == 2.5
    step.undo_state, step.undo_started_at = UndoState.STARTED, 20.0
    view = effective(step)
    assert (view.state, view.duration, view.elapsed(23.0)) == (EffectiveState.UNDOING, None, 3.0)
    assert effective(StepRecord(1, "x", "m", "X", "pending")).elapsed(5.0) is None


def test_records_are_typed_and_public_state_derives(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.create_run("r1", "s", 1, "a", "b", {}, [("maintenance", "m", "Maintenance")])
    run = j.get_run("r1")
    assert run is not None and run.state is RunState.RUNNING and run.public_state is PublicState.RUNNING
    assert run.steps[0].state is StepState.PENDING and run.steps[0].undo_state is None
    j.set_step("r1", 0, state=StepState.OK, undo_state=UndoState.FAILED)
    step = j.get_run("r1").steps[0]
    assert (step.state, step.undo_state) == (StepState.OK, UndoState.FAILED)
    shown = {}
    for stored in RunState:
        j.set_run("r1", state=stored, runner_pid=DEAD_PID, heartbeat_at=0.0)
        shown[stored] = j.get_run("r1").public_state
        assert isinstance(shown[stored], PublicState)
    assert shown == {"running": "interrupted", "rolling_back": "interrupted", "succeeded": "succeeded",
                     "rolled_back": "rolled_back", "needs_attention": "needs_attention", "aborted": "aborted",
                     "paused": "aborted"}
    j.request("r1", "pause")
    j.request("r1", Request.ABORT)
    assert j.take_requests("r1") == [Request.PAUSE, Request.ABORT]
    j.close()


def test_a_journal_written_as_plain_text_reads_typed(tmp_path: Path) -> None:
    """Rows as an older version wrote them (and as any SQL client sees them): plain text."""
    j = Journal(tmp_path)
    j.create_run("r1", "s", 1, "a", "b", {}, [("a", "m", "A"), ("b", "m", "B")])
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.execute("UPDATE runs SET state = 'rolled_back'")
    db.execute("UPDATE steps SET state = 'ok', undo_state = 'ok' WHERE seq = 0")
    db.execute("UPDATE steps SET state = 'unknown' WHERE seq = 1")
    db.commit()
    assert db.execute("SELECT typeof(state) FROM runs").fetchone() == ("text",)
    db.close()
    run = j.get_run("r1")
    assert run.public_state is PublicState.ROLLED_BACK
    assert [effective_state(s) for s in run.steps] == [EffectiveState.UNDONE, EffectiveState.UNKNOWN]
    assert j.active_runs_for("s") == []
    j.set_run("r1", state="paused")
    assert [r.id for r in j.active_runs_for("s")] == ["r1"]
    j.close()


def test_run_show_json_keeps_its_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"hostmaster": {"db": {"user": "u", "name": "hm"}, "server": "localhost"},
                                      "state_dir": str(tmp_path / "state")}))
    j = Journal(tmp_path / "state")
    j.create_run("r1", "s", 1, "a", "b", {}, [("a", "m", "A"), ("b", "m", "B"), ("c", "w", "C"), ("d", "w", "D")])
    j.set_step("r1", 0, state="ok", started_at=1e9, ended_at=1e9 + 1, undo_state="ok", undo_ended_at=1e9 + 9)
    j.set_step("r1", 1, state="ok", undo_state="started")
    j.set_step("r1", 2, state="failed", undo_state="failed", detail="mv: no")
    j.set_run("r1", state="needs_attention", error="stuck")
    j.close()
    assert cli.main(["run", "show", "r1", "--json", "--config", str(config)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["state"] == "needs_attention"
    assert [s["state"] for s in out["steps"]] == ["undone", "undoing", "undo_failed", "pending"]
    assert out["steps"][0]["ended_at"] == "2001-09-09T01:46:49Z"
    assert cli.main(["runs", "--config", str(config)]) == 0
    assert "NEEDS_ATTENTION" in capsys.readouterr().out
