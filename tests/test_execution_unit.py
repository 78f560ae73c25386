"""Execution (engine/execution.py) driven by a scripted fake runtime and fake steps: no SSH, no MariaDB,
no lab, milliseconds per test. The journal is a real SQLite one in ``tmp_path``.

What is proven here: the order of do and undo, rollback (reverse order, bookkeeping last, stopping at a
failed undo), abort of in-flight steps settled by probing, pause, stop after a hang-up, the settling of
a journaled run's unknown steps on resume and rollback, the lock, and the final state in the journal.
Six bugs this suite found are fixed and pinned here: a bug in one step of a parallel group (its siblings
are settled before anything is undone), a lock error on a run's second name (the first is released), a
bug in an undo (the rollback stops as needs_attention), a sweep that timed out (the log says so), a
hang-up during the last group (the run succeeds), a successful undo (the step keeps its detail).
Undo retries run on a virtual clock (``clock``): their back-off starts at 1 s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from exec_fakes import (
    RUN_ID,
    SOURCE_NID,
    TARGET_NID,
    Harness,
    failed,
    finish,
    names,
    ok,
    source_record,
    started,
)

from qm_tui.engine import execution
from qm_tui.engine.events import RunFinished, RunStarted, StepChanged
from qm_tui.engine.execution import (
    ABORTED,
    EXIT_ATTENTION,
    EXIT_MIGRATED,
    EXIT_REFUSED,
    EXIT_ROLLED_BACK,
    Settings,
    groups,
)
from qm_tui.engine.hostmaster_db import HostmasterError
from qm_tui.engine.steps import Probe
from qm_tui.engine.sweep import SweepRefused
from qm_tui.engine.transport import TransportError

pytestmark = pytest.mark.timeout(10)


@pytest.fixture(autouse=True)
def quick_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal's requests are polled every 10 ms; no heartbeat unless a test asks for one."""
    monkeypatch.setattr(execution, "REQUEST_POLL", 0.01)
    monkeypatch.setattr(execution, "HEARTBEAT_EVERY", 3600.0)


@pytest.fixture
async def make(tmp_path: Any) -> Any:
    """Harnesses for the test, closed after it whatever happened (no run is left waiting on a gate)."""
    made: list[Harness] = []

    def factory(**kw: Any) -> Harness:
        made.append(Harness(tmp_path / str(len(made)), **kw))
        return made[-1]

    yield factory
    for harness in made:
        await harness.close()


@pytest.fixture
def h(make: Any) -> Harness:
    return make()


class _Proxy:
    """A module with some attributes replaced (only ``execution``'s view of it is patched)."""

    def __init__(self, real: Any, **over: Any) -> None:
        self._real = real
        self.__dict__.update(over)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualClock:
    """``execution``'s sleeps of under 1000 s take no time and move its monotonic clock on instead."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []
        self._sleep = asyncio.sleep

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        if seconds >= 1000:  # the background loops (patched to an hour): really wait, they are cancelled
            await self._sleep(seconds)
            return
        self.sleeps.append(seconds)
        self.offset += seconds
        await self._sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    c = VirtualClock()
    monkeypatch.setattr(execution, "REQUEST_POLL", 3600.0)
    monkeypatch.setattr(execution, "asyncio", _Proxy(asyncio, sleep=c.sleep))
    monkeypatch.setattr(execution, "time", _Proxy(time, monotonic=c.monotonic))
    return c


def test_groups_are_runs_of_consecutive_steps_with_one_group(h: Harness) -> None:
    steps = [h.step("a"), h.step("b", group="g"), h.step("c", group="g"), h.step("d"), h.step("e"),
             h.step("f", group="g"), h.step("x", group="x")]
    assert [names(g) for g in groups(steps)] == [["a"], ["b", "c"], ["d"], ["e"], ["f"], ["x"]]


# --- 1. success ---------------------------------------------------------------------------------------


async def test_all_steps_ok_succeeds_takes_and_releases_the_lock_and_cleans_up(h: Harness) -> None:
    a, _, c = h.step("a"), h.step("b"), h.step("c")
    assert await h.run() == EXIT_MIGRATED
    run = h.record()
    assert (run.state, run.public_state, run.error) == ("succeeded", "succeeded", None)
    assert run.ended_at is not None
    assert h.states() == {"a": "ok", "b": "ok", "c": "ok"}
    assert h.undo_states() == {"a": None, "b": None, "c": None}
    assert h.calls("do") == ["a", "b", "c"] and h.calls("undo") == [] and h.calls("probe") == []
    assert h.at("a.do.end") < h.at("b.do") and h.at("b.do.end") < h.at("c.do")
    # The lock first, then clean-up and unlock after the last step, then the kept-aside listing per files host.
    assert h.rt.admin_kinds() == ["lock", "cleanup", "unlock", "ls", "ls"]
    assert h.at("rt.admin:lock") < h.at("a.do") and h.at("c.do.end") < h.at("rt.admin:cleanup")
    (host, lock), = h.rt.admin_calls("lock")
    assert host == "m" and h.ctx.lock_dir in lock and f"run {RUN_ID} pid" in lock
    (_, unlock), = h.rt.admin_calls("unlock")
    assert h.ctx.lock_dir in unlock and f"'run {RUN_ID} '" in unlock and "rmdir" in unlock
    (_, cleanup), = h.rt.admin_calls("cleanup")
    assert "-mtime +7 -delete" in cleanup and "/var/aegir/dumps" in cleanup
    assert [host for host, _ in h.rt.admin_calls("ls")] == list(h.ctx.files_hosts)
    # One read of the hostmaster's record, after the steps: the operation's done check.
    assert h.rt.count("sweep") == 0 and h.rt.count("hostmaster_record") == 1
    assert h.at("c.do.end") < h.at("rt.hostmaster_record")
    # The runtime was bound to the execution's hub, numbering steps by position.
    assert h.rt.hub is h.ex.hub and h.rt.seq_of(c) == 2 and h.rt.seq_of(a) == 0
    # Events: RunStarted, each step started then ok, RunFinished.
    first, last = h.events[0], h.events[-1]
    assert isinstance(first, RunStarted) and first.operation == "fake" and first.site == h.ctx.uri
    assert first.steps == ((0, "a", "m", "Fake a"), (1, "b", "m", "Fake b"), (2, "c", "m", "Fake c"))
    assert isinstance(last, RunFinished) and last.state == "succeeded"
    assert last.message == f"{h.ctx.uri} faked onto plat_b" and last.manual == ()
    assert h.changes() == [(n, "do", s) for n in "abc" for s in ("started", "ok")]
    assert [e.seq for e in h.events if isinstance(e, StepChanged)] == [0, 0, 1, 1, 2, 2]


async def test_success_names_step_warnings_and_what_was_kept_aside(make: Any) -> None:
    h = make(settings=Settings(undo_retry_seconds=0, dump_retention_days=3))
    h.step("a", sets={"warning": "fronts differ"})
    h.step("b", sets={"inodes": 7})
    h.rt.script("ls", ok("/var/aegir/parked/x/aside/live.css\n\n"), host="web1")
    assert await h.run() == EXIT_MIGRATED
    msg = h.finished.message
    assert "; fronts differ" in msg
    assert "kept aside" in msg and "web1:/var/aegir/parked/x/aside/live.css" in msg
    assert [s.data for s in h.record().steps] == [{"warning": "fronts differ"}, {"inodes": 7}]
    (_, cleanup), = h.rt.admin_calls("cleanup")
    assert "-mtime +3 " in cleanup


async def test_a_record_changed_after_its_step_is_a_warning_not_a_rollback(h: Harness,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from exec_fakes import FakeOp

    h.step("a")
    monkeypatch.setattr(FakeOp, "done_problem", classmethod(lambda cls, ctx, rec: "the record moved back"))
    assert await h.run() == EXIT_MIGRATED
    assert h.record().state == "succeeded" and h.finished.message.endswith("; but the record moved back")


# --- 2. failure and rollback ----------------------------------------------------------------------


async def test_a_failed_step_rolls_back_in_reverse_with_bookkeeping_last(h: Harness) -> None:
    h.step("a")
    h.step("rec", bookkeeping=True)
    h.step("b")
    h.step("c", do="fail")
    h.step("d")
    assert await h.run() == EXIT_ROLLED_BACK
    assert h.calls("do") == ["a", "rec", "b", "c"]
    assert h.calls("undo") == ["c", "b", "a", "rec"]
    run = h.record()
    assert run.state == "rolled_back" and run.public_state == "rolled_back"
    assert "m: c: do failed" in run.error
    assert h.states() == {"a": "ok", "rec": "ok", "b": "ok", "c": "failed", "d": "pending"}
    assert h.undo_states() == {"a": "ok", "rec": "ok", "b": "ok", "c": "ok", "d": None}
    assert h.finished.state == "rolled_back"
    assert h.finished.message == "migration failed and was rolled back: m: c: do failed"
    # The sweep before the first undo, the hostmaster checked after the last, then the lock released.
    assert h.at("c.do") < h.at("rt.sweep") < h.at("c.undo")
    assert h.at("rec.undo.end") < h.at("rt.hostmaster_record") < h.at("rt.admin:unlock")
    assert h.rt.admin_kinds() == ["lock", "unlock"]  # no clean-up after a rollback
    assert h.changes("c") == [("c", "do", "started"), ("c", "do", "failed"), ("c", "undo", "started"),
                              ("c", "undo", "ok")]


async def test_sweep_refused_before_rollback_does_not_stop_it(h: Harness) -> None:
    h.step("a")
    h.step("b", do="fail")
    h.rt.sweep_error = SweepRefused("web1: cannot check it for processes of run r-1")
    assert await h.run() == EXIT_ROLLED_BACK
    assert h.calls("undo") == ["b", "a"]
    assert "before rolling back: web1: cannot check it for processes of run r-1" in h.infos()


async def test_a_hung_sweep_before_rollback_is_bounded(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "IN_RUN_SWEEP_LIMIT", 0.05)
    h.step("a", do="fail")
    h.rt.sweep_gate = asyncio.Event()  # never set: a frozen host
    assert await h.run() == EXIT_ROLLED_BACK
    assert h.calls("undo") == ["a"]


async def test_a_hung_sweep_says_it_did_not_finish(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "IN_RUN_SWEEP_LIMIT", 0.05)
    h.step("a", do="fail")
    h.rt.sweep_gate = asyncio.Event()
    assert await h.run() == EXIT_ROLLED_BACK
    assert "before rolling back: the sweep did not finish in time" in h.infos()


async def test_sweep_is_the_runtimes_and_says_through_the_hub(h: Harness) -> None:
    h.step("a")
    ex = h.execution()
    h.rt.sweep_says = [("web1", "killed 1234 rsync")]
    h.rt.sweep_error = SweepRefused("web1: processes survived")
    try:
        with pytest.raises(SweepRefused):
            await ex.sweep()
    finally:
        ex.hub.close()
    assert "killed 1234 rsync" in h.infos()


# --- 3. parallel groups -------------------------------------------------------------------------------


async def test_a_parallel_group_runs_its_steps_concurrently(h: Harness) -> None:
    h.step("a")
    p1, p2 = h.step("p1", group="g", do="block"), h.step("p2", group="g", do="block")
    h.step("z")
    task = h.start()
    await started(p1, p2)  # both begun: neither waited for the other
    assert "p1.do.end" not in h.log and "p2.do.end" not in h.log and "z.do" not in h.log
    p2.gate["do"].set()
    await asyncio.sleep(0.01)
    assert "z.do" not in h.log, "the next group waits for the whole group"
    p1.gate["do"].set()
    assert await finish(task) == EXIT_MIGRATED
    assert h.at("a.do.end") < h.at("p1.do") and h.at("p1.do.end") < h.at("z.do")
    assert h.states() == dict.fromkeys(["a", "p1", "p2", "z"], "ok")


async def test_a_failure_in_a_parallel_group_lets_the_sibling_finish_then_undoes_both(h: Harness) -> None:
    h.step("a")
    h.step("p1", group="g", do="fail", undo="slow")
    h.step("p2", group="g", do="slow", undo="slow")
    h.step("z")
    assert await h.run() == EXIT_ROLLED_BACK
    assert "p2.do.end" in h.log and "p2.do.cancelled" not in h.log
    assert h.at("p2.do.end") < h.at("rt.sweep")
    assert "z.do" not in h.log
    # The group is undone together (both undos begun before either ended), then a.
    assert sorted(h.calls("undo")[:2]) == ["p1", "p2"] and h.calls("undo")[2:] == ["a"]
    assert max(h.at("p1.undo"), h.at("p2.undo")) < min(h.at("p1.undo.end"), h.at("p2.undo.end"))
    assert h.states() == {"a": "ok", "p1": "failed", "p2": "ok", "z": "pending"}


# --- 4. abort of in-flight steps ------------------------------------------------------------------------


@pytest.mark.parametrize(("verdict", "settled"), [(Probe.DONE, "ok"), (Probe.NOT_DONE, "failed"),
                                                  (Probe.PARTIAL, "failed"), ("unknown", "unknown")])
async def test_abort_cancels_the_inflight_step_settles_it_by_probe_and_rolls_back(
        h: Harness, verdict: Any, settled: str) -> None:
    h.step("a")
    b = h.step("b", do="block", probe=verdict)
    h.step("c")
    task = h.start()
    await started(b)
    h.ex.request("abort")
    assert await finish(task) == EXIT_ROLLED_BACK
    assert h.at("b.do") < h.at("b.do.cancelled") < h.at("b.probe") < h.at("rt.sweep") < h.at("b.undo")
    assert h.states() == {"a": "ok", "b": settled, "c": "pending"}
    assert h.calls("do") == ["a", "b"] and h.calls("undo") == ["b", "a"]
    assert h.undo_states() == {"a": "ok", "b": "ok", "c": None}
    run = h.record()
    assert run.state == "rolled_back" and run.error == f"migration failed and was rolled back: {ABORTED}"
    assert h.finished.message == f"migration failed and was rolled back: {ABORTED}"
    assert ("b", "do", settled) in h.changes("b")
    detail = next(e.detail for e in h.events if isinstance(e, StepChanged) and e.name == "b" and e.state == settled)
    assert detail == "m: b: interrupted by abort"
    assert any(line.startswith("abort requested (roll back)") for line in h.infos())


async def test_abort_from_another_terminal_goes_through_the_journal(h: Harness) -> None:
    h.step("a")
    b = h.step("b", do="block", probe=Probe.NOT_DONE)
    h.step("c")
    task = h.start()
    await started(b)
    rid = h.journal.request(RUN_ID, "abort")
    assert await finish(task) == EXIT_ROLLED_BACK
    assert h.journal.request_handled(rid)
    assert "b.do.cancelled" in h.log and h.calls("undo") == ["b", "a"]


async def test_abort_cancels_every_step_of_a_parallel_group(h: Harness) -> None:
    p1 = h.step("p1", group="g", do="block", probe=Probe.DONE)
    p2 = h.step("p2", group="g", do="block", probe=Probe.NOT_DONE)
    task = h.start()
    await started(p1, p2)
    h.ex.request("abort")
    assert await finish(task) == EXIT_ROLLED_BACK
    assert "p1.do.cancelled" in h.log and "p2.do.cancelled" in h.log
    assert h.states() == {"p1": "ok", "p2": "failed"}
    assert sorted(h.calls("undo")) == ["p1", "p2"]


async def test_abort_before_any_step_rolls_back_nothing(h: Harness) -> None:
    h.step("a")
    ex = h.execution()
    ex.request("abort")  # e.g. while the lock was being taken
    h.task = asyncio.create_task(ex.run())
    assert await finish(h.task) == EXIT_ROLLED_BACK
    assert h.calls("do") == [] and h.calls("undo") == []
    assert h.record().state == "rolled_back" and h.rt.admin_kinds() == ["lock", "unlock"]


# --- 5. pause ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("requests", [("pause",), ("abort", "pause")])
async def test_pause_stops_without_rollback(h: Harness, requests: tuple[str, ...]) -> None:
    h.step("a")
    b = h.step("b", do="block", probe=Probe.DONE)
    h.step("c")
    task = h.start()
    await started(b)
    for kind in requests:
        h.ex.request(kind)
    assert await finish(task) == EXIT_ATTENTION
    run = h.record()
    assert (run.state, run.public_state) == ("paused", "aborted")
    assert "b.do.cancelled" in h.log and "b.probe" in h.log
    assert h.states() == {"a": "ok", "b": "ok", "c": "pending"}
    assert h.calls("undo") == [] and h.rt.count("sweep") == 0
    assert h.rt.admin_kinds() == ["lock"], "a paused run keeps its lock"
    assert h.finished.state == "paused"
    assert h.finished.message == (f"{ABORTED}; continue with: qm-tui resume {RUN_ID}, or undo with: "
                                  f"qm-tui rollback {RUN_ID}")


async def test_pause_with_an_inflight_step_not_done_still_does_not_roll_back(h: Harness) -> None:
    h.step("a")
    b = h.step("b", do="block", probe=Probe.NOT_DONE)
    task = h.start()
    await started(b)
    h.ex.request("pause")
    assert await finish(task) == EXIT_ATTENTION
    assert h.states() == {"a": "ok", "b": "failed"} and h.calls("undo") == []
    assert h.record().state == "paused"


# --- 6. stop (a hang-up with on_hangup=stop) ------------------------------------------------------------


async def test_stop_finishes_the_current_group_then_pauses(h: Harness) -> None:
    h.step("a")
    p1, p2 = h.step("p1", group="g", do="block"), h.step("p2", group="g", do="block")
    h.step("c")
    task = h.start()
    await started(p1, p2)
    h.ex.request("stop")
    await asyncio.sleep(0.02)
    assert not task.done(), "stop never interrupts a step"
    p1.gate["do"].set()
    p2.gate["do"].set()
    assert await finish(task) == EXIT_ATTENTION
    assert ".cancelled" not in " ".join(h.log) and h.calls("probe") == []
    assert h.states() == {"a": "ok", "p1": "ok", "p2": "ok", "c": "pending"}
    assert h.calls("undo") == [] and h.rt.admin_kinds() == ["lock"]
    run = h.record()
    assert (run.state, run.public_state) == ("paused", "aborted")
    assert h.finished.message.startswith("stopped at a safe point after a hang-up; continue with: qm-tui resume")
    assert "hang-up: stopping at the next safe point" in h.infos()


async def test_stop_then_a_failure_in_the_current_group_rolls_back(h: Harness) -> None:
    h.step("a")
    b = h.step("b", do="block-fail")
    h.step("c")
    task = h.start()
    await started(b)
    h.ex.request("stop")
    b.gate["do"].set()
    assert await finish(task) == EXIT_ROLLED_BACK
    assert h.calls("undo") == ["b", "a"] and h.record().state == "rolled_back"


async def test_stop_during_the_last_group_lets_the_finished_run_succeed(h: Harness) -> None:
    h.step("a")
    b = h.step("b", do="block")
    task = h.start()
    await started(b)
    h.ex.request("stop")
    b.gate["do"].set()
    assert await finish(task) == EXIT_MIGRATED
    assert h.record().state == "succeeded"


# --- 7. StepUnknown from do -----------------------------------------------------------------------------------


async def test_unknown_outcome_probed_done_is_ok_and_the_run_goes_on(h: Harness) -> None:
    h.step("a")
    h.step("b", do="unknown", probe=Probe.DONE)
    h.step("c")
    assert await h.run() == EXIT_MIGRATED
    assert h.at("b.do") < h.at("b.probe") < h.at("c.do")
    assert h.states() == {"a": "ok", "b": "ok", "c": "ok"}
    assert h.calls("undo") == [] and h.record().state == "succeeded"
    assert "probe of b: done" in h.infos()


@pytest.mark.parametrize(("verdict", "settled"), [(Probe.NOT_DONE, "failed"), (Probe.PARTIAL, "failed"),
                                                  ("fail", "unknown"), ("unknown", "unknown")])
async def test_unknown_outcome_not_probed_done_rolls_back(h: Harness, verdict: Any, settled: str) -> None:
    h.step("a")
    h.step("b", do="unknown", probe=verdict)
    h.step("c")
    assert await h.run() == EXIT_ROLLED_BACK
    assert h.states() == {"a": "ok", "b": settled, "c": "pending"}
    assert h.calls("undo") == ["b", "a"]
    run = h.record()
    assert run.state == "rolled_back" and "m: b: do outcome unknown" in run.error


async def test_a_rollback_keeps_the_failed_steps_detail_in_the_journal(h: Harness) -> None:
    h.step("a")
    h.step("b", do="fail")
    assert await h.run() == EXIT_ROLLED_BACK
    assert h.record().steps[1].detail == "m: b: do failed"


# --- 8. a failing undo -----------------------------------------------------------------------------------------


async def test_a_failed_undo_stops_the_rollback_and_lists_what_is_left(h: Harness) -> None:
    h.step("a")
    h.step("rec", bookkeeping=True)
    h.step("b", undo="fail")
    h.step("c", do="fail")
    assert await h.run() == EXIT_ATTENTION
    assert h.calls("undo") == ["c", "b"], "nothing after the failed undo is undone"
    assert h.undo_states() == {"a": None, "rec": None, "b": "failed", "c": "ok"}
    run = h.record()
    assert (run.state, run.public_state) == ("needs_attention", "needs_attention")
    fin = h.finished
    assert fin.state == "needs_attention"
    assert fin.manual == (("m", "undo b"), ("m", "undo a"), ("m", "undo rec"))
    assert fin.message.startswith("rollback stopped: m: b: undo failed (the migration failed first: m: c: do failed)")
    assert fin.message.endswith(f"when the cause is fixed run: qm-tui rollback {RUN_ID}")
    assert "the site is back whole" not in fin.message
    assert h.rt.count("hostmaster_record") == 0 and "unlock" not in h.rt.admin_kinds()
    assert run.steps[2].detail == "m: b: undo failed"


async def test_a_failed_bookkeeping_undo_says_the_site_is_whole(h: Harness) -> None:
    h.step("a")
    h.step("rec", bookkeeping=True, undo="fail")
    h.step("c", do="fail")
    assert await h.run() == EXIT_ATTENTION
    assert h.calls("undo") == ["c", "a", "rec"]
    assert h.finished.manual == (("m", "undo rec"),)
    assert h.finished.message.startswith("rollback stopped: the site is back whole and online on plat_a, only the "
                                         "hostmaster's record is left: m: rec: undo failed")


# --- 9. undo retried while the host cannot be reached --------------------------------------------------------


async def test_an_unreachable_undo_is_retried_with_backoff(make: Any, clock: VirtualClock) -> None:
    h = make(settings=Settings(undo_retry_seconds=20))
    h.step("a")
    b = h.step("b", undo=["unknown", "transport", "ok"])
    h.step("c", do="fail")
    assert await h.run() == EXIT_ROLLED_BACK
    assert b.count["undo"] == 3 and clock.sleeps == [1.0, 2.0]
    assert h.calls("undo") == ["c", "b", "b", "b", "a"]
    assert h.undo_states() == {"a": "ok", "b": "ok", "c": "ok"}
    retries = [line for line in h.infos() if line.startswith("undo of b could not reach the host")]
    assert [r.rsplit("retrying in ", 1)[1] for r in retries] == ["1 s", "2 s"]


async def test_undo_retries_end_at_the_deadline(make: Any, clock: VirtualClock) -> None:
    h = make(settings=Settings(undo_retry_seconds=20))
    h.step("a")
    b = h.step("b", undo="unknown")
    h.step("c", do="fail")
    assert await h.run() == EXIT_ATTENTION
    # 1 + 2 + 4 + 8 = 15 s waited; the next wait (15 s) would end past the 20 s deadline.
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0] and b.count["undo"] == 5
    assert h.undo_states() == {"a": None, "b": "failed", "c": "ok"}
    assert h.record().state == "needs_attention"
    assert h.finished.manual == (("m", "undo b"), ("m", "undo a"))


@pytest.mark.parametrize("budget", [0.0, 0.3])
async def test_undo_is_not_retried_when_the_budget_is_below_the_first_backoff(
        make: Any, clock: VirtualClock, budget: float) -> None:
    """The back-off starts at 1 s and never sleeps past the deadline: a smaller budget means one attempt."""
    h = make(settings=Settings(undo_retry_seconds=budget))
    b = h.step("b", do="fail", undo=["unknown", "ok"])
    assert await h.run() == EXIT_ATTENTION
    assert b.count["undo"] == 1 and clock.sleeps == []


async def test_a_step_failed_undo_is_not_retried(make: Any, clock: VirtualClock) -> None:
    h = make(settings=Settings(undo_retry_seconds=20))
    b = h.step("b", do="fail", undo=["fail", "ok"])
    assert await h.run() == EXIT_ATTENTION
    assert b.count["undo"] == 1 and clock.sleeps == []


# --- 10. a second abort during the rollback ------------------------------------------------------------------


async def test_a_second_abort_pauses_the_rollback_after_the_current_undo(h: Harness) -> None:
    h.step("a")
    h.step("b")
    c = h.step("c", do="block", probe=Probe.DONE, undo="block")
    h.step("d")
    task = h.start()
    await started(c)
    h.ex.request("abort")
    await started(c, phase="undo")
    h.ex.request("abort")
    h.ex.request("pause")  # a third ask changes nothing
    await asyncio.sleep(0.02)
    assert not task.done(), "the current undo is never cut short"
    c.gate["undo"].set()
    assert await finish(task) == EXIT_ATTENTION
    assert h.calls("undo") == ["c"]
    assert h.undo_states() == {"a": None, "b": None, "c": "ok", "d": None}
    run = h.record()
    assert (run.state, run.public_state) == ("paused", "aborted")
    assert h.finished.message == (f"rollback paused by the operator ({ABORTED}); continue with: "
                                  f"qm-tui rollback {RUN_ID}")
    assert h.infos().count("abort during rollback: pausing after the current undo") == 1
    assert h.rt.count("hostmaster_record") == 0 and "unlock" not in h.rt.admin_kinds()


async def test_a_stop_during_the_rollback_is_ignored(h: Harness) -> None:
    h.step("a")
    b = h.step("b", do="fail", undo="block")
    task = h.start()
    await started(b, phase="undo")
    h.ex.request("stop")
    b.gate["undo"].set()
    assert await finish(task) == EXIT_ROLLED_BACK
    assert h.calls("undo") == ["b", "a"]


# --- 11. resume of a journaled run ----------------------------------------------------------------------------


@pytest.mark.parametrize(("verdict", "rerun"), [(Probe.DONE, False), (Probe.PARTIAL, True),
                                                (Probe.NOT_DONE, True), ("fail", True)])
async def test_resume_settles_a_started_step_by_probe_first(h: Harness, verdict: Any, rerun: bool) -> None:
    h.step("a")
    h.step("b", probe=verdict)
    h.step("c")
    assert await h.run("resume", states={0: "ok", 1: "started"}) == EXIT_MIGRATED
    assert h.log[0] == "b.probe", "the hosts are probed before anything runs"
    assert h.calls("probe") == ["b"]
    assert h.calls("do") == (["b", "c"] if rerun else ["c"])
    assert h.states() == {"a": "ok", "b": "ok", "c": "ok"} and h.record().state == "succeeded"
    # A resumed run holds the lock already: it is released, never taken again.
    assert "lock" not in h.rt.admin_kinds() and "unlock" in h.rt.admin_kinds()
    assert h.rt.count("sweep") == 0, "the sweep before a recovery is the Runner's"
    if isinstance(verdict, Probe):
        settled = {Probe.DONE: "ok", Probe.PARTIAL: "failed", Probe.NOT_DONE: "pending"}[verdict]
        ev = next(e for e in h.events if isinstance(e, StepChanged) and e.name == "b")
        assert (ev.state, ev.detail) == (settled, f"settled by probe: {verdict.value}")
    else:
        assert "probe of b failed: m: b: probe failed; treated as unknown" in h.infos()


async def test_resume_probes_only_steps_left_started_or_unknown(h: Harness) -> None:
    h.step("a")
    h.step("b", probe=Probe.DONE)
    h.step("c")
    h.step("d")
    assert await h.run("resume", states={0: "ok", 1: "unknown", 2: "failed"}) == EXIT_MIGRATED
    assert h.calls("probe") == ["b"]
    assert h.calls("do") == ["c", "d"]


async def test_resume_that_fails_rolls_back_what_ran_in_both_runs(h: Harness) -> None:
    h.step("a")
    h.step("b", probe=Probe.DONE)
    h.step("c", do="fail")
    assert await h.run("resume", states={0: "ok", 1: "started"}) == EXIT_ROLLED_BACK
    assert h.calls("undo") == ["c", "b", "a"]


@pytest.mark.parametrize(("undo_states", "next_cmd"), [
    (None, f"qm-tui resume {RUN_ID}, or undo with: qm-tui rollback {RUN_ID}"),
    ({2: "ok"}, f"qm-tui rollback {RUN_ID}")])
async def test_pause_of_a_run_whose_runner_is_gone(h: Harness, undo_states: Any, next_cmd: str) -> None:
    h.step("a")
    h.step("b", probe=Probe.NOT_DONE)
    h.step("c")
    code = await h.run("pause", states={0: "ok", 1: "started", 2: "ok"}, undo_states=undo_states)
    assert code == EXIT_ATTENTION
    assert h.calls("probe") == ["b"] and h.calls("do") == [] and h.calls("undo") == []
    assert h.states()["b"] == "pending" and h.record().state == "paused"
    assert h.finished.message == f"{ABORTED} (its runner was gone); continue with: {next_cmd}"


# --- 12. rollback of a journaled run -------------------------------------------------------------------------


@pytest.mark.parametrize(("verdict", "undone"), [(Probe.PARTIAL, ["c", "b", "a"]), (Probe.DONE, ["c", "b", "a"]),
                                                 (Probe.NOT_DONE, ["b", "a"]), ("fail", ["c", "b", "a"])])
async def test_rollback_of_a_journaled_run_undoes_only_what_ran(h: Harness, verdict: Any, undone: list[str]) -> None:
    h.step("a")
    h.step("b")
    h.step("c", probe=verdict)
    h.step("d")
    assert await h.run("rollback", states={0: "ok", 1: "ok", 2: "started"}) == EXIT_ROLLED_BACK
    assert h.log[0] == "c.probe"
    assert h.calls("do") == [] and h.calls("undo") == undone
    assert h.undo_states()["d"] is None
    run = h.record()
    assert run.state == "rolled_back"
    assert run.error == h.finished.message == "migration failed and was rolled back: rollback requested by the operator"
    assert h.rt.count("sweep") == 0 and h.rt.admin_kinds() == ["unlock"]


async def test_rollback_again_skips_what_an_earlier_rollback_undid(h: Harness) -> None:
    h.step("a")
    h.step("b")
    h.step("c")
    h.step("d")
    code = await h.run("rollback", states={0: "ok", 1: "ok", 2: "ok", 3: "failed"},
                       undo_states={3: "ok", 2: "ok", 1: "failed"})
    assert code == EXIT_ROLLED_BACK
    assert h.calls("probe") == [] and h.calls("undo") == ["b", "a"]
    assert h.undo_states() == dict.fromkeys("abcd", "ok")


# --- 13. the hostmaster's record after a rollback ----------------------------------------------------------


@pytest.mark.parametrize(("record", "problem"), [
    (source_record(platform=TARGET_NID), f"platform node {TARGET_NID}, not {SOURCE_NID} (plat_a)"),
    (None, "the hostmaster has no site node 1"),
    (source_record(context="other.example.org"), "the site's context as 'other.example.org'"),
    (HostmasterError("hostmaster: connection refused"), "cannot be checked: hostmaster: connection refused"),
])
async def test_a_rollback_the_hostmaster_does_not_reflect_needs_attention(h: Harness, record: Any,
                                                                          problem: str) -> None:
    h.step("a")
    h.step("b", do="fail")
    h.rt.record = record
    assert await h.run() == EXIT_ATTENTION
    assert h.calls("undo") == ["b", "a"]
    assert h.record().state == "needs_attention" and h.finished.state == "needs_attention"
    assert h.finished.message.startswith("rolled back, but ") and problem in h.finished.message
    assert "unlock" not in h.rt.admin_kinds()


async def test_a_record_on_the_source_with_its_context_is_rolled_back(h: Harness) -> None:
    h.step("a", do="fail")
    h.rt.record = source_record(context=h.ctx.src_uri)
    assert await h.run() == EXIT_ROLLED_BACK


# --- 14. the lock -------------------------------------------------------------------------------------------


async def test_a_held_lock_refuses_the_run(h: Harness) -> None:
    h.step("a")
    h.step("b")
    h.rt.script("lock", failed(stderr="mkdir: cannot create directory: File exists"))
    h.rt.script("owner", ok("run other-1 pid 42 on box since 2026-01-01T00:00:00Z\n"))
    assert await h.run() == EXIT_REFUSED
    assert h.log == ["rt.admin:lock", "rt.admin:owner"], "no step ran, nothing was unlocked"
    run = h.record()
    assert (run.state, run.public_state) == ("aborted", "aborted")
    assert h.states() == {"a": "pending", "b": "pending"}
    assert h.finished.state == "aborted"
    assert h.finished.message == f"m: cannot take the lock {h.ctx.lock_dir}: run other-1 pid 42 on box since " \
                                 "2026-01-01T00:00:00Z"
    assert run.error == h.finished.message


async def test_a_lock_without_owner_names_mkdirs_error(h: Harness) -> None:
    h.step("a")
    h.rt.script("lock", failed(stderr="mkdir: Permission denied\n"))
    assert await h.run() == EXIT_REFUSED
    assert h.finished.message.endswith(": mkdir: Permission denied")


async def test_a_refused_second_name_releases_the_first(make: Any) -> None:
    h = make(new_uri="new.example.org")
    h.step("a")
    first, second = h.ctx.lock_dirs
    h.rt.script("lock", ok(), failed(stderr="File exists"))
    assert await h.run() == EXIT_REFUSED
    assert h.calls("do") == []
    assert h.rt.admin_kinds() == ["lock", "lock", "owner", "unlock"]
    (_, unlock), = h.rt.admin_calls("unlock")
    assert first in unlock and second not in unlock
    assert second in h.finished.message and h.record().state == "aborted"


async def test_a_lock_command_that_cannot_run_refuses_the_run(h: Harness) -> None:
    h.step("a")
    h.rt.script("lock", TransportError("m: cannot connect"))
    assert await h.run() == EXIT_REFUSED
    assert h.calls("do") == [] and h.record().state == "aborted"
    assert h.finished.message == f"m: cannot take the lock {h.ctx.lock_dir}: m: cannot connect"


async def test_a_lock_error_on_the_second_name_releases_the_first(make: Any) -> None:
    h = make(new_uri="new.example.org")
    h.step("a")
    h.rt.script("lock", ok(), TransportError("m: connection lost"))
    assert await h.run() == EXIT_REFUSED
    assert h.record().state == "aborted"
    assert [cmd for _, cmd in h.rt.admin_calls("unlock") if h.ctx.lock_dirs[0] in cmd]


# --- 15. bugs in steps ---------------------------------------------------------------------------------------


async def test_an_internal_error_in_a_step_still_rolls_back_what_ran(h: Harness) -> None:
    h.step("a")
    h.step("b", do="bug")
    h.step("c")
    assert await h.run() == EXIT_ROLLED_BACK
    assert h.calls("do") == ["a", "b"] and h.calls("undo") == ["b", "a"]
    run = h.record()
    assert run.state == "rolled_back"
    assert run.error == "migration failed and was rolled back: internal error: RuntimeError('bug in b.do')"
    assert h.undo_states() == {"a": "ok", "b": "ok", "c": None}


async def test_an_internal_error_in_a_parallel_group_never_undoes_a_step_still_running(h: Harness) -> None:
    h.step("a")
    h.step("p1", group="g", do="bug")
    h.step("p2", group="g", do="slow")  # 50 ms, then ok
    try:
        assert await h.run() == EXIT_ROLLED_BACK
        settled = [e for e in h.log if e in ("p2.do.end", "p2.do.cancelled")]
        assert settled, "p2's do was still running when the run ended"
        assert h.at(settled[0]) < h.at("p2.undo")
    finally:
        await asyncio.sleep(0.1)  # let an orphaned _do finish before the loop closes
        h.ex.hub.close()  # it wrote to the hub after run() had closed it (re-opening a log file)


async def test_an_internal_error_in_an_undo_stops_the_rollback_as_needs_attention(h: Harness) -> None:
    h.step("a")
    h.step("b", undo="bug")
    h.step("c", do="fail")
    assert await h.run() == EXIT_ATTENTION
    assert h.record().state == "needs_attention"
    assert h.finished.manual == (("m", "undo b"), ("m", "undo a"))


# --- the heartbeat ------------------------------------------------------------------------------------------


async def test_the_run_heartbeats_while_a_step_runs(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "HEARTBEAT_EVERY", 0.01)
    b = h.step("b", do="block")
    task = h.start()
    await started(b)
    before = h.record().heartbeat_at
    await asyncio.sleep(0.05)
    assert h.record().heartbeat_at > before
    b.gate["do"].set()
    assert await finish(task) == EXIT_MIGRATED

