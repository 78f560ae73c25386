"""Migrations that survive the operator: detached runs, a dying terminal, abort, silent fronts, stuck
rollbacks, and locks. Every scenario ends whole, with no process of the run left on any host."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import yaml
from lab_support import (
    REPO,
    Lab,
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

from qm_tui.engine.journal import Journal

pytestmark = pytest.mark.lab
DST = "drupal-7.98-b"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


@pytest.fixture(autouse=True)
def _clean(lab: Lab) -> Iterator[None]:
    yield from reset_faults(lab)


def wait_for_step(lab: Lab, run_id: str, name: str, state: str = "started", timeout: float = 90) -> None:
    j = Journal(lab.state_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = j.get_run(run_id)
        if run and any(s.name == name and s.state == state for s in run.steps):
            return
        time.sleep(0.05)
    raise AssertionError(f"step {name} never reached {state}")


def run_processes(lab: Lab) -> dict[str, list[str]]:
    """Processes on the hosts that belong to a migration (drush, rsync, dumps, our scripts)."""
    out = {}
    for name, host in lab.hosts.hosts.items():
        procs = [" ".join(p.cmdline) for p in host.processes()]
        out[name] = [c for c in procs if any(k in c for k in ("drush", "rsync", "mariadb", "sleep", "qm:"))]
    return out


def assert_no_run_processes(lab: Lab, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {h: p for h, p in run_processes(lab).items() if p}
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError(f"processes of the run survived: {left}")


def detach(lab: Lab, uri: str, *extra: str) -> str:
    proc = cli(lab, "migrate", uri, DST, "--yes", "--detach", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "detached: runner pid" in proc.stdout
    return run_id_of(proc)


def final_state(lab: Lab, run_id: str, timeout: float = 240) -> str:
    proc = cli(lab, "watch", run_id, "--no-output", timeout=timeout)
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(("uri", "step", "sleep"), [
    ("verdicts-d7.lab.test", "updatedb", "updatedb 60\n"),
    ("maint-d7.lab.test", "push_site", None),
])
def test_abort_kills_every_remote_process_and_rolls_back(lab: Lab, uri: str, step: str, sleep: str | None) -> None:
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    if sleep:
        standin(lab, "sleep", sleep)
    else:
        # A slow push: an rsync wrapper on the master that sleeps before the real transfer.
        wrapper = lab.root("aegir.lab.test") / "bin" / "rsync"
        # Only qm-tui's own push (it excludes <uri>/private/files); the drush stand-in's rsync stays fast.
        wrapper.write_text("#!/bin/bash\ncase \"$*\" in *--exclude=/*/private/files*) sleep 60;; esac\n"
                           "exec /usr/bin/rsync \"$@\"\n")
        wrapper.chmod(0o755)
    try:
        run_id = detach(lab, uri)
        wait_for_step(lab, run_id, step)
        time.sleep(1)
        t0 = time.monotonic()
        proc = cli(lab, "abort", run_id)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert time.monotonic() - t0 < 5.5, "abort must be answered within 5 s"
        assert final_state(lab, run_id).startswith("rolled_back"), cli(lab, "run", "show", run_id).stdout
    finally:
        (lab.root("aegir.lab.test") / "bin" / "rsync").unlink(missing_ok=True)
    assert_no_run_processes(lab)
    assert_files_at(lab, uri, source_of(lab, uri), before, site_state(lab, uri, fronts))
    assert hostmaster_platform(lab, uri) == source_of(lab, uri)
    no_leftovers(lab, uri)


def test_the_terminal_dies_and_the_run_completes(lab: Lab) -> None:
    uri = "gluster-d7.lab.test"
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    standin(lab, "sleep", "updatedb 3\n")
    pid, fd = pty.fork()
    if pid == 0:  # the child: qm-tui in a real terminal
        os.chdir(REPO)
        os.execv(sys.executable, [sys.executable, "-m", "qm_tui", "migrate", uri, DST, "--yes",
                                  "--config", str(lab.config_path)])
    buf = b""
    deadline = time.monotonic() + 60
    while b"run " not in buf and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            buf += os.read(fd, 4096)
    run_id = buf.split(b"run ", 1)[1].split()[0].decode()
    wait_for_step(lab, run_id, "updatedb")
    os.close(fd)  # the terminal goes away: the session leader gets SIGHUP
    watcher = cli(lab, "watch", run_id, timeout=240)  # another process follows it to the end
    os.waitpid(pid, 0)
    assert watcher.stdout.strip().splitlines()[-1].startswith("succeeded"), watcher.stdout
    assert "[aegir.lab.test] $ drush @gluster-d7.lab.test updatedb --yes" in watcher.stdout
    assert_files_at(lab, uri, DST, before, site_state(lab, uri, fronts))
    no_leftovers(lab, uri)


def test_a_silent_front_is_detected_and_the_run_rolls_back(lab: Lab) -> None:
    uri = "locked-d7.lab.test"
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    run_id = detach(lab, uri)
    wait_for_step(lab, run_id, "verify", state="ok")
    web2 = lab.hosts["web2.lab.test"]
    web2.freeze()  # SIGSTOP: no RST, the connection just goes silent
    t0 = time.monotonic()
    try:
        j = Journal(lab.state_dir)
        while time.monotonic() - t0 < 60:
            run = j.get_run(run_id)
            if run and run.state == "rolling_back":
                break
            time.sleep(0.2)
        detected = time.monotonic() - t0
        assert detected < 60, "a silent front must be detected within a minute"
        time.sleep(2)
    finally:
        web2.thaw()
    assert final_state(lab, run_id).startswith("rolled_back")
    assert_files_at(lab, uri, source_of(lab, uri), before, site_state(lab, uri, fronts))
    assert_no_run_processes(lab)
    no_leftovers(lab, uri)


def test_a_stuck_rollback_needs_attention_then_completes(lab: Lab) -> None:
    uri = "offline-d6.lab.test"
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    cfg = yaml.safe_load(lab.config_path.read_text())
    cfg.setdefault("migrate", {})["undo_retry_seconds"] = 2
    quick = lab.base / "client" / "quick-giveup.yaml"
    quick.write_text(yaml.safe_dump(cfg))
    quick.chmod(0o600)
    standin(lab, "fail", "hosting-import once\n")
    standin(lab, "sleep", "hosting-import 3\n")
    proc = subprocess.Popen([sys.executable, "-m", "qm_tui", "migrate", uri, DST, "--yes", "--config", str(quick)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    first = proc.stdout.readline() if proc.stdout else ""
    run_id = first.split()[1]
    wait_for_step(lab, run_id, "hosting_import")
    lab.hosts["web3.lab.test"].stop()  # the front is down during the whole rollback
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 3, out
    assert "needs_attention: rollback stopped" in out and "web3.lab.test" in out
    assert "  on web3.lab.test: " in out  # the exact manual commands, per host
    assert f"qm-tui rollback {run_id}" in out
    shown = json.loads(cli(lab, "run", "show", run_id, "--json").stdout)
    assert shown["state"] == "needs_attention"
    lab.hosts["web3.lab.test"].start()
    again = cli(lab, "rollback", run_id, config=quick)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "rolled_back" in again.stdout
    assert_files_at(lab, uri, source_of(lab, uri), before, site_state(lab, uri, fronts))
    no_leftovers(lab, uri)
    twice = cli(lab, "rollback", run_id, config=quick)  # idempotent
    assert twice.returncode == 1 and "already rolled back" in twice.stdout


def test_two_runners_and_a_stale_lock(lab: Lab) -> None:
    uri = "big-d7.lab.test"
    standin(lab, "sleep", "updatedb 8\n")
    run_id = detach(lab, uri)
    wait_for_step(lab, run_id, "updatedb")
    second = cli(lab, "migrate", uri, DST, "--yes")
    assert second.returncode == 2
    assert f"run {run_id} (running) holds {uri}" in second.stderr
    assert f"is held (run {run_id}" in second.stderr
    assert final_state(lab, run_id).startswith("succeeded")
    # A lock whose runner died: refused until --break-lock, which checks the owner is dead first.
    lock = lab.root("aegir.lab.test") / ".qm-tui" / "locks" / "maint-d7.lab.test"
    lock.mkdir(parents=True, exist_ok=True)
    (lock / "owner").write_text(f"run 20260101-000000-dead pid 999999 on {os.uname().nodename} since then\n")
    st = lab.root("aegir.lab.test").stat()
    for p in (lock, lock / "owner"):
        os.chown(p, st.st_uid, st.st_gid)
    site = "maint-d7.lab.test"
    assert hostmaster_platform(lab, site) == source_of(lab, site)
    refused = cli(lab, "migrate", site, DST, "--yes")
    assert refused.returncode == 2 and "is held (run 20260101-000000-dead" in refused.stderr
    ok = cli(lab, "migrate", site, DST, "--yes", "--break-lock")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "broke the stale lock" in ok.stderr
    assert not lock.exists()


def test_sighup_with_stop_pauses_at_a_safe_point_then_resumes(lab: Lab) -> None:
    uri = "intranet-d7.lab.test"
    target = "drupal-7.101-c"
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    cfg = yaml.safe_load(lab.config_path.read_text())
    cfg.setdefault("migrate", {})["on_hangup"] = "stop"
    stop_cfg = lab.base / "client" / "stop.yaml"
    stop_cfg.write_text(yaml.safe_dump(cfg))
    stop_cfg.chmod(0o600)
    standin(lab, "sleep", "updatedb 3\n")
    proc = subprocess.Popen([sys.executable, "-m", "qm_tui", "migrate", uri, target, "--yes", "--config",
                             str(stop_cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    run_id = (proc.stdout.readline() if proc.stdout else "").split()[1]
    wait_for_step(lab, run_id, "updatedb")
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=120)
    assert proc.returncode == 3
    run = Journal(lab.state_dir).get_run(run_id)
    assert run is not None and run.public_state == "aborted"
    assert [s.state for s in run.steps if s.name == "updatedb"] == ["ok"], "the step in flight finished"
    clear_standin(lab)
    resumed = cli(lab, "resume", run_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_files_at(lab, uri, target, before, site_state(lab, uri, fronts))
    no_leftovers(lab, uri)
    assert cli(lab, "resume", run_id).stdout.strip().endswith("already succeeded: nothing to do")
