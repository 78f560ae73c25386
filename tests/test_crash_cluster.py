"""Crash-point proof on the SSH lab's three-front cluster: the steps that only exist with remote fronts
(see crash_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crash_support import CLUSTER_ONLY, POINTS, TWIN, Mover, cluster_mover
from lab_support import need_lab

from qm_lab.lab import build_lab


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mover]:
    need_lab()
    lab = build_lab(tmp_path_factory.mktemp("lab"), twins=[TWIN], big_files=2)
    try:
        yield cluster_mover(lab)
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
