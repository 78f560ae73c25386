"""Quick migrate failures on the lab: each ends rolled back, with the site whole on its source platform."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_support import (
    REPO,
    Lab,
    assert_files_at,
    cli,
    fronts_of,
    hostmaster_platform,
    make_lab,
    no_leftovers,
    reset_faults,
    site_db,
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


def rolled_back(lab: Lab, uri: str, args: tuple[str, ...] = (), target: str = DST,
                expect: str = "") -> subprocess.CompletedProcess[str]:
    """Run a migration that must fail; check the site is whole on the source afterwards."""
    source = source_of(lab, uri)
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    schema = site_db(lab, uri, "SELECT name, schema_version FROM system ORDER BY name")
    proc = cli(lab, "migrate", uri, target, "--yes", *args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rolled_back: migration failed and was rolled back" in proc.stdout, proc.stdout
    assert expect in proc.stdout
    assert_files_at(lab, uri, source, before, site_state(lab, uri, fronts))
    for host in [*fronts, "aegir.lab.test"]:
        assert (lab.site_dir(host, uri, source) / "settings.php").exists(), f"{host}: site dir not back"
        assert not lab.site_dir(host, uri, target).exists(), f"{host}: target site dir left"
    assert hostmaster_platform(lab, uri) == source
    assert site_db(lab, uri, "SELECT name, schema_version FROM system ORDER BY name") == schema
    assert site_db(lab, uri, "SELECT value FROM variable WHERE name = 'maintenance_mode'") in ([], [(b"i:0;",)])
    no_leftovers(lab, uri)
    return proc


def test_updatedb_fails_after_partial_updates_and_the_database_is_restored(lab: Lab) -> None:
    standin(lab, "fail", "updatedb:after-partial\n")
    rolled_back(lab, "cluster-d7.lab.test", expect="updatedb")


def test_provision_verify_fails(lab: Lab) -> None:
    standin(lab, "fail", "provision-verify once\n")
    rolled_back(lab, "big-d7.lab.test", expect="verify")


def test_hostmaster_update_fails(lab: Lab) -> None:
    standin(lab, "fail", "hosting-import once\n")
    rolled_back(lab, "maint-d7.lab.test", expect="hosting_import")


def test_hostmaster_update_fails_every_time_and_the_site_still_comes_back_whole(lab: Lab) -> None:
    # The hostmaster never recorded the move: the rollback skips hosting-import (which would fail
    # again) instead of leaving the site offline with its files parked.
    standin(lab, "fail", "hosting-import\n")
    proc = rolled_back(lab, "intranet-d7.lab.test", target="drupal-7.101-c", expect="hosting_import")
    assert "needs_attention" not in proc.stdout


def test_a_fronts_mv_fails(lab: Lab) -> None:
    uri = "locked-d7.lab.test"
    site = lab.site_dir("web2.lab.test", uri, source_of(lab, uri))
    site.chmod(0o555)  # rename(2) needs write access to the parent: the park on web2 fails
    try:
        proc = rolled_back(lab, uri, expect="park_files")
        assert "web2.lab.test: park_files" in proc.stdout
    finally:
        site.chmod(0o755)


def test_dump_truncated_is_caught_before_anything_moves(lab: Lab) -> None:
    uri = "gluster-d7.lab.test"
    wrapper = lab.root("aegir.lab.test") / "bin" / "mariadb-dump"
    # A dump tool that dies mid-way but exits 0: only the trailer check can tell.
    wrapper.write_text("#!/bin/bash\n/usr/bin/mariadb-dump \"$@\" | head -c 2000\n")
    wrapper.chmod(0o755)
    try:
        proc = rolled_back(lab, uri, expect="dump_db")
        assert "truncated" in proc.stdout
    finally:
        wrapper.unlink()


def step_started(state_dir: Path, uri: str, step: str) -> bool:
    """Whether a running migration of ``uri`` has started ``step`` (read from its journal)."""
    try:
        journal = Journal(state_dir, read_only=True)
    except (OSError, sqlite3.Error):
        return False  # no journal yet
    try:
        runs = [journal.get_run(r.id) for r in journal.list_runs() if r.site == uri and r.state == "running"]
        return any(s.name == step and s.state == "started" for r in runs if r for s in r.steps)
    except sqlite3.Error:
        return False
    finally:
        journal.close()


def test_disk_full_for_the_dump(lab: Lab) -> None:
    uri = "verdicts-d7.lab.test"
    m = lab.hosts["aegir.lab.test"]
    dump_dir = m.root / "backups" / "qm-tui"
    dump_dir.mkdir(parents=True, exist_ok=True)
    st = m.root.stat()
    try:
        m.mount_tmpfs_in("/var/aegir/backups/qm-tui", "24m", owner=(st.st_uid, st.st_gid))
        # Enough room to pass the preflight, gone by the time the dump runs: the disk fills while the
        # maintenance step (which sleeps 3 s) runs, i.e. after the preflight whatever the machine's load.
        standin(lab, "sleep", "vset 3\n")

        def fill() -> None:
            deadline = time.monotonic() + 120
            while not step_started(lab.state_dir, uri, "maintenance_on") and time.monotonic() < deadline:
                time.sleep(0.05)
            m.exec_in(["dd", "if=/dev/zero", "of=/var/aegir/backups/qm-tui/filler", "bs=1M", "count=24"])

        t = threading.Thread(target=fill)
        t.start()
        proc = rolled_back(lab, uri, expect="dump_db")
        t.join()
        left = m.exec_in(["ls", "/var/aegir/backups/qm-tui"]).stdout.split()
        assert [n for n in left if n != "filler"] == [], f"partial dump left: {left}"
        assert "dump" in proc.stdout
    finally:
        m.umount_in("/var/aegir/backups/qm-tui")


def test_a_front_goes_down_mid_push_and_comes_back(lab: Lab) -> None:
    uri = "legacy-d6.lab.test"
    web2 = lab.hosts["web2.lab.test"]
    standin(lab, "sleep", "provision-verify 2\n")
    journal_dir = Path(lab.state_dir)
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    proc = subprocess.Popen([sys.executable, "-m", "qm_tui", "migrate", uri, DST, "--yes", "--config",
                             str(lab.config_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO)
    # Wait until verify runs, then take web2 down: the push to it must fail.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        j = Journal(journal_dir)
        runs = [r for r in j.list_runs() if r.site == uri]
        if runs and any(s.name == "verify" and s.state == "started" for s in runs[0].steps):
            break
        time.sleep(0.1)
    web2.stop()
    time.sleep(4)
    web2.start()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out
    assert "web2.lab.test" in out
    assert_files_at(lab, uri, "drupal-6.38", before, site_state(lab, uri, fronts))
    for host in fronts:
        assert (lab.site_dir(host, uri, "drupal-6.38") / "settings.php").exists()
        assert not lab.site_dir(host, uri, DST).exists()
    assert hostmaster_platform(lab, uri) == "drupal-6.38"
    no_leftovers(lab, uri)
    assert os.path.isdir(lab.site_dir("web2.lab.test", uri, "drupal-6.38") / "files")
