"""A journal filled by hand, as a detached runner would (imported by module name, like tui_helpers)."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot

from qm_tui.engine.journal import Journal

T0 = 1_700_000_000.0  # fixed clock: elapsed times on screen never depend on the machine
MASTER, WEB1, WEB2 = "aegir.lab.test", "web1.lab.test", "web2.lab.test"
STEPS = [
    ("maintenance", MASTER, "Maintenance mode on"),
    ("dump_db", MASTER, "Dump the database"),
    ("park_files", WEB1, "Park files on web1"),
    ("park_files", WEB2, "Park files on web2"),
    ("provision_save", MASTER, "Save the site on the target"),
    ("restore_files", WEB1, "Restore files on web1"),
    ("restore_files", WEB2, "Restore files on web2"),
]
DEAD_PID = 4_194_303 * 8  # above any pid_max: never a live process


def new_run(journal: Journal, run_id: str, site: str = "shop.lab.test", started: float = T0) -> None:
    plan = {"context": {"master_title": MASTER, "master": "localhost"},
            "steps": [[n, h, t] for n, h, t in STEPS]}
    journal.create_run(run_id, site, 42, "drupal-10.2", "drupal-10.3", plan, STEPS)
    # create_run records this (live) process as the runner: the run is "running" while the test lives.
    journal.set_run(run_id, started_at=started)


def interrupt(journal: Journal, run_id: str) -> None:
    """The runner died without a word: state stays running, its pid is gone, no heartbeat."""
    journal.set_run(run_id, runner_pid=DEAD_PID, heartbeat_at=0.0)


def output(journal: Journal, run_id: str, seq: int, host: str, *lines: tuple[str, str]) -> None:
    journal.events_batch([(run_id, T0 + seq, seq, host, stream, line) for stream, line in lines])


async def until(pilot: Pilot, cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)
