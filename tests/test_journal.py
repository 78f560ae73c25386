"""The journal: durable settings, run/step records, requests between processes, derived states."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from qm_tui.engine.journal import Journal


def make(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "state")
    j.create_run("r1", "ex.com", 12, "A", "B", {"k": 1}, [("park_files", "web1", "Park"), ("verify", "m", "V")])
    return j


def test_durability_settings_and_private_file(tmp_path: Path) -> None:
    j = make(tmp_path)
    assert j.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert j.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert oct(os.stat(j.path).st_mode & 0o777) == "0o640"  # group may watch; nothing secret inside


def test_run_and_steps_round_trip(tmp_path: Path) -> None:
    j = make(tmp_path)
    j.set_step("r1", 0, state="started", started_at=1.0, remote_pgid=4242)
    j.set_step("r1", 0, state="ok", ended_at=2.0, data={"inodes": {"files": 7}})
    j.set_step("r1", 1, state="failed", detail="m: verify: exit 1")
    run = j.get_run("r1")
    assert run is not None and run.plan == {"k": 1}
    assert [(s.name, s.state) for s in run.steps] == [("park_files", "ok"), ("verify", "failed")]
    assert run.steps[0].data == {"inodes": {"files": 7}} and run.steps[0].remote_pgid == 4242
    assert run.steps[1].detail == "m: verify: exit 1"
    assert j.get_run("nope") is None


def test_interrupted_is_derived_from_a_dead_runner(tmp_path: Path) -> None:
    j = make(tmp_path)
    assert j.get_run("r1").public_state == "running"  # this process, fresh heartbeat
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    j.set_run("r1", runner_pid=int(dead))
    assert j.get_run("r1").public_state == "interrupted"
    j.set_run("r1", runner_pid=os.getpid(), heartbeat_at=time.time() - 3600)
    assert j.get_run("r1").public_state == "interrupted"
    j.set_run("r1", state="rolled_back")
    assert j.get_run("r1").public_state == "rolled_back"


def test_requests_are_taken_once_across_connections(tmp_path: Path) -> None:
    make(tmp_path)
    other = Journal(tmp_path / "state")
    other.request("r1", "abort")
    j = Journal(tmp_path / "state")
    assert j.take_requests("r1") == ["abort"]
    assert j.take_requests("r1") == []


def test_events_are_read_incrementally(tmp_path: Path) -> None:
    j = make(tmp_path)
    j.events_batch([("r1", time.time(), 0, "web1", "stdout", f"line {i}") for i in range(5)])
    first = j.events_since("r1", 0, limit=3)
    assert [e[5] for e in first] == ["line 0", "line 1", "line 2"]
    assert [e[5] for e in j.events_since("r1", first[-1][0])] == ["line 3", "line 4"]
