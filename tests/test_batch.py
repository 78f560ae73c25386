"""Batch migrate on the lab: a dry run, a failure with stop and with continue, a failing canary, an abort
during a wave, and every d7-a site to d7-b at concurrency 3 (ineligible ones skipped, every migrated site
whole: its files renamed, never copied)."""

from __future__ import annotations

import json
import time

import pytest
from lab_support import Lab, cli, hostmaster_platform, standin

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_faults")]

A, B = "drupal-7.97-a", "drupal-7.98-b"


def batch_id_of(proc) -> str:
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("batch b"))
    return line.split()[1]


def show(lab: Lab, batch_id: str) -> dict:
    proc = cli(lab, "batch", "show", batch_id, "--json")
    return json.loads(proc.stdout)


def verdicts(rec: dict) -> dict[str, str]:
    return {s["site"]: s["verdict"] for s in rec["sites"]}


def test_dry_run_lists_every_site_and_changes_nothing(lab: Lab) -> None:
    from lab_support import tree_fingerprint

    before = tree_fingerprint(lab)
    proc = cli(lab, "batch", A, B, "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    sites = {s["site"]: s for s in plan["sites"]}
    assert sites["cluster-d7.lab.test"]["eligible"] is True
    assert sites["intranet-d7.lab.test"]["eligible"] is False and sites["intranet-d7.lab.test"]["reasons"]
    assert "disabled-d7.lab.test" not in sites  # only enabled sites are selected
    text = cli(lab, "batch", A, B)
    assert text.returncode == 0 and "dry run: nothing changed" in text.stdout
    assert "skip      intranet-d7.lab.test  — " in text.stdout
    assert tree_fingerprint(lab) == before
    assert cli(lab, "batches", "--json").stdout.strip() == "[]"


def test_abort_during_a_wave_rolls_back_the_running_sites(lab: Lab) -> None:
    slow = ("big-d7.lab.test", "verdicts-d7.lab.test")
    standin(lab, "sleep", "".join(f"provision-verify 60 @{s}\n" for s in slow))
    proc = cli(lab, "batch", A, B, "--sites", *slow, "--canary", "0", "--concurrency", "2", "--yes", "--detach")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    batch_id = batch_id_of(proc)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # both sites are in their (slow) verify
        rec = show(lab, batch_id)
        runs = [s["run_id"] for s in rec["sites"] if s["run_id"]]
        if len(runs) == 2 and all('"verify"' in cli(lab, "run", "show", r, "--json").stdout for r in runs):
            states = [json.loads(cli(lab, "run", "show", r, "--json").stdout) for r in runs]
            if all(any(st["name"] == "verify" and st["state"] == "started" for st in s["steps"]) for s in states):
                break
        time.sleep(0.5)
    else:
        pytest.fail(f"the batch never reached the slow verify: {rec}")
    aborted = cli(lab, "abort", batch_id)
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    watched = cli(lab, "watch", batch_id, timeout=240)
    assert watched.returncode == 1, watched.stdout + watched.stderr
    rec = show(lab, batch_id)
    assert rec["state"] == "aborted" and set(verdicts(rec).values()) == {"rolled_back"}
    for site in slow:
        assert hostmaster_platform(lab, site) == A


def test_a_failure_stops_the_batch_then_retry_and_resume(lab: Lab) -> None:
    first, bad, last = "maint-d7.lab.test", "big-d7.lab.test", "gluster-d7.lab.test"
    standin(lab, "fail", f"provision-verify @{bad} once\n")  # once: the rollback's verify works
    proc = cli(lab, "batch", A, B, "--sites", first, bad, last, "--canary", "0", "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    batch_id = batch_id_of(proc)
    rec = show(lab, batch_id)
    assert verdicts(rec) == {first: "migrated", bad: "rolled_back", last: "not_started"}
    assert rec["state"] == "stopped" and "1 migrated, 1 rolled back" in rec["summary"]
    assert hostmaster_platform(lab, bad) == A and hostmaster_platform(lab, last) == A
    retried = cli(lab, "retry", batch_id)  # only the failed one, in a new run of its own
    assert retried.returncode == 1, retried.stdout + retried.stderr  # `last` is still not started
    rec = show(lab, batch_id)
    assert verdicts(rec) == {first: "migrated", bad: "migrated", last: "not_started"}
    assert hostmaster_platform(lab, bad) == B
    resumed = cli(lab, "resume", batch_id)  # the sites not done
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert set(verdicts(show(lab, batch_id)).values()) == {"migrated"} and hostmaster_platform(lab, last) == B


def test_continue_goes_on_after_a_failure(lab: Lab) -> None:
    bad, good = "verdicts-d7.lab.test", "cluster-d7.lab.test"
    standin(lab, "fail", f"provision-verify @{bad} once\n")
    proc = cli(lab, "batch", A, B, "--sites", bad, good, "--canary", "0", "--on-failure", "continue", "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert verdicts(show(lab, batch_id_of(proc))) == {bad: "rolled_back", good: "migrated"}
    assert hostmaster_platform(lab, bad) == A and hostmaster_platform(lab, good) == B


def test_a_failed_post_check_rolls_the_site_back(lab: Lab) -> None:
    site = "verdicts-d7.lab.test"
    standin(lab, "fail", f"core-status @{site} once\n")
    proc = cli(lab, "batch", A, B, "--sites", site, "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rec = show(lab, batch_id_of(proc))
    assert verdicts(rec) == {site: "rolled_back"} and hostmaster_platform(lab, site) == A
    run = json.loads(cli(lab, "run", "show", rec["sites"][0]["run_id"], "--json").stdout)
    check = next(s for s in run["steps"] if s["name"] == "post_check")
    assert check["state"] == "undone" and "core-status" in (check["detail"] or "")


def test_a_failing_canary_stops_before_any_wave(lab: Lab) -> None:
    bad, other = "verdicts-d7.lab.test", "taskq-d7.lab.test"
    standin(lab, "fail", f"provision-verify @{bad} once\n")
    proc = cli(lab, "batch", A, B, "--sites", bad, other, "--concurrency", "2", "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rec = show(lab, batch_id_of(proc))
    assert verdicts(rec) == {bad: "rolled_back", other: "not_started"}
    assert f"canary {bad} failed" in next(s["reason"] for s in rec["sites"] if s["site"] == other)
