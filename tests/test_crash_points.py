"""Crash-point proof: the runner dies at every step and each of the three points (before the remote
action, after it but before its journal record, after the record); ``resume`` and, separately,
``rollback`` must bring the site back whole every time, with no stray parking dir, lock or process.

The whole plan runs on the local single-server layout (fast: no SSH); the steps that only exist with
remote fronts (parking on each front, setting aside the hostmaster's copy, pushes, removal of the old
dir) run on the SSH lab's three-front cluster. Twin platforms let one site move back and forth.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_support import REPO, assert_files_at, hostmaster_platform, need_lab, no_leftovers, run_id_of, site_state

from qm_tui.engine.journal import Journal
from qm_tui.sandbox.hostmaster_db import AdminParams, record_verify
from qm_tui.sandbox.lab import build_lab
from qm_tui.sandbox.local import build_local

POINTS = ("before", "after_remote", "after_journal")
TWIN = ("drupal-7.98-b", "drupal-7.98-b-twin")
CLUSTER_ONLY = ("park_files", "set_aside_master_files", "push_site", "restore_files", "remove_old_site_dir")


def qm(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qm_tui", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env={**os.environ, **(env or {})})


class Mover:
    """One site moved back and forth between two twin platforms; another kept on its source."""

    def __init__(self, lab: object, config: Path, state_dir: Path, state, where, check_platform) -> None:
        self.lab, self.config, self.state_dir = lab, config, state_dir
        self.state, self.where, self.check_platform = state, where, check_platform

    def verified(self, uri: str) -> None:
        """Stand for the verify task an operator runs in Aegir after a migration (fresh module list)."""
        lab = self.lab
        record_verify(lab.admin, lab.accounts.database, lab.world.site(uri).nid)  # type: ignore[attr-defined]

    def crash_then(self, uri: str, source: str, target: str, step: str, point: str, mode: str) -> None:
        before = self.state(uri)
        crashed = qm(self.config, "migrate", uri, target, "--yes", env={"QM_TUI_CRASH_AT": f"{step}:{point}"})
        assert crashed.returncode == 137, f"{step}:{point}: {crashed.stdout}{crashed.stderr}"
        run_id = run_id_of(crashed)
        run = Journal(self.state_dir).get_run(run_id)
        assert run is not None and run.public_state == "interrupted"
        thorough = point == "after_journal"  # the slower checks once per step, not at every point
        if thorough:
            listed = json.loads(qm(self.config, "runs", "--json").stdout)
            assert listed[0]["id"] == run_id and listed[0]["state"] == "interrupted", "interrupted come first"
        rec = qm(self.config, mode, run_id)
        want = target if mode == "resume" else source
        assert rec.returncode == (0 if mode == "resume" else 1), f"{step}:{point} {mode}: {rec.stdout}{rec.stderr}"
        self.where(uri, want, before)
        assert self.check_platform(uri) == want
        if mode == "resume":
            self.verified(uri)
        if thorough:
            again = qm(self.config, mode, run_id)  # idempotent
            assert "nothing to do" in again.stdout, again.stdout + again.stderr


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mover]:
    lab = build_local(tmp_path_factory.mktemp("local"), admin=AdminParams.discover(), twins=[TWIN])
    fronts = ["localhost"]

    def state(uri: str) -> tuple[int, int]:
        return _local_inodes(lab, uri)

    def where(uri: str, platform: str, before: tuple[int, int]) -> None:
        site = lab.site_dir(uri, platform)
        assert (os.lstat(site / "files").st_ino, os.lstat(site / "private" / "files").st_ino) == before
        park = lab.aegir_root / "qm-tui-parking"
        assert not park.exists() or not [p for p in park.iterdir() if p.name.startswith(uri + ".")]
        assert not (lab.aegir_root / ".qm-tui" / "locks" / uri).exists()
        for p in lab.world.platforms:
            if p.title != platform and p.status != -2:
                assert not lab.site_dir(uri, p.title).exists(), f"site dir left on {p.title}"

    del fronts
    try:
        yield Mover(lab, lab.config_path, lab.state_dir, state, where,
                    lambda uri: hostmaster_platform(lab, uri))  # type: ignore[arg-type]
    finally:
        lab.close()


def _local_inodes(lab: object, uri: str) -> tuple[int, int]:
    for p in lab.world.platforms:  # type: ignore[attr-defined]
        site = lab.site_dir(uri, p.title)  # type: ignore[attr-defined]
        if (site / "settings.php").exists():
            return os.lstat(site / "files").st_ino, os.lstat(site / "private" / "files").st_ino
    raise AssertionError(f"{uri} has no site dir")


def _plan_steps(config: Path, uri: str, target: str) -> list[str]:
    plan = json.loads(qm(config, "plan", uri, target, "--json").stdout)
    return list(dict.fromkeys(s["name"] for s in plan["steps"]))


@pytest.mark.timeout(1200)
def test_every_step_and_point_on_the_local_layout(local: Mover) -> None:
    roll_site, move_site = "shop-d7.local.test", "maint-d7.local.test"
    steps = _plan_steps(local.config, roll_site, TWIN[0])
    assert len(steps) >= 10
    here, there = local.check_platform(move_site), TWIN[0]
    for step in steps:
        for point in POINTS:
            local.crash_then(roll_site, "drupal-7.97-a", TWIN[0], step, point, "rollback")
            local.crash_then(move_site, here, there, step, point, "resume")
            here, there = there, (TWIN[1] if there == TWIN[0] else TWIN[0])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mover]:
    need_lab()
    lab = build_lab(tmp_path_factory.mktemp("lab"), twins=[TWIN], big_files=2)
    fronts = ["web1.lab.test", "web2.lab.test", "web3.lab.test"]

    def where(uri: str, platform: str, before: object) -> None:
        assert_files_at(lab, uri, platform, before, site_state(lab, uri, fronts))  # type: ignore[arg-type]
        no_leftovers(lab, uri)
        for host in lab.hosts.hosts.values():
            left = [" ".join(p.cmdline) for p in host.processes() if "drush" in " ".join(p.cmdline)
                    or "rsync" in " ".join(p.cmdline)]
            assert left == [], f"{host.name}: {left}"

    try:
        yield Mover(lab, lab.config_path, lab.state_dir, lambda uri: site_state(lab, uri, fronts), where,
                    lambda uri: hostmaster_platform(lab, uri))
    finally:
        lab.close()


@pytest.mark.timeout(1200)
@pytest.mark.lab
def test_remote_front_steps_and_points_on_the_cluster(cluster: Mover) -> None:
    roll_site, move_site = "cluster-d7.lab.test", "maint-d7.lab.test"
    here, there = "drupal-7.97-a", TWIN[0]
    for step in CLUSTER_ONLY:
        for point in POINTS:
            cluster.crash_then(roll_site, "drupal-7.97-a", TWIN[0], step, point, "rollback")
            cluster.crash_then(move_site, here, there, step, point, "resume")
            here, there = there, (TWIN[1] if there == TWIN[0] else TWIN[0])
