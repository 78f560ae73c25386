"""A runner killed with kill -9 leaves its remote commands running: recovery must stop them first.

The hazard (issue 11): an orphaned ``drush provision-verify`` on the hostmaster wakes up after a rollback
put the files back, and its cluster push (``rsync --delete``, nothing excluded) replaces every front's
``files/`` with the hostmaster's stale copy. Each test kills the runner while a slow drush command runs,
recovers at once, then waits past the moment the orphan would have pushed, and checks every front: files
byte-identical, inodes unchanged, nothing of the run left running anywhere.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from lab_support import (
    Lab,
    SiteState,
    assert_files_at,
    clear_standin,
    cli,
    fronts_of,
    hostmaster_platform,
    make_lab,
    no_leftovers,
    reset_faults,
    run_id_of,
    site_state,
    source_of,
    standin,
)
from test_survive import assert_no_run_processes, wait_for_step

from qm_tui.engine.journal import Journal

pytestmark = pytest.mark.lab
DST = "drupal-7.98-b"
SLOW = 8.0  # seconds the slow drush command sleeps before acting


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


@pytest.fixture(autouse=True)
def _clean(lab: Lab) -> Iterator[None]:
    yield from reset_faults(lab)


def kill_runner(lab: Lab, run_id: str) -> None:
    run = Journal(lab.state_dir).get_run(run_id)
    assert run is not None and run.runner_pid
    os.kill(run.runner_pid, signal.SIGKILL)


def drush_processes(lab: Lab, words: str) -> list[str]:
    host = lab.hosts["aegir.lab.test"]
    return [" ".join(p.cmdline) for p in host.processes() if words in " ".join(p.cmdline)]


def wait_until_orphan(lab: Lab, words: str, timeout: float = 10) -> None:
    """The runner is gone and its drush command still runs on the hostmaster: the hazard is real."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not drush_processes(lab, words):
        time.sleep(0.1)
    assert drush_processes(lab, words), f"no orphaned {words!r} on the hostmaster"


def assert_whole_on(lab: Lab, uri: str, platform: str, before: SiteState, fronts: list[str]) -> None:
    assert_files_at(lab, uri, platform, before, site_state(lab, uri, fronts))
    assert hostmaster_platform(lab, uri) == platform
    assert_no_run_processes(lab)
    no_leftovers(lab, uri)


def outlive_the_orphan(since: float) -> None:
    """Wait until an orphan that was not stopped would have woken up and pushed."""
    time.sleep(max(0.0, since + SLOW + 4 - time.monotonic()))


@pytest.mark.parametrize(("uri", "mode"), [("cluster-d7.lab.test", "rollback"), ("big-d7.lab.test", "resume")])
def test_kill_9_during_a_slow_verify_then_recover(lab: Lab, uri: str, mode: str) -> None:
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    standin(lab, "sleep", f"provision-verify {SLOW:g}\n")
    proc = cli(lab, "migrate", uri, DST, "--yes", "--detach")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = run_id_of(proc)
    wait_for_step(lab, run_id, "verify")
    t0 = time.monotonic()
    time.sleep(1)
    kill_runner(lab, run_id)
    wait_until_orphan(lab, "provision-verify")
    clear_standin(lab)  # the recovery's own drush calls are fast
    rec = cli(lab, mode, run_id)
    assert rec.returncode == (0 if mode == "resume" else 1), rec.stdout + rec.stderr
    assert "stopped a process of run" in rec.stdout and "provision-verify" in rec.stdout, rec.stdout
    assert not drush_processes(lab, "provision-verify"), "the orphan must be gone once recovery returns"
    outlive_the_orphan(t0)
    assert_whole_on(lab, uri, DST if mode == "resume" else source_of(lab, uri), before, fronts)


def test_kill_9_during_a_slow_rollback_then_rollback_again(lab: Lab) -> None:
    uri = "maint-d7.lab.test"
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    # The migration fails at hosting-import (slow enough to arm the next fault), and the rollback's
    # provision-verify on the source platform is slow: the runner is killed during it.
    standin(lab, "fail", "hosting-import once\n")
    standin(lab, "sleep", "hosting-import 2\n")
    proc = cli(lab, "migrate", uri, DST, "--yes", "--detach")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = run_id_of(proc)
    wait_for_step(lab, run_id, "hosting_import")
    standin(lab, "sleep", f"provision-verify {SLOW:g}\n")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run = Journal(lab.state_dir).get_run(run_id)
        if run and any(s.name == "move_site_dir" and s.undo_state == "started" for s in run.steps):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the rollback never reached move_site_dir")
    wait_until_orphan(lab, "provision-verify", timeout=30)
    t0 = time.monotonic()
    time.sleep(1)
    kill_runner(lab, run_id)
    clear_standin(lab)
    again = cli(lab, "rollback", run_id)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "stopped a process of run" in again.stdout, again.stdout
    assert not drush_processes(lab, "provision-verify"), "the orphan must be gone once recovery returns"
    outlive_the_orphan(t0)
    assert_whole_on(lab, uri, source_of(lab, uri), before, fronts)


def test_recovery_refuses_while_a_host_cannot_be_checked(lab: Lab) -> None:
    uri = "gluster-d7.lab.test"
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    standin(lab, "sleep", f"provision-verify {SLOW:g}\n")
    proc = cli(lab, "migrate", uri, DST, "--yes", "--detach")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = run_id_of(proc)
    wait_for_step(lab, run_id, "verify")
    kill_runner(lab, run_id)
    web2 = lab.hosts["web2.lab.test"]
    web2.stop()
    try:
        refused = cli(lab, "rollback", run_id)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "web2.lab.test" in refused.stderr and "nothing was changed" in refused.stderr, refused.stderr
        run = Journal(lab.state_dir).get_run(run_id)
        assert run is not None and run.public_state == "interrupted"
        assert all(s.undo_state is None for s in run.steps), "nothing may be undone before the sweep"
    finally:
        web2.start()
    clear_standin(lab)
    done = cli(lab, "abort", run_id)  # the runner is gone: abort sweeps and rolls back
    assert done.returncode == 1, done.stdout + done.stderr
    assert_whole_on(lab, uri, source_of(lab, uri), before, fronts)
