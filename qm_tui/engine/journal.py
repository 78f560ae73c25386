"""The run journal: SQLite in ``state_dir`` (WAL, synchronous=FULL), append-mostly.

Intent is written *before* every remote action and the result after it, so a crash at any instant
leaves a record from which ``probe`` can settle what really happened. Other processes (``watch``, the
TUI attached to a run started elsewhere) read the same file; ``requests`` carries their abort asks.
Secrets never reach this file: callers pass masked command text only.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
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
CREATE INDEX IF NOT EXISTS runs_site ON runs(site, state);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at REAL,
    ended_at REAL,
    undo_state TEXT,
    undo_started_at REAL,
    undo_ended_at REAL,
    remote_pgid INTEGER,
    detail TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    ts REAL NOT NULL,
    seq INTEGER,
    host TEXT,
    stream TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, id);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    handled_at REAL
);
"""

# Run states stored; "interrupted" is derived (state running, runner gone).
RUN_STATES = ("running", "rolling_back", "succeeded", "rolled_back", "needs_attention", "aborted",
              "paused")
STEP_STATES = ("pending", "started", "ok", "failed", "unknown", "skipped")
UNDO_STATES = ("started", "ok", "failed", "unknown", "skipped")
HEARTBEAT_STALE = 30.0


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


@dataclass
class StepRecord:
    seq: int
    name: str
    host: str
    title: str
    state: str
    started_at: float | None = None
    ended_at: float | None = None
    undo_state: str | None = None
    undo_started_at: float | None = None
    undo_ended_at: float | None = None
    remote_pgid: int | None = None
    detail: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    id: str
    site: str
    site_nid: int | None
    source_platform: str | None
    target_platform: str | None
    state: str
    started_at: float
    ended_at: float | None
    runner_pid: int | None
    runner_host: str | None
    heartbeat_at: float | None
    error: str | None
    plan: dict[str, Any]
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def runner_alive(self) -> bool:
        """A runner on this machine is alive if its pid exists and it heartbeats."""
        fresh = self.heartbeat_at is not None and time.time() - self.heartbeat_at < HEARTBEAT_STALE
        if self.runner_pid is None or self.runner_host != socket.gethostname():
            return fresh
        return fresh and pid_alive(self.runner_pid)

    @property
    def public_state(self) -> str:
        """running, succeeded, rolled_back, needs_attention, interrupted, aborted."""
        if self.state in ("running", "rolling_back"):
            return "running" if self.runner_alive else "interrupted"
        if self.state == "paused":
            return "aborted"
        return self.state


class Journal:
    def __init__(self, state_dir: Path, read_only: bool = False) -> None:
        """``read_only``: a watcher that may read but not write the state dir (another user)."""
        self.state_dir = state_dir
        self.path = state_dir / "journal.sqlite"
        if read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"no journal at {self.path}")
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout=10000")
            return
        # Group-readable (no secrets are journaled): on-call staff in the group can watch runs.
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(SCHEMA)
        os.chmod(self.path, 0o640)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def run_dir(self, run_id: str) -> Path:
        d = self.state_dir / "runs" / run_id
        d.mkdir(parents=True, exist_ok=True, mode=0o750)
        return d

    # --- writes ---------------------------------------------------------------------------------

    def create_run(self, run_id: str, site: str, site_nid: int, source: str, target: str,
                   plan: dict[str, Any], steps: list[tuple[str, str, str]]) -> None:
        now = time.time()
        with self.tx() as db:
            db.execute(
                "INSERT INTO runs (id, site, site_nid, source_platform, target_platform, state, "
                "started_at, runner_pid, runner_host, heartbeat_at, plan) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, site, site_nid, source, target, "running", now, os.getpid(),
                 socket.gethostname(), now, json.dumps(plan)))
            db.executemany(
                "INSERT INTO steps (run_id, seq, name, host, title, state) VALUES (?,?,?,?,?,?)",
                [(run_id, i, name, host, title, "pending") for i, (name, host, title) in enumerate(steps)])

    def set_run(self, run_id: str, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.tx() as db:
            db.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*values.values(), run_id))  # noqa: S608

    def claim(self, run_id: str) -> None:
        """This process now drives the run."""
        self.set_run(run_id, runner_pid=os.getpid(), runner_host=socket.gethostname(),
                     heartbeat_at=time.time())

    def heartbeat(self, run_id: str) -> None:
        self.set_run(run_id, heartbeat_at=time.time())

    def set_step(self, run_id: str, seq: int, **values: Any) -> None:
        if "data" in values:
            values["data"] = json.dumps(values["data"])
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.tx() as db:
            db.execute(f"UPDATE steps SET {cols} WHERE run_id = ? AND seq = ?",  # noqa: S608
                       (*values.values(), run_id, seq))

    def event(self, run_id: str, seq: int | None, host: str | None, stream: str, line: str) -> None:
        self.db.execute("INSERT INTO events (run_id, ts, seq, host, stream, line) VALUES (?,?,?,?,?,?)",
                        (run_id, time.time(), seq, host, stream, line))

    def events_batch(self, rows: list[tuple[str, float, int | None, str | None, str, str]]) -> None:
        with self.tx() as db:
            db.executemany("INSERT INTO events (run_id, ts, seq, host, stream, line) VALUES (?,?,?,?,?,?)",
                           rows)

    def request(self, run_id: str, kind: str) -> int:
        with self.tx() as db:
            cur = db.execute("INSERT INTO requests (run_id, ts, kind) VALUES (?,?,?)", (run_id, time.time(), kind))
            return int(cur.lastrowid or 0)

    def request_handled(self, request_id: int) -> bool:
        row = self.db.execute("SELECT handled_at FROM requests WHERE id = ?", (request_id,)).fetchone()
        return bool(row and row[0])

    def take_requests(self, run_id: str) -> list[str]:
        with self.tx() as db:
            rows = db.execute("SELECT id, kind FROM requests WHERE run_id = ? AND handled_at IS NULL "
                              "ORDER BY id", (run_id,)).fetchall()
            db.executemany("UPDATE requests SET handled_at = ? WHERE id = ?",
                           [(time.time(), r[0]) for r in rows])
        return [r[1] for r in rows]

    # --- reads ----------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self.db.execute("SELECT id, site, site_nid, source_platform, target_platform, state, "
                              "started_at, ended_at, runner_pid, runner_host, heartbeat_at, error, plan "
                              "FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        run = RunRecord(*row[:12], plan=json.loads(row[12] or "{}"))
        run.steps = [
            StepRecord(*r[:12], data=json.loads(r[12] or "{}"))
            for r in self.db.execute(
                "SELECT seq, name, host, title, state, started_at, ended_at, undo_state, undo_started_at, "
                "undo_ended_at, remote_pgid, detail, data FROM steps WHERE run_id = ? ORDER BY seq",
                (run_id,))
        ]
        return run

    def list_runs(self, limit: int = 200) -> list[RunRecord]:
        ids = [r[0] for r in self.db.execute(
            "SELECT id FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))]
        return [r for r in (self.get_run(i) for i in ids) if r is not None]

    def active_runs_for(self, site: str) -> list[RunRecord]:
        ids = [r[0] for r in self.db.execute(
            "SELECT id FROM runs WHERE site = ? "
            "AND state IN ('running', 'rolling_back', 'paused', 'needs_attention')",
            (site,))]
        return [r for r in (self.get_run(i) for i in ids) if r is not None]

    def events_since(self, run_id: str, after_id: int = 0, limit: int = 5000
                     ) -> list[tuple[int, float, int | None, str | None, str, str]]:
        return self.db.execute(
            "SELECT id, ts, seq, host, stream, line FROM events WHERE run_id = ? AND id > ? "
            "ORDER BY id LIMIT ?", (run_id, after_id, limit)).fetchall()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
