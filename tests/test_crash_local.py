"""Crash-point proof on the local single-server layout: every step of the whole plan (see crash_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crash_support import POINTS, TWIN, Mover, local_mover, plan_steps

from qm_lab.hostmaster_db import AdminParams
from qm_lab.local import build_local


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mover]:
    lab = build_local(tmp_path_factory.mktemp("local"), admin=AdminParams.discover(), twins=[TWIN])
    try:
        yield local_mover(lab)
    finally:
        lab.close()


@pytest.mark.timeout(1200)
def test_every_step_and_point_on_the_local_layout(local: Mover) -> None:
    roll_site, move_site = "shop-d7.local.test", "maint-d7.local.test"
    steps = plan_steps(local, roll_site, TWIN[0])
    assert len(steps) >= 10
    here, there = local.check_platform(move_site), TWIN[0]
    for step in steps:
        for point in POINTS:
            local.crash_then(roll_site, "drupal-7.97-a", TWIN[0], step, point, "rollback")
            local.crash_then(move_site, here, there, step, point, "resume")
            here, there = there, (TWIN[1] if there == TWIN[0] else TWIN[0])
