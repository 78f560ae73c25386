"""The run journal: SQLite in ``state_dir`` (WAL, synchronous=FULL), append-mostly.

Intent is written *before* every remote action and the result after it, so a crash at any instant
leaves a record from which ``probe`` can settle what really happened. Other processes (``watch``, the
TUI attached to a run started elsewhere) read the same file; ``requests`` carries their abort asks.
Secrets never reach this file: callers pass masked command text only.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .states import ACTIVE_RUN_STATES, PublicState, Request, RunState, StepState, UndoState

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
    plan TEXT,
    runner_start INTEGER,
    runner_boot TEXT
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
RUN_STATES = tuple(RunState)
STEP_STATES = tuple(StepState)
UNDO_STATES = tuple(UndoState)
HEARTBEAT_STALE = 30.0
# The runner's process start time (clock ticks since boot) and boot id tell it from a later process
# that got the same pid. Journals made before them get the columns added; NULL there: not checked.
IDENTITY_COLUMNS = (("runner_start", "INTEGER"), ("runner_boot", "TEXT"))
# An older version's claim() sets runner_pid alone: the previous runner's identity must not be
# taken for the new one's (a live runner would look dead), so it is dropped.
IDENTITY_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS runs_identity_follows_pid AFTER UPDATE OF runner_pid ON runs
WHEN NEW.runner_pid IS NOT OLD.runner_pid AND NEW.runner_start IS OLD.runner_start
BEGIN
    UPDATE runs SET runner_start = NULL, runner_boot = NULL WHERE id = NEW.id;
END;
"""


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


@dataclass
class StepRecord:
    seq: int
    name: str
    host: str
    title: str
    state: StepState
    started_at: float | None = None
    ended_at: float | None = None
    undo_state: UndoState | None = None
    undo_started_at: float | None = None
    undo_ended_at: float | None = None
    remote_pgid: int | None = None
    detail: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:  # typed whatever the caller passed (the journal hands in text)
        self.state = StepState(self.state)
        self.undo_state = UndoState.of(self.undo_state)


@dataclass
class RunRecord:
    id: str
    site: str
    site_nid: int | None
    source_platform: str | None
    target_platform: str | None
    state: RunState
    started_at: float
    ended_at: float | None
    runner_pid: int | None
    runner_host: str | None
    heartbeat_at: float | None
    error: str | None
    plan: dict[str, Any]
    steps: list[StepRecord] = field(default_factory=list)
    runner_start: int | None = None
    runner_boot: str | None = None

    def __post_init__(self) -> None:
        self.state = RunState(self.state)

    @property
    def runner_alive(self) -> bool:
        return runner_alive(self)

    @property
    def operation(self) -> str:
        return str(self.plan.get("operation") or "migrate")

    @property
    def master_hosts(self) -> set[str]:
        """The hostmaster's names in the run's steps (its connect name and its server title)."""
        names = self.plan.get("master_hosts")
        if names is None:  # a run journaled before operations: the migrate context had them
            ctx = self.plan.get("context") or {}
            names = [ctx.get("master_title"), ctx.get("master")]
        return {str(v) for v in names if v}

    @property
    def public_state(self) -> PublicState:
        """running, succeeded, rolled_back, needs_attention, interrupted, aborted."""
        if self.state in (RunState.RUNNING, RunState.ROLLING_BACK):
            return PublicState.RUNNING if self.runner_alive else PublicState.INTERRUPTED
        if self.state == RunState.PAUSED:
            return PublicState.ABORTED
        return PublicState(str(self.state))


class Journal:
    def __init__(self, state_dir: Path, read_only: bool = False) -> None:
        """``read_only``: a watcher that may read but not write the state dir (another user)."""
        self.state_dir, self.read_only = state_dir, read_only
        self.path = state_dir / "journal.sqlite"
        if read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"no journal at {self.path}")
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout=10000")
            # An older journal cannot be migrated from here: read NULL for the columns it lacks.
            have = self._run_columns()
            self._identity_select = ", ".join(n if n in have else "NULL" for n, _ in IDENTITY_COLUMNS)
            return
        # Group-readable (no secrets are journaled): on-call staff in the group can watch runs.
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(SCHEMA)
        self._add_identity_columns()
        self._identity_select = ", ".join(n for n, _ in IDENTITY_COLUMNS)
        os.chmod(self.path, 0o640)

    def _run_columns(self) -> set[str]:
        return {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}

    def _add_identity_columns(self) -> None:
        if not {n for n, _ in IDENTITY_COLUMNS} - self._run_columns() and self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'runs_identity_follows_pid'"
        ).fetchone():
            return
        with self.tx() as db:  # IMMEDIATE, re-checked inside: two processes may open an old journal at once
            have = self._run_columns()
            for name, decl in IDENTITY_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")
            db.execute(IDENTITY_TRIGGER)

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
        start, boot = own_identity()
        with self.tx() as db:
            db.execute(
                "INSERT INTO runs (id, site, site_nid, source_platform, target_platform, state, started_at, "
                "runner_pid, runner_host, heartbeat_at, plan, runner_start, runner_boot) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, site, site_nid, source, target, RunState.RUNNING, now, os.getpid(),
                 socket.gethostname(), now, json.dumps(plan), start, boot))
            db.executemany(
                "INSERT INTO steps (run_id, seq, name, host, title, state) VALUES (?,?,?,?,?,?)",
                [(run_id, i, name, host, title, StepState.PENDING) for i, (name, host, title) in enumerate(steps)])

    def set_run(self, run_id: str, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.tx() as db:
            db.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*values.values(), run_id))  # noqa: S608

    def claim(self, run_id: str) -> None:
        """This process now drives the run."""
        start, boot = own_identity()
        self.set_run(run_id, runner_pid=os.getpid(), runner_host=socket.gethostname(),
                     heartbeat_at=time.time(), runner_start=start, runner_boot=boot)

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

    def request(self, run_id: str, kind: Request | str) -> int:
        with self.tx() as db:
            cur = db.execute("INSERT INTO requests (run_id, ts, kind) VALUES (?,?,?)", (run_id, time.time(), kind))
            return int(cur.lastrowid or 0)

    def request_handled(self, request_id: int) -> bool:
        row = self.db.execute("SELECT handled_at FROM requests WHERE id = ?", (request_id,)).fetchone()
        return bool(row and row[0])

    def take_requests(self, run_id: str) -> list[Request]:
        with self.tx() as db:
            rows = db.execute("SELECT id, kind FROM requests WHERE run_id = ? AND handled_at IS NULL "
                              "ORDER BY id", (run_id,)).fetchall()
            db.executemany("UPDATE requests SET handled_at = ? WHERE id = ?",
                           [(time.time(), r[0]) for r in rows])
        return [Request(r[1]) for r in rows]

    # --- reads ----------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self.db.execute("SELECT id, site, site_nid, source_platform, target_platform, state, "  # noqa: S608
                              "started_at, ended_at, runner_pid, runner_host, heartbeat_at, error, plan, "
                              f"{self._identity_select} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        run = RunRecord(*row[:12], plan=json.loads(row[12] or "{}"), runner_start=row[13], runner_boot=row[14])
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
        """Unfinished runs holding the name ``site``: as their site, or as the new name of a rename."""
        ids = [r[0] for r in self.db.execute(
            "SELECT id FROM runs WHERE (site = ? OR target_platform = ?) "  # noqa: S608
            f"AND state IN ({', '.join('?' * len(ACTIVE_RUN_STATES))})",
            (site, site, *ACTIVE_RUN_STATES))]
        runs = [r for r in (self.get_run(i) for i in ids) if r is not None]
        return [r for r in runs if r.site == site or r.operation == "rename"]

    def events_since(self, run_id: str, after_id: int = 0, limit: int = 5000
                     ) -> list[tuple[int, float, int | None, str | None, str, str]]:
        return self.db.execute(
            "SELECT id, ts, seq, host, stream, line FROM events WHERE run_id = ? AND id > ? "
            "ORDER BY id LIMIT ?", (run_id, after_id, limit)).fetchall()


# --- liveness of a process on this machine --------------------------------------------------------

def runner_alive(rec: RunRecord | Any) -> bool:
    """A runner (of a run or a batch) heartbeats; on this machine its process must also still be the one
    recorded (``rec`` has heartbeat_at, runner_pid, runner_host, runner_start, runner_boot)."""
    fresh = rec.heartbeat_at is not None and time.time() - rec.heartbeat_at < HEARTBEAT_STALE
    if rec.runner_pid is None or rec.runner_host != socket.gethostname():
        return fresh
    return fresh and pid_alive(rec.runner_pid, rec.runner_start, rec.runner_boot)


def process_identity(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks since boot, state letter) of a process, from /proc; None: not seen."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # after "pid (comm)": comm may hold spaces
        return int(fields[19]), fields[0].decode()  # fields 22 and 3
    except (OSError, IndexError, ValueError):
        return None


@functools.cache
def boot_id() -> str | None:
    """This boot's random id (changes at every boot); None without /proc."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def own_identity() -> tuple[int | None, str | None]:
    """(start ticks, boot id) of this process, as recorded for a runner; not cached: fork changes it."""
    ident = process_identity(os.getpid())
    return (ident[0] if ident else None), boot_id()


def pid_alive(pid: int, start_ticks: int | None = None, boot: str | None = None) -> bool:
    """Whether the process recorded as ``pid`` (owned by anyone) still runs on this machine.

    A zombie (exited, not yet reaped: for a moment after ``kill -9``, for ever without an init) is dead.
    With ``start_ticks`` or ``boot`` recorded, a process that got the same pid after a reboot or a pid
    wrap is dead too; None (an older journal or lock) is not checked."""
    if pid <= 0:  # os.kill(0, 0) would answer for our own process group
        return False
    if boot is not None and boot_id() not in (None, boot):
        return False
    ident = process_identity(pid)
    if ident is None:  # gone, or hidden from us (/proc mounted hidepid, or no /proc): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    ticks, state = ident
    return state not in ("Z", "X") and (start_ticks is None or ticks == start_ticks)


# The site lock's owner line. The prefix "run <id> pid <pid> on <host>" is what older versions wrote
# and what greps and parsers look for; start and boot come after it (absent in older lines).
OWNER_LINE = re.compile(r"run (?P<run>\S+) pid (?P<pid>\d+) on (?P<host>\S+)"
                        r"(?: start (?P<start>\d+))?(?: boot (?P<boot>\S+))?")


def lock_owner_line(run_id: str, since: str) -> str:
    """The owner line this process writes into a site lock it takes for ``run_id``."""
    start, boot = own_identity()
    ident = (f" start {start}" if start is not None else "") + (f" boot {boot}" if boot else "")
    return f"run {run_id} pid {os.getpid()} on {socket.gethostname()}{ident} since {since}"


def lock_owner_alive(line: str) -> bool:
    """Whether a lock's owner line names a process still running on this machine (same rules as a run's
    runner). An owner on another machine, or a line not understood, cannot be checked from here: False."""
    m = OWNER_LINE.match(line.strip())
    if m is None or m["host"] != socket.gethostname():
        return False
    return pid_alive(int(m["pid"]), int(m["start"]) if m["start"] else None, m["boot"])
