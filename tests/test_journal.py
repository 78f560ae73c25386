"""The journal: durable settings, run/step records, requests between processes, derived states."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qm_tui.engine.journal import (
    SCHEMA,
    Journal,
    boot_id,
    lock_owner_alive,
    lock_owner_line,
    pid_alive,
    process_identity,
)


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


# --- liveness of a runner: zombies, reused pids, older journals -------------------------------------

# The runs table as versions before the runner's start time and boot id made it.
OLD_RUNS = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    site_nid INTEGER,
    source_platform TEXT,
    target_platform TEXT,
    state TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    runner_pid INTEGER,
    runner_host TEXT,
    heartbeat_at REAL,
    error TEXT,
    plan TEXT
);
CREATE INDEX runs_site ON runs(site, state);
"""
_, RUNS_INDEX, OTHER_TABLES = SCHEMA.partition("CREATE INDEX IF NOT EXISTS runs_site ON runs(site, state);")
OLD_SCHEMA = OLD_RUNS + OTHER_TABLES  # the other tables did not change


def wait_state(pid: int, want: str, timeout: float = 5.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ident = process_identity(pid)
        if ident and ident[1] == want:
            return ident
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} never reached state {want}: {process_identity(pid)}")


@pytest.fixture
def zombie() -> Iterator[tuple[int, int]]:
    """(pid, start ticks) of a child that exited and that we do not reap until the test ends."""
    proc = subprocess.Popen(["sleep", "0"])
    ticks, _ = wait_state(proc.pid, "Z")
    os.kill(proc.pid, 0)  # the kernel still answers for it: the old check took it for alive
    yield proc.pid, ticks
    proc.wait()


@pytest.fixture
def live() -> Iterator[tuple[int, int]]:
    """(pid, start ticks) of a running process that is not us."""
    proc = subprocess.Popen(["sleep", "60"])
    ticks, _ = wait_state(proc.pid, "S")
    yield proc.pid, ticks
    proc.kill()
    proc.wait()


def test_a_zombie_runner_is_dead_even_with_a_fresh_heartbeat(tmp_path: Path, zombie: tuple[int, int]) -> None:
    j = make(tmp_path)
    pid, ticks = zombie
    j.set_run("r1", runner_pid=pid, runner_start=ticks, runner_boot=boot_id(), heartbeat_at=time.time())
    assert j.get_run("r1").public_state == "interrupted"
    j.set_run("r1", runner_start=None, runner_boot=None)  # no identity recorded: the zombie check still holds
    assert j.get_run("r1").public_state == "interrupted"
    assert not pid_alive(pid)


def test_a_reused_pid_or_another_boot_is_not_the_runner(tmp_path: Path, live: tuple[int, int]) -> None:
    j = make(tmp_path)
    pid, ticks = live
    j.set_run("r1", runner_pid=pid, runner_start=ticks, runner_boot=boot_id(), heartbeat_at=time.time())
    assert j.get_run("r1").public_state == "running"  # the right identity
    j.set_run("r1", runner_start=ticks + 1)  # the pid now belongs to a process started later
    assert j.get_run("r1").public_state == "interrupted"
    j.set_run("r1", runner_start=ticks, runner_boot="00000000-0000-0000-0000-000000000000")
    assert j.get_run("r1").public_state == "interrupted"
    j.set_run("r1", runner_start=None, runner_boot=None)  # nothing recorded: the pid alone decides
    assert j.get_run("r1").public_state == "running"


def test_create_run_and_claim_record_the_runner_identity(tmp_path: Path) -> None:
    j = make(tmp_path)
    me = (process_identity(os.getpid())[0], boot_id())
    run = j.get_run("r1")
    assert (run.runner_start, run.runner_boot) == me and run.runner_boot
    j.set_run("r1", runner_pid=1, runner_start=1, runner_boot="elsewhere")
    j.claim("r1")
    run = j.get_run("r1")
    assert (run.runner_pid, run.runner_start, run.runner_boot) == (os.getpid(), *me)
    assert run.public_state == "running"
    # An older version's claim sets the pid alone: the previous runner's identity is dropped with it.
    j.set_run("r1", runner_pid=os.getppid())
    run = j.get_run("r1")
    assert (run.runner_start, run.runner_boot) == (None, None) and run.public_state == "running"


def test_a_runner_killed_with_sigkill_is_interrupted_at_once(tmp_path: Path) -> None:
    make(tmp_path).close()
    code = ("import sys, time; from pathlib import Path; from qm_tui.engine.journal import Journal; "
            "j = Journal(Path(sys.argv[1])); j.create_run('r2', 'ex.com', 1, 'A', 'B', {}, []); "
            "print('ready', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "state")], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout and proc.stdout.readline().strip() == "ready"
        j = Journal(tmp_path / "state")
        assert j.get_run("r2").public_state == "running"
        os.kill(proc.pid, signal.SIGKILL)
        wait_state(proc.pid, "Z")  # not reaped: what PID 1 leaves for a moment, or for ever without an init
        assert j.get_run("r2").public_state == "interrupted"
    finally:
        proc.kill()
        proc.wait()


def test_an_older_journal_is_migrated_and_judged_by_the_old_rules(tmp_path: Path, zombie: tuple[int, int]) -> None:
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / "journal.sqlite")
    assert RUNS_INDEX
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO runs (id, site, state, started_at, runner_pid, runner_host, heartbeat_at, plan) "
               "VALUES ('old', 'ex.com', 'running', ?, ?, ?, ?, '{}')",
               (time.time(), os.getpid(), socket.gethostname(), time.time()))
    db.commit()
    db.close()
    ro = Journal(state, read_only=True)  # a watcher cannot migrate it, and need not
    run = ro.get_run("old")
    assert run is not None and run.public_state == "running" and run.runner_start is None
    ro.close()
    j = Journal(state)
    assert {"runner_start", "runner_boot"} <= {r[1] for r in j.db.execute("PRAGMA table_info(runs)")}
    Journal(state).close()  # opened again: nothing left to add
    run = j.get_run("old")
    assert (run.runner_start, run.runner_boot) == (None, None) and run.public_state == "running"
    j.set_run("old", runner_pid=zombie[0])
    assert j.get_run("old").public_state == "interrupted"
    j.set_run("old", runner_pid=os.getpid(), heartbeat_at=time.time() - 3600)
    assert j.get_run("old").public_state == "interrupted"
    j.create_run("new", "ex.org", 2, "A", "B", {}, [])  # the migrated table takes new runs whole
    assert j.get_run("new").runner_boot == boot_id() and j.get_run("new").public_state == "running"


def test_the_lock_owner_line_round_trips_through_the_liveness_judge(zombie: tuple[int, int],
                                                                   live: tuple[int, int]) -> None:
    host = socket.gethostname()
    line = lock_owner_line("r1", "2026-01-01T00:00:00Z")
    me = process_identity(os.getpid())[0]
    assert line == f"run r1 pid {os.getpid()} on {host} start {me} boot {boot_id()} since 2026-01-01T00:00:00Z"
    m = re.match(r"run (\S+) pid (\d+) on (\S+)", line)  # what older parsers and greps rely on
    assert m and m.groups() == ("r1", str(os.getpid()), host)
    assert lock_owner_alive(line)
    assert lock_owner_alive(line + "\n")  # as read back with cat
    pid, ticks = live
    assert lock_owner_alive(f"run r1 pid {pid} on {host} start {ticks} boot {boot_id()} since x")
    assert not lock_owner_alive(f"run r1 pid {pid} on {host} start {ticks + 1} boot {boot_id()} since x")  # reused
    assert not lock_owner_alive(f"run r1 pid {pid} on {host} start {ticks} boot not-this-boot since x")
    assert not lock_owner_alive(f"run r1 pid {zombie[0]} on {host} start {zombie[1]} boot {boot_id()} since x")
    # Lines written by older versions: the pid alone, and the zombie check.
    assert lock_owner_alive(f"run r1 pid {pid} on {host} since then")
    assert not lock_owner_alive(f"run r1 pid {zombie[0]} on {host} since then")
    assert not lock_owner_alive(f"run r1 pid {pid} on elsewhere since then")  # cannot be checked from here
    assert not lock_owner_alive("unknown owner")
