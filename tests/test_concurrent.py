"""Two sites migrating at once on one cluster: one parking root on every front, pushes from the one
hostmaster at the same time, one journal, one drush stand-in. Both detached runs overlap (the stand-in's
updatedb is slowed down); each must end as if it had run alone: whole on its own target (files renamed,
database updated, online, no leftovers), or, for the one whose verify fails, rolled back whole while the
other one succeeds untouched.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from crash_support import CLUSTER_FRONTS, TWIN, DbState, assert_db, db_state, set_behind
from lab_support import (
    REPO,
    Lab,
    SiteState,
    assert_files_at,
    cli,
    hostmaster_platform,
    make_lab,
    no_leftovers,
    reset_faults,
    run_id_of,
    site_state,
    standin,
)

from qm_lab.hostmaster_db import record_verify
from qm_tui.engine.journal import Journal, RunRecord

pytestmark = pytest.mark.lab
SITES = ("cluster-d7.lab.test", "gluster-d7.lab.test")  # gluster-d7: files -> /srv/gluster on each front


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory, twins=[TWIN], big_files=2)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _clean(lab: Lab) -> Iterator[None]:
    slow_push(lab)
    try:
        yield from reset_faults(lab)
    finally:
        (lab.root("aegir.lab.test") / "bin" / "rsync").unlink(missing_ok=True)


def next_platform(lab: Lab, uri: str) -> str:
    """Where the site can go next: drupal-7.98-b from its source, then twin to twin."""
    return TWIN[1] if hostmaster_platform(lab, uri) == TWIN[0] else TWIN[0]


class Started:
    def __init__(self, lab: Lab, uri: str) -> None:
        self.uri, self.source, self.target = uri, hostmaster_platform(lab, uri), next_platform(lab, uri)
        # The verify task an operator runs in Aegir after a migration (a fresh module list).
        record_verify(lab.admin, lab.accounts.database, lab.world.site(uri).nid)
        set_behind(lab, uri, self.target)  # updates to run even twin to twin
        self.files: SiteState = site_state(lab, uri, CLUSTER_FRONTS)
        self.db: DbState = db_state(lab, uri)
        self.run_id = ""


def start_both(lab: Lab) -> list[Started]:
    """Both ``migrate --detach`` at the same instant (their preflights too)."""
    runs = [Started(lab, uri) for uri in SITES]
    procs = [subprocess.Popen([sys.executable, "-m", "qm_tui", "migrate", r.uri, r.target, "--yes", "--detach",
                               "--config", str(lab.config_path)], cwd=REPO, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for r in runs]
    for r, p in zip(runs, procs, strict=True):
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stdout + stderr
        r.run_id = run_id_of(subprocess.CompletedProcess(p.args, 0, stdout, stderr))
    return runs


def slow_push(lab: Lab) -> None:
    """qm-tui's push (the only rsync that excludes <uri>/private/files) takes 3 s more on the hostmaster:
    two runs a second apart push at the same time."""
    wrapper = lab.root("aegir.lab.test") / "bin" / "rsync"
    wrapper.write_text("#!/bin/bash\ncase \"$*\" in *--exclude=/*/private/files*) sleep 3;; esac\n"
                       "exec /usr/bin/rsync \"$@\"\n")
    wrapper.chmod(0o755)


def final_state(lab: Lab, run_id: str) -> str:
    proc = cli(lab, "watch", run_id, "--no-output", timeout=300)
    return proc.stdout.strip().splitlines()[-1]


def interval(run: RunRecord, step: str) -> tuple[float, float]:
    s = [x for x in run.steps if x.name == step][0]
    assert s.started_at is not None and s.ended_at is not None, f"{run.site}: {step} never ran"
    return s.started_at, s.ended_at


def assert_overlapped(lab: Lab, runs: list[Started], steps: tuple[str, ...]) -> None:
    """Both ran each of ``steps`` at the same time (a group: its first step)."""
    journal = Journal(lab.state_dir)
    records = [journal.get_run(r.run_id) for r in runs]
    for step in steps:
        (a0, a1), (b0, b1) = (interval(rec, step) for rec in records if rec)
        assert a0 < b1 and b0 < a1, f"the runs did not overlap: {step} {a0:.1f}-{a1:.1f} and {b0:.1f}-{b1:.1f}"


def whole(lab: Lab, r: Started, platform: str, mode: str) -> None:
    assert_files_at(lab, r.uri, platform, r.files, site_state(lab, r.uri, CLUSTER_FRONTS))
    for host in [*CLUSTER_FRONTS, "aegir.lab.test"]:
        assert (lab.site_dir(host, r.uri, platform) / "settings.php").exists(), f"{host}: {r.uri} not on {platform}"
        other = r.target if platform == r.source else r.source
        assert not lab.site_dir(host, r.uri, other).exists(), f"{host}: {r.uri} left on {other}"
    assert hostmaster_platform(lab, r.uri) == platform
    assert_db(lab, r.uri, r.db, mode, platform, r.uri)
    no_leftovers(lab, r.uri)


def no_run_processes(lab: Lab) -> None:
    for host in lab.hosts.hosts.values():
        left = [" ".join(p.cmdline) for p in host.processes()
                if any(k in " ".join(p.cmdline) for k in ("drush", "rsync", "mariadb", "qm:"))]
        assert left == [], f"{host.name}: {left}"


@pytest.mark.timeout(600)
def test_two_sites_at_once_both_succeed(lab: Lab) -> None:
    standin(lab, "sleep", "updatedb 3\n")
    runs = start_both(lab)
    for r in runs:
        assert final_state(lab, r.run_id).startswith("succeeded"), cli(lab, "run", "show", r.run_id).stdout
    assert_overlapped(lab, runs, ("updatedb", "push_site"))
    for r in runs:
        whole(lab, r, r.target, "resume")
    no_run_processes(lab)
    assert not [p for p in (lab.root(h) / "qm-tui-parking" for h in CLUSTER_FRONTS) if p.is_dir() and any(p.iterdir())]


@pytest.mark.timeout(600)
def test_one_of_two_fails_and_rolls_back_the_other_succeeds(lab: Lab) -> None:
    ok, bad = SITES
    standin(lab, "sleep", "updatedb 3\n")
    # Only the second site's cache clear fails, after its updatedb: its rollback restores the database.
    standin(lab, "fail", f"cache-clear @{bad} once\n")
    runs = start_both(lab)
    states = {r.uri: final_state(lab, r.run_id) for r in runs}
    assert states[ok].startswith("succeeded"), states
    assert states[bad].startswith("rolled_back"), states
    assert "cache_clear" in states[bad], states[bad]
    assert_overlapped(lab, runs, ("updatedb",))
    good, failed = runs
    whole(lab, good, good.target, "resume")
    whole(lab, failed, failed.source, "rollback")
    no_run_processes(lab)
    assert not (lab.root("aegir.lab.test") / "drush-standin.fail").read_text().strip(), "the rule never fired"
