"""``qm-tui watch`` against a journal filled by hand (no lab): what it prints, poll by poll, and its exit code.

Each ``time.sleep`` of the watcher (between two polls) plays the next move of a scripted runner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from qm_tui import cli
from qm_tui.commands import ops_cmd
from qm_tui.engine.journal import Journal

T0 = 1_700_000_000.0
M, W1 = "aegir.test", "web1.test"
STEPS = [("maintenance", M, "Maintenance mode on"), ("dump_db", M, "Dump the database"),
         ("park_files", W1, "Park files on web1"), ("push_site", W1, "Push the site to web1")]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"hostmaster": {"db": {"user": "u", "name": "hm"}, "server": "localhost"},
                                    "state_dir": str(tmp_path / "state")}))
    return path


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "state")
    j.create_run("r1", "shop.test", 7, "old-platform", "new-platform", {}, STEPS)
    yield j
    j.close()


def out(j: Journal, seq: int, host: str, *lines: tuple[str, str]) -> None:
    j.events_batch([("r1", T0 + seq, seq, host, stream, line) for stream, line in lines])


def script(monkeypatch: pytest.MonkeyPatch, moves: list[Callable[[], None]]) -> list[float]:
    """The watcher's sleeps play ``moves`` in turn; the returned list records every sleep asked for."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        assert moves, "the watcher polled on after the script ended"
        moves.pop(0)()

    monkeypatch.setattr(ops_cmd.time, "sleep", sleep)
    return slept


def watch(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = cli.main(["watch", "r1", "--config", str(config), *extra])
    return code, capsys.readouterr().out.splitlines()


def test_watch_prints_step_changes_and_output_until_the_run_ends(
        config: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    j = journal
    j.set_step("r1", 0, state="ok", started_at=T0, ended_at=T0 + 1.5)
    j.set_step("r1", 1, state="started", started_at=T0 + 2)
    out(j, 1, M, ("cmd", "mariadb-dump shop"), ("stdout", "dumping"), ("info", "dump is 3 MiB"))

    def second() -> None:
        j.set_step("r1", 1, state="ok", ended_at=T0 + 4, detail="3 MiB")
        j.set_step("r1", 2, state="failed", started_at=T0 + 4, ended_at=T0 + 4.25, detail="mv: permission denied")
        out(j, 2, W1, ("stderr", "mv: permission denied"))

    def third() -> None:
        j.set_run("r1", state="rolling_back")
        j.set_step("r1", 1, undo_state="started", undo_started_at=T0 + 5)

    def fourth() -> None:
        pass  # nothing moved: nothing printed

    def last() -> None:
        j.set_step("r1", 1, undo_state="ok", undo_ended_at=T0 + 6)
        j.set_step("r1", 0, undo_state="ok", undo_started_at=T0 + 6, undo_ended_at=T0 + 6.5)
        out(j, 0, M, ("info", "maintenance off"))
        j.set_run("r1", state="rolled_back", ended_at=T0 + 7, error="park_files failed on web1.test")

    slept = script(monkeypatch, [second, third, fourth, last])
    code, lines = watch(config, capsys)
    assert code == 0
    assert lines == [
        "run r1: shop.test old-platform → new-platform",
        "[aegir.test] maintenance: ok (1.5 s)",
        "[aegir.test] dump_db: started",
        "[aegir.test] $ mariadb-dump shop",
        "[aegir.test] dumping",
        "[aegir.test] dump is 3 MiB",
        "[aegir.test] dump_db: ok (2.0 s) — 3 MiB",
        "[web1.test] park_files: failed (0.2 s) — mv: permission denied",
        "[web1.test] mv: permission denied",
        "[aegir.test] dump_db: undoing — 3 MiB",
        "[aegir.test] maintenance: undone (0.5 s)",
        "[aegir.test] dump_db: undone (1.0 s) — 3 MiB",
        "[aegir.test] maintenance off",
        "rolled_back: park_files failed on web1.test",
    ]
    assert slept == [ops_cmd.WATCH_POLL] * 4


def test_watch_no_output_keeps_info_lines_only(
        config: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    j = journal
    out(j, 0, M, ("cmd", "drush vset maintenance_mode 1"), ("stdout", "done"), ("info", "site in maintenance"))
    j.set_step("r1", 0, state="ok", started_at=T0, ended_at=T0 + 1)
    j.set_run("r1", state="succeeded", ended_at=T0 + 9)
    script(monkeypatch, [])
    code, lines = watch(config, capsys, "--no-output")
    assert code == 0
    assert lines == ["run r1: shop.test old-platform → new-platform", "[aegir.test] maintenance: ok (1.0 s)",
                     "[aegir.test] site in maintenance", "succeeded"]


@pytest.mark.parametrize(("state", "shown", "code"), [
    ("needs_attention", "needs_attention", 3), ("paused", "aborted", 3), ("running", "interrupted", 3),
])
def test_watch_exit_code_of_a_run_that_did_not_end_well(
        config: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        state: str, shown: str, code: int) -> None:
    journal.set_run("r1", state=state, error="it went wrong", runner_pid=4_194_303 * 8, heartbeat_at=0.0)
    script(monkeypatch, [])
    assert watch(config, capsys) == (code, ["run r1: shop.test old-platform → new-platform",
                                            f"{shown}: it went wrong"])


def test_watch_of_an_unknown_run_is_a_usage_error(
        config: Path, journal: Journal, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["watch", "nope", "--config", str(config)]) == cli.EXIT_USAGE
    assert "no run 'nope'" in capsys.readouterr().err


def test_watch_reads_full_pages_at_once_and_prints_every_line_of_an_ended_run(
        config: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ops_cmd, "WATCH_PAGE", 2)
    out(journal, 0, M, *[("stdout", f"line {i}") for i in range(5)])
    journal.set_run("r1", state="succeeded", ended_at=T0 + 9)
    script(monkeypatch, [])  # no sleep between pages, none before the end
    code, lines = watch(config, capsys)
    assert code == 0
    assert lines == ["run r1: shop.test old-platform → new-platform",
                     *[f"[aegir.test] line {i}" for i in range(5)], "succeeded"]
