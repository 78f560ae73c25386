"""A batch in the journal: one record with its options and one row per selected site, each pointing at
the site's own run (which keeps its own steps, lock and rollback). Same SQLite file as the runs."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .journal import Journal, own_identity, runner_alive

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    source_platform TEXT NOT NULL,
    target_platform TEXT NOT NULL,
    state TEXT NOT NULL,
    options TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    runner_pid INTEGER,
    runner_host TEXT,
    runner_start INTEGER,
    runner_boot TEXT,
    heartbeat_at REAL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS batch_sites (
    batch_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    site TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    run_id TEXT,
    started_at REAL,
    ended_at REAL,
    changes TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (batch_id, seq)
);
"""


class BatchState(StrEnum):
    RUNNING = "running"
    DONE = "done"  # every site ended (see each one's verdict)
    STOPPED = "stopped"  # the failure policy stopped it; sites left not started
    ABORTED = "aborted"  # the operator aborted it


class SiteVerdict(StrEnum):
    PENDING = "pending"  # eligible, not started yet
    RUNNING = "running"
    MIGRATED = "migrated"
    ROLLED_BACK = "rolled_back"  # failed, whole again on its source
    ATTENTION = "needs_attention"
    SKIPPED = "skipped"  # not eligible, or refused by its preflight: never touched
    NOT_STARTED = "not_started"  # eligible, but the batch stopped or was aborted before it


ENDED = frozenset({SiteVerdict.MIGRATED, SiteVerdict.ROLLED_BACK, SiteVerdict.ATTENTION, SiteVerdict.SKIPPED})


@dataclass
class BatchSite:
    seq: int
    site: str
    state: SiteVerdict
    reason: str | None = None
    run_id: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    changes: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return self.ended_at - self.started_at if self.started_at and self.ended_at else None


@dataclass
class BatchRecord:
    id: str
    source_platform: str
    target_platform: str
    state: BatchState
    options: dict[str, Any]
    started_at: float
    ended_at: float | None
    runner_pid: int | None
    runner_host: str | None
    runner_start: int | None
    runner_boot: str | None
    heartbeat_at: float | None
    summary: str | None
    sites: list[BatchSite] = field(default_factory=list)

    @property
    def runner_alive(self) -> bool:
        return runner_alive(self)

    @property
    def public_state(self) -> str:
        """running, done, stopped, aborted, or interrupted (running, its runner gone)."""
        if self.state == BatchState.RUNNING:
            return "running" if self.runner_alive else "interrupted"
        return str(self.state)

    def count(self, *verdicts: SiteVerdict) -> int:
        return sum(s.state in verdicts for s in self.sites)


class BatchJournal:
    def __init__(self, journal: Journal) -> None:
        self.journal, self.db = journal, journal.db
        if not journal.read_only:
            self.db.executescript(SCHEMA)

    def create(self, batch_id: str, source: str, target: str, options: dict[str, Any],
               sites: list[tuple[str, SiteVerdict, str | None, dict[str, int]]]) -> None:
        now = time.time()
        start, boot = own_identity()
        with self.journal.tx() as db:
            db.execute("INSERT INTO batches (id, source_platform, target_platform, state, options, started_at, "
                       "runner_pid, runner_host, runner_start, runner_boot, heartbeat_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (batch_id, source, target, BatchState.RUNNING, json.dumps(options), now, os.getpid(),
                        socket.gethostname(), start, boot, now))
            db.executemany("INSERT INTO batch_sites (batch_id, seq, site, state, reason, changes) VALUES (?,?,?,?,?,?)",
                           [(batch_id, i, uri, state, reason, json.dumps(changes))
                            for i, (uri, state, reason, changes) in enumerate(sites)])

    def claim(self, batch_id: str) -> None:
        start, boot = own_identity()
        self.set(batch_id, runner_pid=os.getpid(), runner_host=socket.gethostname(), runner_start=start,
                 runner_boot=boot, heartbeat_at=time.time(), state=BatchState.RUNNING, ended_at=None)

    def set(self, batch_id: str, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.journal.tx() as db:
            db.execute(f"UPDATE batches SET {cols} WHERE id = ?", (*values.values(), batch_id))  # noqa: S608

    def set_site(self, batch_id: str, seq: int, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.journal.tx() as db:
            db.execute(f"UPDATE batch_sites SET {cols} WHERE batch_id = ? AND seq = ?",  # noqa: S608
                       (*values.values(), batch_id, seq))

    def get(self, batch_id: str) -> BatchRecord | None:
        row = self.db.execute("SELECT id, source_platform, target_platform, state, options, started_at, ended_at, "
                              "runner_pid, runner_host, runner_start, runner_boot, heartbeat_at, summary "
                              "FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            return None
        rec = BatchRecord(row[0], row[1], row[2], BatchState(row[3]), json.loads(row[4]), *row[5:])
        rec.sites = [BatchSite(r[0], r[1], SiteVerdict(r[2]), r[3], r[4], r[5], r[6], json.loads(r[7] or "{}"))
                     for r in self.db.execute("SELECT seq, site, state, reason, run_id, started_at, ended_at, "
                                              "changes FROM batch_sites WHERE batch_id = ? ORDER BY seq",
                                              (batch_id,))]
        return rec

    def list(self, limit: int = 100) -> list[BatchRecord]:
        ids = [r[0] for r in self.db.execute("SELECT id FROM batches ORDER BY started_at DESC LIMIT ?", (limit,))]
        return [b for b in (self.get(i) for i in ids) if b is not None]
