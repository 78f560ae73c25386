"""Batch migrate of a whole platform on its own lab: the batch runner killed mid-batch then ``resume``,
and every d7-a site to d7-b at concurrency 3 (ineligible ones skipped, every migrated site whole)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from lab_support import Lab, assert_files_at, clear_standin, cli, fronts_of, hostmaster_platform, site_state, standin
from test_batch import A, B, batch_id_of, show, verdicts

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_faults")]


def test_runner_killed_mid_batch_then_resume(lab: Lab) -> None:
    slow, after = "big-d7.lab.test", "maint-d7.lab.test"
    before = {u: site_state(lab, u, fronts_of(lab, u)) for u in (slow, after)}
    standin(lab, "sleep", f"provision-verify 60 @{slow}\n")
    proc = cli(lab, "batch", A, B, "--sites", slow, after, "--canary", "0", "--yes", "--detach")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    batch_id = batch_id_of(proc)
    pid = int(proc.stdout.split("runner pid ")[1].split(";")[0])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run_id = next((s["run_id"] for s in show(lab, batch_id)["sites"] if s["run_id"]), None)
        if run_id:
            steps = json.loads(cli(lab, "run", "show", run_id, "--json").stdout)["steps"]
            if any(st["name"] == "verify" and st["state"] == "started" for st in steps):
                break
        time.sleep(0.5)
    else:
        pytest.fail("the batch never reached the slow verify")
    os.kill(pid, signal.SIGKILL)
    clear_standin(lab)
    deadline = time.monotonic() + 30
    while show(lab, batch_id)["state"] != "interrupted":  # its runner is gone (checked by pid on this host)
        assert time.monotonic() < deadline, show(lab, batch_id)
        time.sleep(0.2)
    resumed = cli(lab, "resume", batch_id, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert set(verdicts(show(lab, batch_id)).values()) == {"migrated"}
    for uri in (slow, after):
        assert hostmaster_platform(lab, uri) == B
        assert_files_at(lab, uri, B, before[uri], site_state(lab, uri, fronts_of(lab, uri)))


def test_every_d7_a_site_at_concurrency_3(lab: Lab) -> None:
    plan = json.loads(cli(lab, "batch", A, B, "--json").stdout)
    eligible = [s["site"] for s in plan["sites"] if s["eligible"]]
    assert len(eligible) >= 4, plan
    before = {uri: site_state(lab, uri, fronts_of(lab, uri)) for uri in eligible}
    proc = cli(lab, "batch", A, B, "--concurrency", "3", "--canary", "1", "--yes", "--json", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = json.loads(proc.stdout[proc.stdout.index("\n{") + 1:])
    got = verdicts(rec)
    assert {u for u, v in got.items() if v == "skipped"} >= {s["site"] for s in plan["sites"] if not s["eligible"]}
    assert not {u: v for u, v in got.items() if v not in ("migrated", "skipped")}, rec
    migrated = [u for u, v in got.items() if v == "migrated"]
    # Eligible by their verdicts, refused by their preflight (a queued Aegir task): skipped, never touched.
    refused = {u for u, v in got.items() if v == "skipped" and u in eligible}
    assert set(migrated) | refused == set(eligible) and len(migrated) >= 3
    for uri in migrated:
        assert hostmaster_platform(lab, uri) == B
        assert_files_at(lab, uri, B, before[uri], site_state(lab, uri, fronts_of(lab, uri)))
    assert rec["id"] in [b["id"] for b in json.loads(cli(lab, "batches", "--json").stdout)]
