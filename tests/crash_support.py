"""The crash-point proof's shared part: crash the runner at one step and point, then resume or roll back.

The runner dies at every step and each of the three points (before the remote action, after it but
before its journal record, after the record); ``resume`` and, separately, ``rollback`` must bring the site
back whole every time, with no stray parking dir, lock or process. Twin platforms let one site move back
and forth. test_crash_local.py runs the whole plan on the single-server layout (fast: no SSH);
test_crash_cluster.py the steps that only exist with remote fronts, on the SSH lab's three-front cluster.
Two modules, so that a parallel run can take one each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lab_support import REPO, run_id_of

from qm_tui.engine.journal import Journal
from qm_tui.sandbox.hostmaster_db import record_verify

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


