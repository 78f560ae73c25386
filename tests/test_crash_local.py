"""Crash-point proof on the local single-server layout: every step of the whole plan (see crash_support.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_support import POINTS, TWIN, Mover, qm
from lab_support import hostmaster_platform

from qm_tui.sandbox.hostmaster_db import AdminParams
from qm_tui.sandbox.local import build_local


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


