"""The Run screen's log panes: follow, wrap, timestamps, filter, and one append per pane per poll.

The LogView itself (bounds, lazy drawing, scrolling, colours) is tested in test_tui_log_view.py."""

from __future__ import annotations

import dataclasses
import gc
import time
from pathlib import Path

import pytest
from run_support import MASTER, T0, WEB1, WEB2, new_run, output, until
from textual.app import App, ComposeResult
from textual.widgets import Input
from tui_helpers import plain, settle

from qm_tui.app import GC_THRESHOLD, QmApp, run_app
from qm_tui.config import Config
from qm_tui.engine.journal import Journal
from qm_tui.screens import run as run_module
from qm_tui.screens.run import RunScreen
from qm_tui.widgets.host_logs import HostLogs
from qm_tui.widgets.log_view import LogView


def utc_hms(ts: float) -> str:
    """A fixed time zone: T0 + n is 22:13:(20 + n) wherever the tests run."""
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def shown(log: LogView) -> list[str]:
    return [line.rstrip() for line in log.plain_lines()]


def row(i: int, host: str, line: str, stream: str = "stdout") -> tuple[int, float, int, str, str, str]:
    return (i, T0 + i, 0, host, stream, line)


class LogsApp(App[None]):
    def __init__(self, max_lines: int) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield HostLogs(["m", "w"], max_lines=self.max_lines, stamp=utc_hms, id="logs")


async def test_one_append_per_pane_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[str] = []
    real_append = LogView.append

    def counting_append(self: LogView, rows: list) -> None:
        writes.append(str(self.id))
        real_append(self, rows)

    monkeypatch.setattr(LogView, "append", counting_append)
    async with LogsApp(max_lines=1000).run_test(size=(100, 20)) as pilot:
        logs = pilot.app.query_one(HostLogs)
        logs.write_events([row(i, "m" if i % 3 else "w", f"line {i}") for i in range(300)]
                          + [row(300, "elsewhere", "an unknown host goes to the first pane")])
        assert sorted(writes) == ["log-0-view", "log-1-view"]
        assert logs.counts == {"m": 201, "w": 100}
        await pilot.pause()
        lines = shown(logs.log_of("m"))
        assert lines[:2] == ["line 1", "line 2"] and lines[-1] == "an unknown host goes to the first pane"


async def test_filter_and_timestamps_reindex_a_bounded_buffer() -> None:
    async with LogsApp(max_lines=4).run_test(size=(100, 20)) as pilot:
        logs = pilot.app.query_one(HostLogs)
        logs.write_events([row(i, "m", f"{'error' if i % 2 else 'ok'} {i}") for i in range(6)])
        logs.write_events([row(6, "w", "ERROR on w"), row(7, "w", "fine on w")])
        await pilot.pause()
        m, w = logs.log_of("m"), logs.log_of("w")
        assert shown(m) == ["ok 2", "error 3", "ok 4", "error 5"]  # the last 4 only, as the buffer

        logs.set_filter(" Error ")  # trimmed, case-insensitive
        await pilot.pause()
        assert shown(m) == ["error 3", "error 5"]
        assert "filter “error”" in plain(logs.query_one("#log-indicator"))
        # Live lines are filtered too; the filter shows the matches among the last 4 events (4, 5, 8, 9).
        logs.write_events([row(8, "m", "ok 8"), row(9, "m", "error 9")])
        await pilot.pause()
        assert shown(m) == ["error 5", "error 9"]

        logs.toggle_timestamps()  # drawn again from the same buffer
        await pilot.pause()
        assert shown(m) == ["22:13:25 error 5", "22:13:29 error 9"]
        drawn = w.drawn
        logs.write_events([row(10, "w", "error again")])  # hidden: stored, nothing drawn until shown
        await pilot.pause()
        assert w.drawn == drawn == 0 and not w.live
        logs.cycle(1)
        await pilot.pause()
        assert logs.active_host == "w"
        assert shown(w) == ["22:13:26 ERROR on w", "22:13:30 error again"]

        logs.set_filter("")
        await pilot.pause()
        assert shown(w) == ["22:13:26 ERROR on w", "22:13:27 fine on w", "22:13:30 error again"]
        assert logs.counts == {"m": 8, "w": 3}  # counts every line, whatever is shown


async def test_run_screen_log_keys(tui_config: Config, tmp_path: Path) -> None:
    """t, / (enter applies), escape clears the filter, then escape goes back as usual."""
    cfg = dataclasses.replace(tui_config, state_dir=tmp_path / "state")
    journal = Journal(cfg.state_dir)
    new_run(journal, "l1")
    output(journal, "l1", 0, MASTER, ("cmd", "drush @shop vset maintenance_mode 1"), ("stdout", "done"))
    output(journal, "l1", 1, MASTER, ("stderr", "warning: slow"))
    app = QmApp(cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = RunScreen("l1", clock=lambda: T0 + 65, poll_seconds=0.05, stamp=utc_hms)
        await app.push_screen(screen)
        await until(pilot, lambda: screen.logs is not None and screen.logs.counts[MASTER] == 3, what="the run")
        logs = screen.logs
        assert logs is not None
        master = logs.log_of(MASTER)
        await until(pilot, lambda: master.line_count == 3, what="lines in the pane")

        await pilot.press("t")
        await until(pilot, lambda: shown(master)[0] == "22:13:20 $ drush @shop vset maintenance_mode 1",
                    what="timestamps")
        assert shown(master)[2] == "22:13:21 warning: slow"

        await pilot.press("slash")
        box = logs.query_one("#log-filter", Input)
        assert box.display and app.focused is box
        await pilot.press("a", "p")  # typed into the box, not an abort or a pause
        assert app.screen is screen and box.value == "ap"
        box.value = "WARN"
        await pilot.press("enter")
        await until(pilot, lambda: shown(master) == ["22:13:21 warning: slow"], what="the filter")
        assert app.focused is master and "filter “warn”" in plain(logs.query_one("#log-indicator"))
        output(journal, "l1", 2, MASTER, ("stdout", "quiet line"), ("stderr", "warning: again"))
        await until(pilot, lambda: logs.counts[MASTER] == 5, what="live lines")
        await until(pilot, lambda: shown(master)[-1] == "22:13:22 warning: again", what="live filtered")
        assert master.line_count == 2

        await pilot.press("escape")  # the box is shown: escape clears the filter, the screen stays
        await until(pilot, lambda: master.line_count == 5, what="filter cleared")
        assert app.screen is screen and not box.display and not logs.filter
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert logs.active_host == WEB2
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen
    journal.close()


async def test_follow_and_wrap_toggles(tui_config: Config, tmp_path: Path) -> None:
    cfg = dataclasses.replace(tui_config, state_dir=tmp_path / "state")
    journal = Journal(cfg.state_dir)
    new_run(journal, "l2")
    app = QmApp(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = RunScreen("l2", clock=lambda: T0, poll_seconds=0.05)
        await app.push_screen(screen)
        await until(pilot, lambda: screen.logs is not None, what="the run")
        logs = screen.logs
        assert logs is not None and logs.active_host == MASTER
        await pilot.press("f", "w")
        assert not logs.follow and logs.wrap
        assert all(not log.auto_scroll and log.wrap for log in logs.query(LogView))
        assert "Follow:Off Wrap:On Time:Off" in plain(logs.query_one("#log-indicator"))
        await pilot.press("right_square_bracket")
        assert logs.active_host == WEB1
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert logs.active_host == WEB2
    journal.close()


async def test_full_pages_are_read_at_once(tui_config: Config, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """While a poll comes back full, the screen reads on without waiting poll_seconds (a flood keeps up)."""
    monkeypatch.setattr(run_module, "EVENTS_PAGE", 100)
    cfg = dataclasses.replace(tui_config, state_dir=tmp_path / "state")
    journal = Journal(cfg.state_dir)
    new_run(journal, "l3")
    output(journal, "l3", 2, WEB1, *[("stdout", f"line {i}") for i in range(1050)])
    app = QmApp(cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = RunScreen("l3", clock=lambda: T0, poll_seconds=60)  # a sleep would end the test here
        await app.push_screen(screen)
        await until(pilot, lambda: screen.logs is not None and screen.logs.counts[WEB1] == 1050, timeout=20,
                    what="11 pages without a sleep between them")
        assert screen.polls == 11  # ten full pages, then the rest: the next poll waits poll_seconds
        output(journal, "l3", 2, WEB1, ("stdout", "after the flood"))
        await pilot.pause(0.3)
        assert screen.logs.counts[WEB1] == 1050
    journal.close()


def test_run_app_raises_the_gc_threshold_while_the_app_runs(tui_config: Config,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(QmApp, "run", lambda self, **kw: seen.append(gc.get_threshold()) or 0)
    before = gc.get_threshold()
    assert run_app(tui_config) == 0
    assert seen == [GC_THRESHOLD] and gc.get_threshold() == before
