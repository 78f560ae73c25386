"""Crash-point proof on the SSH lab's three-front cluster: the steps that only exist with remote fronts
(see crash_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crash_support import CLUSTER_ONLY, POINTS, TWIN, Mover
from lab_support import assert_files_at, hostmaster_platform, need_lab, no_leftovers, site_state

from qm_tui.sandbox.lab import build_lab


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
