"""Crashes during a rollback, on the local single-server layout (see crash_support.py).

A migration fails at its last undoable step (the stand-in's ``hosting-import`` fails once), so it rolls
back by itself; the runner dies at an undo point (``undo_before``, ``undo_after_remote``,
``undo_after_journal``, in turn) of every step that has an undo. ``qm-tui rollback ID`` must finish it: the site
whole on its source (files, database restored from the dump, online, site dir and hostmaster), no parking
dir, lock or process left; a second ``rollback ID`` has nothing to do, and ``resume`` is refused.
The same once for a rollback the operator started (``qm-tui rollback`` of a crashed migration that crashes
in its turn).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crash_support import SOURCE, TWIN, UNDO_POINTS, Mover, db_state, local_mover, out, plan_steps

from qm_lab.hostmaster_db import AdminParams
from qm_lab.local import build_local
from qm_tui.engine import steps as engine_steps

SITE = "shop-d7.local.test"
# Steps without an undo of their own (Step.undo), and the one after the failing step (never run).
NO_UNDO = ("dump_db", "cache_clear", "remove_old_aliases", "aegir_verify_task", "maintenance_off")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mover]:
    lab = build_local(tmp_path_factory.mktemp("local"), admin=AdminParams.discover(), twins=[TWIN])
    mover = local_mover(lab)
    try:
        yield mover
    finally:
        mover.clear_standin()
        lab.close()


@pytest.mark.timeout(900)
def test_a_crash_in_the_undo_of_every_step_of_an_automatic_rollback(local: Mover) -> None:
    for cls in (engine_steps.DumpDb, engine_steps.CacheClear, engine_steps.RemoveOldAliases,
                engine_steps.AegirVerifyTask):
        assert cls.undo is engine_steps.Step.undo, f"{cls.__name__} has an undo now: add it to the matrix"
    steps = plan_steps(local, SITE, TWIN[0])
    assert steps[-3:] == ["hosting_import", "aegir_verify_task", "maintenance_off"], steps
    undoable = [s for s in steps if s not in NO_UNDO]
    assert len(undoable) >= 8, undoable
    # One undo point per step, in turn: every point comes up for several steps, at a third of the cost.
    for i, step in enumerate(undoable):
        point = UNDO_POINTS[i % len(UNDO_POINTS)]
        local.crash_in_rollback(SITE, SOURCE, TWIN[0], f"{step}:{point}", thorough=i < len(UNDO_POINTS))


def test_a_crash_in_a_rollback_the_operator_started(local: Mover) -> None:
    """A migration crashes after its updates ran; the operator's rollback crashes while it restores the
    database; the second rollback finishes."""
    what = "cache_clear:after_journal, rollback crashes at updatedb:undo_after_remote"
    before, db_before = local.state(SITE), db_state(local.lab, SITE)
    run_id = local.interrupted(local.qm("migrate", SITE, TWIN[0], "--yes", crash="cache_clear:after_journal"), what)
    local.interrupted(local.recover(run_id, "rollback", what, crash="updatedb:undo_after_remote"), what, run_id)
    assert db_state(local.lab, SITE).schema == db_before.schema, "the crash came after the restore"
    rec = local.recover(run_id, "rollback", what)
    assert "rolled_back" in rec.stdout, out(rec)
    local.whole(SITE, SOURCE, before, db_before, "rollback", what, run_id)
