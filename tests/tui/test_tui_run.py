"""Pilot tests of the Run and Runs screens following a journal filled by hand (see run_support.py)."""

from __future__ import annotations

import pytest
from run_support import MASTER, T0, WEB1, WEB2, interrupt, new_run, output, until
from textual.widgets import Button, DataTable
from tui_helpers import plain, record_spawns, settle

from qm_tui.app import QmApp
from qm_tui.config import Config
from qm_tui.engine.journal import Journal
from qm_tui.screens import run as run_module
from qm_tui.screens.confirm import ChooseAction, ConfirmAction
from qm_tui.screens.run import RunScreen
from qm_tui.screens.runs import RunsScreen
from qm_tui.widgets.step_tree import fmt_elapsed

SIZE = (120, 36)
NOW = T0 + 65  # every elapsed time on screen is measured against this


@pytest.fixture
def cfg(state_cfg: Config) -> Config:
    return state_cfg


@pytest.fixture
def journal(state_journal: Journal) -> Journal:
    return state_journal


def run_screen(run_id: str) -> RunScreen:
    return RunScreen(run_id, clock=lambda: NOW, poll_seconds=0.05)


async def attach(pilot, app: QmApp, run_id: str) -> RunScreen:
    await settle(pilot)
    screen = run_screen(run_id)
    await app.push_screen(screen)
    await until(pilot, lambda: screen.tree.built and screen.logs is not None, what="the run to load")
    await pilot.pause()
    return screen


def labels(screen: RunScreen) -> list[str]:
    return [str(node.label) for node in screen.tree.leaves.values()]


def status(screen: RunScreen) -> str:
    return plain(screen.query_one("#run-status"))


def requests(journal: Journal, run_id: str) -> list[str]:
    return [r[0] for r in journal.db.execute("SELECT kind FROM requests WHERE run_id = ?", (run_id,))]


def test_fmt_elapsed() -> None:
    assert [fmt_elapsed(s) for s in (None, -3, 7.9, 65, 3725)] == ["", "0s", "7s", "1m05s", "1h02m"]


async def test_run_screen_follows_the_journal(cfg: Config, journal: Journal) -> None:
    new_run(journal, "r1")
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await attach(pilot, app, "r1")
        tree = screen.tree
        leaves = dict(tree.leaves)
        assert [str(n.label) for n in tree.root.children] == [
            f"{MASTER} (hostmaster)  0/3", f"{WEB1}  0/2", f"{WEB2}  0/2"]
        assert all(label.startswith("· ") for label in labels(screen))
        assert "running · 0/7 steps · 1m05s" in status(screen)

        # Step 0 starts on the hostmaster, its command then its output.
        journal.set_step("r1", 0, state="started", started_at=T0 + 60)
        output(journal, "r1", 0, MASTER, ("cmd", "drush @shop vset maintenance_mode 1"), ("stdout", "done"))
        await until(pilot, lambda: labels(screen)[0].startswith("▶"), what="step 0 started")
        assert labels(screen)[0] == "▶ Maintenance mode on  5s"
        assert "[aegir.lab.test] Maintenance mode on" in status(screen)
        logs = screen.logs
        assert logs is not None
        await until(pilot, lambda: logs.counts[MASTER] == 2, what="hostmaster output")
        master_log = logs.log_of(MASTER)
        await until(pilot, lambda: master_log.line_count == 2, what="lines in the pane")
        assert master_log.plain_lines()[0].startswith("$ drush @shop vset")
        assert master_log.max_lines == logs.max_lines

        # Steps 0-1 done, parking on the web fronts (in parallel); their output goes to their panes.
        journal.set_step("r1", 0, state="ok", ended_at=T0 + 61)
        journal.set_step("r1", 1, state="ok", started_at=T0 + 61, ended_at=T0 + 63)
        for seq in (2, 3):
            journal.set_step("r1", seq, state="started", started_at=T0 + 63)
        output(journal, "r1", 2, WEB1, ("cmd", "mv files parked"), ("stderr", "warning: slow disk"))
        output(journal, "r1", 3, WEB2, ("cmd", "mv files parked"))
        await until(pilot, lambda: logs.counts[WEB1] == 2 and logs.counts[WEB2] == 1, what="front output")
        assert labels(screen)[:4] == ["✔ Maintenance mode on  1s", "✔ Dump the database  2s",
                                      "▶ Park files on web1  2s", "▶ Park files on web2  2s"]
        assert "2/7 steps" in status(screen)
        assert logs.counts[MASTER] == 2  # nothing duplicated by later polls

        # Everything done.
        for seq in range(2, 7):
            journal.set_step("r1", seq, state="ok", started_at=T0 + 63, ended_at=T0 + 64)
        journal.set_run("r1", state="succeeded", ended_at=T0 + 64)
        await until(pilot, lambda: screen.run_state == "succeeded", what="success")
        await pilot.pause()
        assert status(screen).startswith("succeeded · 7/7 steps · 1m04s")
        assert [str(n.label) for n in tree.root.children] == [
            f"{MASTER} (hostmaster)  3/3", f"{WEB1}  2/2", f"{WEB2}  2/2"]
        assert dict(tree.leaves) == leaves  # built once: the same nodes, relabelled
        assert not screen.query_one("#run-actions").display
        assert "a" not in screen.active_bindings  # nothing to abort any more


async def test_rollback_progress_shows_in_the_same_tree(cfg: Config, journal: Journal) -> None:
    new_run(journal, "r2")
    journal.set_step("r2", 0, state="ok", started_at=T0, ended_at=T0 + 1)
    journal.set_step("r2", 1, state="failed", started_at=T0 + 1, ended_at=T0 + 2, detail="mysqldump: error 2013")
    journal.set_run("r2", state="rolling_back")
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await attach(pilot, app, "r2")
        assert labels(screen)[1] == "✖ Dump the database  1s  mysqldump: error 2013"
        journal.set_step("r2", 0, undo_state="started", undo_started_at=T0 + 60)
        await until(pilot, lambda: "undoing" in labels(screen)[0], what="undo started")
        assert "rollback 0/1" in status(screen)
        await pilot.press("a")  # during a rollback, abort can only pause it (the engine never stops an undo)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction) and "Pause the rollback" in app.screen.title_text
        await pilot.click("#action-ok")
        await pilot.pause()
        assert requests(journal, "r2") == ["pause"]
        journal.set_step("r2", 0, undo_state="ok", undo_ended_at=T0 + 62)
        journal.set_run("r2", state="rolled_back", ended_at=T0 + 62, error="dump failed; rolled back")
        await until(pilot, lambda: screen.run_state == "rolled_back", what="rolled back")
        await pilot.pause()
        assert labels(screen)[0] == "↶ Maintenance mode on (undone)  2s"
        assert "rolled back · rollback 1/1" in status(screen) and "dump failed" in status(screen)
        assert not screen.query_one("#run-rollback", Button).display  # already rolled back


async def test_abort_asks_first_and_cancel_sends_nothing(cfg: Config, journal: Journal) -> None:
    new_run(journal, "r3")
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await attach(pilot, app, "r3")
        assert "a" in screen.active_bindings
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ChooseAction)
        assert [str(b.label) for b in app.screen.query(Button)] == [
            "Cancel", "Stop, no rollback", "Abort and roll back"]
        assert app.focused is not None and app.focused.id == "action-cancel"
        await pilot.press("enter")  # a reflexive Enter cancels
        await pilot.pause()
        assert app.screen is screen and requests(journal, "r3") == []
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and requests(journal, "r3") == []
        await pilot.press("a")
        await pilot.pause()
        await pilot.click("#action-abort")
        await pilot.pause()
        assert app.screen is screen
        assert requests(journal, "r3") == ["abort"]


def fake_spawner(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the detached runners the Run screen would start (rollback, resume) instead of starting them."""
    return record_spawns(monkeypatch, run_module)


async def test_stop_without_rollback_pauses_then_offers_rollback(cfg: Config, journal: Journal,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    spawned = fake_spawner(monkeypatch)
    new_run(journal, "r3p")
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await attach(pilot, app, "r3p")
        # From the abort dialog: its second choice sends what `qm-tui abort --no-rollback` sends.
        await pilot.press("a")
        await pilot.pause()
        await pilot.click("#action-pause")
        await pilot.pause()
        assert app.screen is screen and requests(journal, "r3p") == ["pause"]
        # Or straight from `p`, which asks first too (focus on Cancel: a reflexive Enter sends nothing).
        assert "p" in screen.active_bindings
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction) and "without rolling back" in app.screen.title_text
        assert app.focused is not None and app.focused.id == "action-cancel"
        await pilot.press("enter")
        await pilot.pause()
        assert requests(journal, "r3p") == ["pause"]
        await pilot.press("p")
        await pilot.pause()
        await pilot.click("#action-ok")
        await pilot.pause()
        assert requests(journal, "r3p") == ["pause", "pause"]
        # The runner answers as the engine does: it stops and stays paused, which the TUI shows as aborted.
        journal.set_step("r3p", 0, state="ok", started_at=T0, ended_at=T0 + 1)
        journal.set_run("r3p", state="paused", ended_at=T0 + 2, error="aborted by the operator")
        await until(pilot, lambda: screen.query_one("#run-actions").display, what="the action bar")
        assert screen.run_state == "aborted"
        assert screen.query_one("#run-rollback", Button).display and screen.query_one("#run-resume", Button).display
        assert "p" not in screen.active_bindings and "a" not in screen.active_bindings
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction)
        await pilot.click("#action-ok")
        await pilot.pause()
        assert spawned == [["rollback", "r3p"]]


@pytest.mark.parametrize("how", ["needs_attention", "aborted", "paused", "interrupted"])
async def test_rollback_offered_for_a_run_that_stopped(cfg: Config, journal: Journal, how: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    spawned = fake_spawner(monkeypatch)
    new_run(journal, "r4")
    journal.set_step("r4", 0, state="ok", started_at=T0, ended_at=T0 + 1)
    if how == "interrupted":
        interrupt(journal, "r4")
    else:
        journal.set_run("r4", state=how, ended_at=T0 + 2)
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await attach(pilot, app, "r4")
        await until(pilot, lambda: screen.query_one("#run-actions").display, what="the action bar")
        button = screen.query_one("#run-rollback", Button)
        assert button.display and "b" in screen.active_bindings and "a" not in screen.active_bindings
        assert screen.query_one("#run-resume", Button).display == (how != "needs_attention")
        await pilot.click("#run-rollback")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction)
        assert app.focused is not None and app.focused.id == "action-cancel"
        await pilot.click("#action-ok")
        await pilot.pause()
        assert spawned == [["rollback", "r4"]]
        assert not screen.query_one("#run-actions").display  # until the new runner claims the run


async def test_running_run_offers_no_rollback(cfg: Config, journal: Journal) -> None:
    new_run(journal, "r5")
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        screen = await attach(pilot, app, "r5")
        assert screen.run_state == "running"
        assert not screen.query_one("#run-actions").display
        assert "b" not in screen.active_bindings and "u" not in screen.active_bindings


async def test_read_only_hides_abort_and_rollback(cfg: Config, journal: Journal) -> None:
    new_run(journal, "r6")
    new_run(journal, "r7")
    journal.set_run("r7", state="needs_attention", ended_at=T0 + 5)
    app = QmApp(cfg, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await attach(pilot, app, "r6")
        assert "a" not in screen.active_bindings and "p" not in screen.active_bindings
        await pilot.press("a", "p")
        await pilot.pause()
        assert app.screen is screen and requests(journal, "r6") == []
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Log: filter lines" in titles
        assert not [t for t in titles if t.endswith(" run…") or t.startswith("Pause run")], titles
        app.pop_screen()
        screen = await attach(pilot, app, "r7")
        await pilot.pause()
        assert not screen.query_one("#run-actions").display
        assert "b" not in screen.active_bindings and "u" not in screen.active_bindings
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is screen


async def test_runs_screen_lists_interrupted_first_and_attaches(cfg: Config, journal: Journal) -> None:
    new_run(journal, "old-ok", site="a.lab.test", started=T0 - 300)
    journal.set_run("old-ok", state="succeeded", ended_at=T0 - 200)
    new_run(journal, "crashed", site="b.lab.test", started=T0 - 100)
    interrupt(journal, "crashed")
    new_run(journal, "live", site="c.lab.test", started=T0)
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        table = runs.query_one("#runs", DataTable)
        assert [str(r.key.value) for r in table.ordered_rows] == ["crashed", "live", "old-ok"]
        assert str(table.get_row("crashed")[4]) == "INTERRUPTED"
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.run_id == "crashed"
        await until(pilot, lambda: screen.tree.built, what="attach")
        assert screen.run_state == "interrupted"
        await until(pilot, lambda: screen.query_one("#run-rollback", Button).display, what="rollback offered")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is runs


async def test_quitting_while_attached_explains_the_run_goes_on(cfg: Config, journal: Journal) -> None:
    new_run(journal, "r8")
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await attach(pilot, app, "r8")
        await pilot.press("ctrl+q")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmAction)
        assert "qm-tui watch r8" in modal.body
        assert app.focused is not None and app.focused.id == "action-cancel"  # Stay
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen) and app.is_running
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.click("#action-ok")
        await pilot.pause()
    assert not app.is_running and app.return_code == 0


async def test_help_and_palette_know_the_run_screens(cfg: Config, journal: Journal) -> None:
    from qm_tui.screens.help import HelpScreen

    new_run(journal, "r10")
    app = QmApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Runs" in [c.title for c in app.get_system_commands(app.screen)]
        await pilot.press("question_mark")
        await pilot.pause()
        assert "R" in plain(app.screen.query_one("#help-screen-keys")).split()  # Sites: R opens the Runs
        await pilot.press("escape")
        screen = await attach(pilot, app, "r10")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = plain(app.screen.query_one("#help-screen-keys"))
        for words in ("Abort", "Pause: stop without rolling back", "Follow", "Wrap", "Log: timestamps",
                      "Log: show only lines"):
            assert words in keys, words
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        commands = {c.title: c for c in app.get_system_commands(screen)}
        assert {"Abort run…", "Pause run (stop, no rollback)…", "Log: filter lines"} <= commands.keys()
        assert "Roll back run…" not in commands  # a running run cannot be rolled back
        commands["Pause run (stop, no rollback)…"].callback()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction) and "without rolling back" in app.screen.title_text
