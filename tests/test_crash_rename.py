"""Crash points of a rename, on the local single-server layout (fast: no SSH): the runner killed after every
step's remote action (done on the host, not yet in the journal: the hardest point for recovery), and after
the journal record of its bookkeeping; ``rollback`` must bring the old name back whole, ``resume`` must
finish the new one. The site then renames back, so each step is proven in both directions."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_support import db_state, out, qm

from qm_lab.hostmaster_db import AdminParams
from qm_lab.lab import LocalTree, files_state
from qm_lab.local import LocalLab, build_local

pytestmark = pytest.mark.lab
SITE, OTHER = "shop-d7.local.test", "shop-renamed.local.test"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLab]:
    lab = build_local(tmp_path_factory.mktemp("local-rename"), admin=AdminParams.discover())
    try:
        yield lab
    finally:
        lab.close()


def record(lab: LocalLab, nid: int) -> tuple[str, str]:
    conn = lab.admin.connect(lab.accounts.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT n.title, c.name FROM node n LEFT JOIN hosting_context c ON c.nid = n.nid "
                        "WHERE n.nid = %s", (nid,))
            title, context = cur.fetchone()
            return str(title), str(context)
    finally:
        conn.close()


def inodes(lab: LocalLab, uri: str, platform: str) -> tuple[int, int]:
    site = lab.site_dir(uri, platform)
    return os.lstat(site / "files").st_ino, os.lstat(site / "private" / "files").st_ino


def assert_whole(lab: LocalLab, uri: str, other: str, platform: str, before: tuple[int, int], why: str) -> None:
    """The site whole under ``uri`` and nothing left under ``other``: files in one place (same inodes),
    code, context, alias, hostmaster record, online, no parking dir or lock."""
    site = lab.site_dir(uri, platform)
    for label in ("files", "private/files"):
        for name, want in ((uri, (str(site / label),)), (other, ())):
            places = files_state(LocalTree(lab.aegir_root), "localhost", name, label).places
            assert places == want, f"{why}: {name} {label}: {places}"
    assert inodes(lab, uri, platform) == before, f"{why}: inodes changed"
    assert (site / "settings.php").is_file() and (site / "drushrc.php").is_file(), why
    assert not lab.site_dir(other, platform).exists(), f"{why}: {other}'s site dir left"
    drush = lab.aegir_root / ".drush"
    alias = (drush / f"{uri}.alias.drushrc.php").read_text()
    assert "'db_server' => '@" in alias and "'client_name'" in alias, f"{why}: the alias lost its options"
    assert not (drush / f"{other}.alias.drushrc.php").exists(), f"{why}: {other}'s alias left"
    assert record(lab, lab.world.site(SITE).nid) == (uri, uri), why
    assert not db_state(lab, SITE).maintenance, f"{why}: left in maintenance"
    park = lab.aegir_root / "qm-tui-parking"
    assert not park.exists() or not [p for p in park.iterdir() if p.name.startswith((uri + ".", other + "."))]
    for name in (uri, other):
        assert not (lab.aegir_root / ".qm-tui" / "locks" / name).exists(), f"{why}: lock {name} left"


def crashed(lab: LocalLab, old: str, new: str, at: str) -> str:
    proc = qm(lab.config_path, "rename", old, new, "--yes", env={"QM_TUI_CRASH_AT": at})
    assert proc.returncode == 137, f"{at}: " + out(proc)
    return next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("run "))


@pytest.mark.timeout(1200)
def test_every_step_of_a_rename_recovers_both_ways(local: LocalLab) -> None:
    platform = local.world.platform_of(local.world.site(SITE)).title
    cfg: Path = local.config_path
    plan = json.loads(qm(cfg, "plan", SITE, "--rename", OTHER, "--json").stdout)
    steps = [s["name"] for s in plan["steps"]]
    assert "fix_db_paths" in steps and "hosting_rename" in steps and len(steps) >= 12
    points = [(s, "after_remote") for s in steps] + [("hosting_rename", "after_journal"),
                                                      ("move_site_dir", "before")]
    here, there = SITE, OTHER
    files = inodes(local, SITE, platform)
    for step, point in points:
        at = f"{step}:{point}"
        run_id = crashed(local, here, there, at)
        back = qm(cfg, "rollback", run_id)
        assert back.returncode in (0, 1), f"{at} rollback: " + out(back)
        assert_whole(local, here, there, platform, files, f"{at} then rollback")
        run_id = crashed(local, here, there, at)
        done = qm(cfg, "resume", run_id)
        assert done.returncode == 0, f"{at} resume: " + out(done)
        assert_whole(local, there, here, platform, files, f"{at} then resume")
        here, there = there, here
