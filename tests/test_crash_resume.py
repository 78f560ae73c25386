"""Crashes during a resume, on the local single-server layout (see crash_support.py).

A migration crashes at one step; ``qm-tui resume`` crashes too, at a later step (or at the same one, which
the resume re-runs); then ``qm-tui resume`` again must end with the site whole on the target (files, an
updated database, online), and, separately, ``qm-tui rollback`` with the site whole on its source (the
database restored from the dump). Each case on a site of its own, rolled back first, then resumed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crash_support import SOURCE, TWIN, Mover, db_state, local_mover, out

from qm_lab.hostmaster_db import AdminParams
from qm_lab.local import build_local

TARGET = TWIN[0]
# (site, the migration's crash, the resume's crash): every later phase of the plan once.
CASES = [
    ("blog-d7.local.test", "park_files:after_remote", "updatedb:after_remote"),
    ("news-d7.local.test", "updatedb:after_remote", "updatedb:after_remote"),
    ("events-d7.local.test", "dump_db:after_journal", "restore_files:after_remote"),
    ("wiki-d7.local.test", "provision_save:after_remote", "maintenance_off:after_remote"),
]

@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mover]:
    lab = build_local(tmp_path_factory.mktemp("local"), admin=AdminParams.discover(), twins=[TWIN])
    try:
        yield local_mover(lab)
    finally:
        lab.close()


def crash_twice(mv: Mover, uri: str, first: str, second: str, then: str) -> None:
    what = f"{uri}: {first}, resume crashes at {second}, then {then}"
    before, db_before = mv.state(uri), db_state(mv.lab, uri)
    run_id = mv.interrupted(mv.qm("migrate", uri, TARGET, "--yes", crash=first), what)
    mv.interrupted(mv.recover(run_id, "resume", what, crash=second), what, run_id)
    rec = mv.recover(run_id, then, what)
    assert ("succeeded" if then == "resume" else "rolled_back") in rec.stdout, f"{what}: {out(rec)}"
    mv.whole(uri, TARGET if then == "resume" else SOURCE, before, db_before, then, what, run_id)
    again = mv.qm(then, run_id)
    assert "nothing to do" in again.stdout, f"{what}: {out(again)}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("uri", "first", "second"), CASES, ids=[c[0].split("-")[0] for c in CASES])
def test_a_resume_crashes_too(local: Mover, uri: str, first: str, second: str) -> None:
    crash_twice(local, uri, first, second, "rollback")
    crash_twice(local, uri, first, second, "resume")
