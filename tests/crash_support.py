"""The crash-point proof's shared part: crash the runner at one step and point, then resume or roll back.

The runner dies at every step and each of the three points (before the remote action, after it but
before its journal record, after the record); ``resume`` and, separately, ``rollback`` must bring the site
back whole every time, with no stray parking dir, lock or process. Whole means the files (same inodes,
one place), the platform (site dir and hostmaster) and the site's database: after a rollback its schema is
the dump's and it is online again; after a resume its updates ran (the schema a clean migration of that
DB to the target produces, ``updated_schema``) and it is online. Twin platforms let one site move back and
forth; before each such move the site's DB is put behind the target's code (``set_behind``) so that every
resume has updates to run and every rollback a changed DB to restore.

test_crash_local.py runs the whole plan on the single-server layout (fast: no SSH); test_crash_cluster.py
the steps that only exist with remote fronts, on the SSH lab's three-front cluster; test_crash_rollback.py
crashes in the undo of an automatic rollback, test_crash_resume.py crashes a resume,
test_crash_parallel.py one front of a parallel group. Separate modules, so that a parallel run spreads them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab_support import (
    REPO,
    Lab,
    SiteState,
    assert_files_at,
    hostmaster_platform,
    no_leftovers,
    run_id_of,
    site_state,
)

from qm_lab.drush_phpser import unserialize
from qm_lab.hostmaster_db import record_verify
from qm_lab.lab import LocalTree, files_state
from qm_lab.local import LocalLab
from qm_tui.engine.journal import Journal

POINTS = ("before", "after_remote", "after_journal")
UNDO_POINTS = ("undo_before", "undo_after_remote", "undo_after_journal")
TWIN = ("drupal-7.98-b", "drupal-7.98-b-twin")
CLUSTER_ONLY = ("park_files", "push_site", "restore_files", "remove_old_site_dir")
SOURCE = "drupal-7.97-a"


def qm(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qm_tui", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env={**os.environ, **(env or {})})


def out(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


# --- the site's database -------------------------------------------------------------------------


@dataclass(frozen=True)
class DbState:
    """A D6/D7 site's database as the checks see it: every module's schema version, which are enabled,
    and whether the site is in maintenance (``maintenance_mode``, D6 ``site_offline``)."""

    schema: tuple[tuple[str, int], ...]
    enabled: frozenset[str]
    maintenance: bool


def _connect(lab: Any, uri: str) -> Any:
    return lab.admin.connect(lab.world.site(uri).db_name)


def db_state(lab: Any, uri: str) -> DbState:
    conn = _connect(lab, uri)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name, schema_version, status FROM system WHERE type = 'module' ORDER BY name")
            rows = [(str(n), int(v), int(s)) for n, v, s in cur.fetchall()]
            cur.execute("SELECT name, value FROM variable WHERE name IN ('maintenance_mode', 'site_offline')")
            values = [unserialize(bytes(v)) for _n, v in cur.fetchall()]
    finally:
        conn.close()
    maintenance = any(str(v).strip().lower() in ("1", "true") for v in values)
    return DbState(tuple((n, v) for n, v, _s in rows), frozenset(n for n, _v, s in rows if s == 1), maintenance)


def code_schema(lab: Any, uri: str, platform: str) -> dict[str, int]:
    """Highest ``hook_update_N`` of every module the site would run on ``platform`` (its own modules in
    sites/<uri>/modules win, as in drupal_system_listing())."""
    world = lab.world
    code = {e.short_name: e.update_n for e in world.platform(platform).exts if e.type == "module"}
    code |= {e.short_name: e.update_n for e in world.site(uri).local_exts if e.type == "module"}
    return code


def updated_schema(lab: Any, uri: str, before: DbState, target: str) -> tuple[tuple[str, int], ...]:
    """The schema a clean migration of a DB in state ``before`` to ``target`` ends with: updatedb runs every
    pending update of every enabled, installed module found in the target's code."""
    code = code_schema(lab, uri, target)
    return tuple((n, max(v, code.get(n, 0)) if n in before.enabled and v >= 0 else v) for n, v in before.schema)


def set_behind(lab: Any, uri: str, target: str) -> int:
    """Put the site's DB one update behind ``target``'s code for every enabled module it is level with (as if
    its code had been updated in place), so a migration to ``target`` has updates to run. Returns how many."""
    code = code_schema(lab, uri, target)
    state = db_state(lab, uri)
    behind = [(n, code[n] - 1) for n, v in state.schema
              if n in state.enabled and code.get(n, 0) > 0 and v == code[n]]
    if behind:
        conn = _connect(lab, uri)
        try:
            with conn.cursor() as cur:
                cur.executemany("UPDATE system SET schema_version = %s WHERE type = 'module' AND name = %s",
                                [(v, n) for n, v in behind])
        finally:
            conn.close()
    return len(behind)


def assert_db(lab: Any, uri: str, before: DbState, mode: str, target: str, what: str = "") -> None:
    """After ``rollback`` the DB is the dump's (schema as before); after ``resume`` (or a migration that
    succeeded) it is updated to ``target``'s code. Either way a site that was online is online."""
    now = db_state(lab, uri)
    want = before.schema if mode == "rollback" else updated_schema(lab, uri, before, target)
    if now.schema != want:
        diff = sorted(set(now.schema) ^ set(want))
        raise AssertionError(f"{what}: {uri}: schema after {mode} is not the expected one; now vs want differ "
                             f"in {diff}")
    if mode != "rollback" or not before.maintenance:
        assert not now.maintenance, f"{what}: {uri}: left in maintenance after {mode}"


# --- processes -----------------------------------------------------------------------------------


def local_processes_of(run_id: str) -> list[str]:
    """Processes on this machine that carry the run's QM_TUI_RUN in their environment."""
    mark = f"QM_TUI_RUN={run_id}".encode()
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if mark in env:
                left.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return left


# --- one site moved, crashed and recovered ------------------------------------------------------


class Mover:
    """One site moved back and forth between two twin platforms; another kept on its source.

    ``state(uri)`` is the files' state to compare with; ``where(uri, platform, before)`` asserts the files
    (and no leftovers) are whole on ``platform``; ``check_platform(uri)`` is the hostmaster's platform."""

    def __init__(self, lab: Any, config: Path, state_dir: Path, state: Callable[[str], Any],
                 where: Callable[[str, str, Any], None], check_platform: Callable[[str], str],
                 env: dict[str, str] | None = None) -> None:
        self.lab, self.config, self.state_dir = lab, config, state_dir
        self.state, self.where, self.check_platform = state, where, check_platform
        self.env = env or {}
        self.local = isinstance(lab, LocalLab)

    def qm(self, *args: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
        return qm(self.config, *args, env={**self.env, **({"QM_TUI_CRASH_AT": crash} if crash else {})})

    def verified(self, uri: str) -> None:
        """Stand for the verify task an operator runs in Aegir after a migration (fresh module list)."""
        lab = self.lab
        record_verify(lab.admin, lab.accounts.database, lab.world.site(uri).nid)

    def standin(self, kind: str, text: str) -> None:
        """The drush stand-in's fault file (kind: fail or sleep) in the hostmaster's aegir root."""
        root = self.lab.aegir_root if self.local else self.lab.root("aegir.lab.test")
        path = root / f"drush-standin.{kind}"
        path.write_text(text)
        os.chown(path, root.stat().st_uid, root.stat().st_gid)

    def clear_standin(self) -> None:
        root = self.lab.aegir_root if self.local else self.lab.root("aegir.lab.test")
        for kind in ("fail", "sleep"):
            (root / f"drush-standin.{kind}").unlink(missing_ok=True)

    def interrupted(self, proc: subprocess.CompletedProcess[str], what: str, run_id: str | None = None) -> str:
        """The runner (a migration, or the recovery of ``run_id``) crashed: the run is interrupted."""
        assert proc.returncode == 137, f"{what}: the runner did not crash: {out(proc)}"
        run_id = run_id or run_id_of(proc)
        run = Journal(self.state_dir).get_run(run_id)
        assert run is not None and run.public_state == "interrupted", f"{what}: {run and run.public_state}"
        return run_id

    def whole(self, uri: str, platform: str, before: Any, db_before: DbState, mode: str, what: str,
              run_id: str) -> None:
        """Files, platform, database, maintenance, and no process of the run left."""
        self.where(uri, platform, before)
        assert self.check_platform(uri) == platform, f"{what}: hostmaster has {self.check_platform(uri)}"
        assert_db(self.lab, uri, db_before, mode, platform, what)
        if self.local:
            assert local_processes_of(run_id) == [], f"{what}: processes of the run left"

    def recover(self, run_id: str, mode: str, what: str, crash: str | None = None
                ) -> subprocess.CompletedProcess[str]:
        rec = self.qm(mode, run_id, crash=crash)
        if crash is None:
            want = 0 if mode == "resume" else 1
            assert rec.returncode == want, f"{what} {mode}: {out(rec)}"
        return rec

    def crash_then(self, uri: str, source: str, target: str, step: str, point: str, mode: str) -> None:
        what = f"{step}:{point} then {mode}"
        if mode == "resume":
            set_behind(self.lab, uri, target)
        before, db_before = self.state(uri), db_state(self.lab, uri)
        run_id = self.interrupted(self.qm("migrate", uri, target, "--yes", crash=f"{step}:{point}"), what)
        thorough = point == "after_journal"  # the slower checks once per step, not at every point
        if thorough:
            listed = json.loads(self.qm("runs", "--json").stdout)
            assert listed[0]["id"] == run_id and listed[0]["state"] == "interrupted", "interrupted come first"
        self.recover(run_id, mode, what)
        want = target if mode == "resume" else source
        self.whole(uri, want, before, db_before, mode, what, run_id)
        if mode == "resume":
            self.verified(uri)
        if thorough:
            again = self.qm(mode, run_id)  # idempotent
            assert "nothing to do" in again.stdout, out(again)

    def crash_in_rollback(self, uri: str, source: str, target: str, crash: str, thorough: bool) -> None:
        """A migration that fails at its last undoable step (``hosting-import`` fails once) rolls back by
        itself and its runner dies at ``crash`` (an undo point); ``rollback`` must finish it, whole."""
        what = f"{crash} in the rollback"
        step, point = crash.rsplit(":", 1)
        name, _, host = step.partition("@")
        before, db_before = self.state(uri), db_state(self.lab, uri)
        self.standin("fail", "hosting-import once\n")
        try:
            run_id = self.interrupted(self.qm("migrate", uri, target, "--yes", crash=crash), what)
        finally:
            self.clear_standin()
        run = Journal(self.state_dir).get_run(run_id)
        assert run is not None and run.state == "rolling_back", f"{what}: {run and run.state}"
        undo = [s.undo_state for s in run.steps if s.name == name and (not host or s.host == host)]
        want = {"undo_before": "started", "undo_after_remote": "started"}.get(point, "ok")
        assert want in undo, f"{what}: undo states {undo}"  # a group without @host: the first to get there
        if thorough:
            refused = self.qm("resume", run_id)  # a run that started rolling back can only be rolled back
            assert refused.returncode == 2 and f"qm-tui rollback {run_id}" in out(refused), f"{what}: {out(refused)}"
        rec = self.recover(run_id, "rollback", what)
        assert "rolled_back" in rec.stdout, f"{what}: {out(rec)}"
        self.whole(uri, source, before, db_before, "rollback", what, run_id)
        again = self.qm("rollback", run_id)
        assert again.returncode == 1 and "nothing to do" in again.stdout, f"{what}: {out(again)}"


# --- the single-server layout --------------------------------------------------------------------


def local_mover(lab: LocalLab) -> Mover:
    """A Mover on ``build_local``'s layout: the hostmaster is the only front, everything local."""

    def state(uri: str) -> tuple[int, int]:
        for p in lab.world.platforms:
            site = lab.site_dir(uri, p.title)
            if (site / "settings.php").exists():
                return os.lstat(site / "files").st_ino, os.lstat(site / "private" / "files").st_ino
        raise AssertionError(f"{uri} has no site dir")

    def where(uri: str, platform: str, before: tuple[int, int]) -> None:
        site = lab.site_dir(uri, platform)
        for label in ("files", "private/files"):  # exactly one place, in the site dir
            places = files_state(LocalTree(lab.aegir_root), "localhost", uri, label).places
            assert places == (str(site / label),), f"{label}: {places}"
        assert (os.lstat(site / "files").st_ino, os.lstat(site / "private" / "files").st_ino) == before
        assert (site / "settings.php").is_file() and (site / "drushrc.php").is_file()
        park = lab.aegir_root / "qm-tui-parking"
        assert not park.exists() or not [p for p in park.iterdir() if p.name.startswith(uri + ".")]
        assert not (lab.aegir_root / ".qm-tui" / "locks" / uri).exists()
        for p in lab.world.platforms:
            if p.title != platform and p.status != -2:
                assert not lab.site_dir(uri, p.title).exists(), f"site dir left on {p.title}"

    def check_platform(uri: str) -> str:
        conn = lab.admin.connect(lab.accounts.database)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pn.title FROM node n JOIN hosting_site s ON s.vid = n.vid "
                            "JOIN node pn ON pn.nid = s.platform WHERE n.type = 'site' AND n.title = %s", (uri,))
                return str(cur.fetchone()[0])
        finally:
            conn.close()

    return Mover(lab, lab.config_path, lab.state_dir, state, where, check_platform, env=lab.env)


# --- the SSH lab's cluster -----------------------------------------------------------------------

CLUSTER_FRONTS = ["web1.lab.test", "web2.lab.test", "web3.lab.test"]


def cluster_mover(lab: Lab) -> Mover:
    """A Mover on the SSH lab, for sites of the three-front cluster."""

    def where(uri: str, platform: str, before: SiteState) -> None:
        assert_files_at(lab, uri, platform, before, site_state(lab, uri, CLUSTER_FRONTS))
        for host in [*CLUSTER_FRONTS, "aegir.lab.test"]:
            assert (lab.site_dir(host, uri, platform) / "settings.php").exists(), f"{host}: no site dir on {platform}"
            for p in lab.world.platforms:
                if p.title != platform and p.status != -2 and p.web_server == lab.world.platform(platform).web_server:
                    assert not lab.site_dir(host, uri, p.title).exists(), f"{host}: site dir left on {p.title}"
        no_leftovers(lab, uri)
        for host in lab.hosts.hosts.values():
            left = [" ".join(p.cmdline) for p in host.processes() if "drush" in " ".join(p.cmdline)
                    or "rsync" in " ".join(p.cmdline)]
            assert left == [], f"{host.name}: {left}"

    return Mover(lab, lab.config_path, lab.state_dir, lambda uri: site_state(lab, uri, CLUSTER_FRONTS), where,
                 lambda uri: hostmaster_platform(lab, uri))


def plan_steps(mover: Mover, uri: str, target: str) -> list[str]:
    plan = json.loads(mover.qm("plan", uri, target, "--json").stdout)
    return list(dict.fromkeys(s["name"] for s in plan["steps"]))
