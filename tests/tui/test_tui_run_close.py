"""Leaving the Run screen while its worker thread reads the journal must wait for the read.

Closing the SQLite connection under a running query crashed the whole interpreter (a segfault seen in
the suite); the read and the close now take turns, and nothing reopens the journal afterwards.
"""

from __future__ import annotations

import threading
import time

from qm_tui.screens.run import RunScreen


class SlowJournal:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def get_run(self, run_id: str) -> None:
        self.events.append("read")
        time.sleep(0.3)
        self.events.append("read done")

    def close(self) -> None:
        self.events.append("close")


def test_unmount_waits_for_the_poll_in_flight_and_nothing_reopens() -> None:
    events: list[str] = []
    screen = RunScreen("r1")
    screen._journal = SlowJournal(events)  # type: ignore[assignment]
    screen._runner_note = lambda: "starting"  # type: ignore[method-assign]
    reader = threading.Thread(target=screen._read)
    reader.start()
    while not events:
        time.sleep(0.01)
    screen.on_unmount()
    reader.join()
    assert events == ["read", "read done", "close"]
    polled = screen._read()
    assert polled.run is None and polled.events == [] and screen._journal is None
