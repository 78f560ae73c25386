"""Crashes on one front of a parallel group, on the SSH lab's three-front cluster (see crash_support.py).

The steps of a group (park, restore, remove: one per front) run side by side; ``QM_TUI_CRASH_AT=
<step>@<front>:<point>`` kills the runner when that one front's step reaches the point, while its siblings
on the other fronts are anywhere (done, in flight, their remote commands orphaned). ``resume`` and,
separately, ``rollback`` must settle every front by probing it and end whole. Then the same for the undo
of a group, in a rollback a failing ``hosting-import`` started. (``push_site`` runs on the hostmaster for
every front, so ``push_site@<host>`` cannot single one out: the cluster matrix covers it as a group.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crash_support import SOURCE, TWIN, Mover, cluster_mover
from lab_support import need_lab

from qm_lab.lab import build_lab

pytestmark = pytest.mark.lab
ROLL_SITE = "cluster-d7.lab.test"  # rolled back: always starts on drupal-7.97-a
MOVE_SITE = "gluster-d7.lab.test"  # files -> /srv/gluster on each front; resumed


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mover]:
    need_lab()
    lab = build_lab(tmp_path_factory.mktemp("lab"), twins=[TWIN], big_files=2)
    mover = cluster_mover(lab)
    try:
        yield mover
    finally:
        mover.clear_standin()
        lab.close()


@pytest.mark.timeout(600)
def test_a_crash_on_one_front_of_a_group(cluster: Mover) -> None:
    cluster.crash_then(ROLL_SITE, SOURCE, TWIN[0], "park_files@web2.lab.test", "after_remote", "rollback")
    cluster.crash_then(MOVE_SITE, SOURCE, TWIN[0], "restore_files@web3.lab.test", "before", "resume")


@pytest.mark.timeout(600)
def test_a_crash_on_one_front_of_a_group_being_undone(cluster: Mover) -> None:
    for crash in ("park_files@web2.lab.test:undo_after_remote", "restore_files@web3.lab.test:undo_before"):
        cluster.crash_in_rollback(ROLL_SITE, SOURCE, TWIN[0], crash, thorough=crash.endswith("undo_before"))
