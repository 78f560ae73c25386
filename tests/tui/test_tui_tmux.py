"""End to end in a real terminal: ``qm-tui`` in tmux, a whole migration typed on the keyboard, on the lab.

Nothing here touches the app from the inside: keys go in with ``tmux send-keys``, the test reads the
screen with ``tmux capture-pane`` and waits for what a person would wait for (no sleep-only steps).
Then it checks the real world: the hostmaster says the site is on its new platform, every front's
files were renamed (same inode, one place), and no runner process is left.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_support import REPO, Lab, assert_files_at, fronts_of, hostmaster_platform, make_lab, site_state
from tmux_support import Screen, Tmux, pid_gone, tmux_missing_reason

pytestmark = pytest.mark.lab

URI, SOURCE, TARGET = "cluster-d7.lab.test", "drupal-7.97-a", "drupal-7.98-b"
MASTER = "aegir.lab.test"
RUNNER_COMMANDS = ("_run", "rollback", "resume")
FINAL = re.compile(r"^ ?(succeeded|rolled back|needs attention|interrupted|aborted) · (\d+)/(\d+) steps · ", re.M)
SPLIT = "▕"  # the Run screen's border between the step tree (left) and the log tabs (right)


@pytest.fixture(scope="module")
def tmux_ok() -> None:
    why = tmux_missing_reason()
    if why:
        pytest.skip(why)


@pytest.fixture(scope="module")
def lab(tmux_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


def runner_pids(config: Path, run_id: str | None = None) -> list[int]:
    """Detached runners (``python -m qm_tui _run|rollback|resume ... --config <config>``) of this lab."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "qm_tui" not in argv or str(config) not in argv:
            continue
        sub = argv[argv.index("qm_tui") + 1] if argv.index("qm_tui") + 1 < len(argv) else ""
        if sub in RUNNER_COMMANDS and (run_id is None or run_id in argv):
            pids.append(int(entry.name))
    return pids


def wait_runners_gone(config: Path, timeout: float) -> list[int]:
    """Wait for every runner of this lab to end; the ones still alive at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in runner_pids(config) if not pid_gone(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@pytest.fixture
def term(lab: Lab, tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path, height=48)  # the whole step tree (28 steps on the cluster) on one screen
    config = lab.config_path.resolve()
    try:
        yield t
    finally:
        t.close()
        # A failed test may leave its migration running: let it finish (the lab is torn down next),
        # and stop it by pid only if it hangs.
        for pid in wait_runners_gone(config, timeout=120):
            os.kill(pid, signal.SIGTERM)


# --- reading the screen -------------------------------------------------------------------------------


def step_lines(screen: Screen) -> list[str]:
    """The step tree's leaves (one line per step) in the Run screen's left column."""
    return [line for line in run_columns(screen)[0] if re.match(r"^[├└] ", line)]


def targets_rows(screen: Screen) -> list[str]:
    """Platform titles of the Site screen's targets table, top to bottom."""
    lines = screen.splitlines()
    head = next(i for i, line in enumerate(lines) if re.match(r"^ Platform +Core +Web server", line))
    rows = []
    for line in lines[head + 1:]:
        if not line.strip() or line.startswith("─"):
            break
        rows.append(line.split()[0])
    return rows


def highlighted_target(screen: Screen) -> str | None:
    """The platform the Site screen's reasons line names (it follows the cursor)."""
    m = re.search(r"^ [✔✖] (\S+?):? (can be quick-migrated to|is not selectable:)$", screen, re.M)
    return m.group(1) if m else None


def modal_cells(screen: Screen) -> list[str]:
    """The text of each line inside a modal's box (between its │ borders)."""
    return [m.group(1).strip() for m in re.finditer(r"│(.*?)│", screen)]


def run_columns(screen: Screen) -> tuple[list[str], list[str]]:
    """The Run screen split at the tree/logs border: (left lines, right lines) of the rows that have it."""
    left, right = [], []
    for line in screen.splitlines():
        if SPLIT in line:
            a, _, b = line.partition(SPLIT)
            left.append(a.rstrip())
            right.append(b.rstrip())
    return left, right


# --- the test -----------------------------------------------------------------------------------------


def test_migrate_by_keyboard_in_tmux(lab: Lab, term: Tmux) -> None:
    fronts = fronts_of(lab, URI)
    assert hostmaster_platform(lab, URI) == SOURCE
    before = site_state(lab, URI, fronts)
    assert_files_at(lab, URI, SOURCE, before, before)

    term.start([sys.executable, "-m", "qm_tui", "--config", str(lab.config_path)], cwd=REPO)

    # Sites: wait for the whole list, filter on the URI, leave the box, open the row.
    screen = term.wait_for(lambda s: re.search(r"^ (\d+) of \1 sites", s, re.M), timeout=30, what="the site list")
    assert URI in screen
    term.keys("/")
    term.wait_for("filter uri, platform, profile, client", what="the filter box")
    term.type(URI)
    term.wait_for(lambda s: re.search(rf"^ 1 of \d+ sites · filter “{re.escape(URI)}”", s, re.M),
                  what="the list filtered to one site")
    term.keys("Enter")  # leaves the box: the table has the focus, the footer shows the screen's keys again
    term.wait_for(lambda s: s.splitlines()[-1].startswith("/ Filter s Sort"), what="focus back on the table")
    term.keys("Enter")

    # Site: the targets, selectable first; walk the cursor with the arrow keys onto the target.
    screen = term.wait_for(lambda s: re.search(r"Targets +\d+ of \d+ selectable", s) and highlighted_target(s),
                           timeout=30, what="the targets of the site")
    assert re.search(rf"^ URI +{re.escape(URI)} ", screen, re.M) and re.search(rf"^ Platform +{SOURCE} ", screen, re.M)
    rows = targets_rows(screen)
    assert TARGET in rows and len(rows) > 1, rows
    term.keys("Down")
    term.wait_for(lambda s: highlighted_target(s) == rows[1], what=f"the cursor on {rows[1]}")
    delta = rows.index(TARGET) - 1
    for _ in range(abs(delta)):
        term.keys("Down" if delta > 0 else "Up")
    screen = term.wait_for(f" ✔ {TARGET}: can be quick-migrated to", what=f"the cursor on {TARGET}")

    # Confirm: the real plan and SSH preflight, then type the URI (focus starts on Cancel).
    term.keys("m")
    screen = term.wait_for(lambda s: "✔ preflight ok" in s or "Preflight refused" in s or "could not be made" in s,
                           timeout=120, what="plan and preflight")
    assert "✔ preflight ok" in screen, screen
    cells = modal_cells(screen)
    assert f"From → to {SOURCE} → {TARGET}" in [re.sub(r" +", " ", c) for c in cells], cells
    counts = [int(m.group(1)) for c in cells if (m := re.fullmatch(r"(\d+) steps:", c))]
    assert len(counts) == 1, cells
    planned = counts[0]
    assert f"type {URI} to proceed" in cells
    box_row = next(i for i, line in enumerate(screen.splitlines()) if f"type {URI} to proceed" in line)
    term.keys("BTab")  # from Cancel back to the URI box
    # Keys typed before the focus has moved would go to Cancel and be lost (a person sees the caret
    # first): wait for the terminal cursor to land on the box.
    term.wait_for(lambda _s: term.cursor()[1] == box_row, what="the focus on the URI box")
    term.type(URI)
    term.wait_for(lambda s: URI in modal_cells(s), what="the URI typed in the confirmation box")
    term.keys("Enter")

    # Run: follow it to the end.
    screen = term.wait_for(lambda s: re.search(rf"^ run \S+  {re.escape(URI)}  {SOURCE} → {TARGET}$", s, re.M),
                           timeout=30, what="the Run screen")
    title = re.search(r"^ run (\S+)  ", screen, re.M)
    assert title is not None
    run_id = title.group(1)
    config = lab.config_path.resolve()
    runners = runner_pids(config, run_id)
    assert runners, f"no detached runner for run {run_id}"
    screen = term.wait_for(FINAL.search, timeout=240, what="the run to end")
    final = FINAL.search(screen)
    assert final is not None
    state, done, total = final.groups()
    assert (state, int(done), int(total)) == ("succeeded", planned, planned), screen
    # The log pane may show the last lines a frame after the status line: wait for the hostmaster's last
    # commands (its tab is the one shown, following the end of the log).
    screen = term.wait_for(lambda s: any(line.startswith("$ drush @") for line in run_columns(s)[1]),
                           what="the hostmaster's last drush commands in its log tab")
    # A loaded machine may still be drawing the tree's last rows: wait for every planned step line.
    screen = term.wait_for(lambda s: len(step_lines(s)) >= planned, what=f"{planned} step lines in the tree")

    # Every step ticked, every host branch complete; one log tab per host, the hostmaster first.
    left, right = run_columns(screen)
    steps = step_lines(screen)
    assert len(steps) == planned, screen
    assert all(line.startswith(("├ ✔ ", "└ ✔ ")) for line in steps), "\n".join(steps)
    branches = [m.groups() for line in left if (m := re.match(r"^▼ (\S+)(?: \(hostmaster\))?  (\d+)/(\d+)$", line))]
    assert [b[0] for b in branches] == [MASTER, *fronts], branches
    assert all(d == t for _, d, t in branches), branches
    indicator = next(i for i, line in enumerate(right) if line.startswith(" Follow:"))
    assert right[indicator + 1].split() == [MASTER, *fronts], right[indicator + 1]

    # The runner finishes on its own (its result is already in the journal).
    assert wait_runners_gone(config, timeout=60) == [], f"runner of {run_id} still alive"

    # Quit: the run has ended, so ctrl+q exits at once (no "the run continues" question).
    term.keys("C-q")
    status = term.wait_exit(timeout=15)
    assert status == 0, f"qm-tui exited with status {status}; terminal after exit:\n{term.last}"
    assert term.pid is not None and pid_gone(term.pid)
    assert all(pid_gone(p) for p in runners)

    # The real world: the hostmaster and the files on every front.
    assert hostmaster_platform(lab, URI) == TARGET
    assert_files_at(lab, URI, TARGET, before, site_state(lab, URI, fronts))
