"""Preflight against Aegir itself (issue 14, S3 and S4), on the lab: a queued or processing hosting task on
any node the run touches refuses it, and so does code changed since the verify the comparison trusts.
Every refusal leaves everything as it was: files, the journal, the hostmaster's platform, maintenance."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from lab_support import AEGIR_ROOT, MASTER, Lab, cli, hostmaster_platform, make_lab, site_db, tree_fingerprint
from test_engine_preflight import DST, SRC, URI, aegir_owned, refused

from qm_lab.hostmaster_db import finish_task, queue_task, stamp_verified
from qm_tui.config import load_config
from qm_tui.engine.journal import Journal
from qm_tui.engine.runner import Refused, Runner

pytestmark = pytest.mark.lab
CLUSTER_SITE = "cluster-d7.lab.test"  # on SRC, with a site-local module (custom_glue)
WEB4_SITE, WEB4_SRC, WEB4_DST = "web4-d10.lab.test", "drupal-10.1.8", "drupal-10.2.3"  # a single remote front


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


# --- helpers ------------------------------------------------------------------------------------


def maintenance(lab: Lab, uri: str) -> list[tuple[object, ...]]:
    if lab.world.platform_of(lab.world.site(uri)).major >= 8:
        return site_db(lab, uri, "SELECT value FROM key_value WHERE collection = 'state' "
                                 "AND name = 'system.maintenance_mode'")
    return site_db(lab, uri, "SELECT name, value FROM variable WHERE name IN ('maintenance_mode', 'site_offline')")


def refused_untouched(lab: Lab, *expect: str, uri: str = URI, target: str = DST) -> str:
    """``refused`` (exit 2, same trees, no run, plan refuses too), and the hostmaster still has the site on
    its platform and its maintenance state is what it was."""
    source, maint = hostmaster_platform(lab, uri), maintenance(lab, uri)
    err = refused(lab, *expect, uri=uri, target=target)
    assert hostmaster_platform(lab, uri) == source
    assert maintenance(lab, uri) == maint
    return err


def plan_ok(lab: Lab, uri: str = URI, target: str = DST) -> None:
    proc = cli(lab, "plan", uri, target)
    assert proc.returncode == 0 and "preflight: ok" in proc.stdout, proc.stdout + proc.stderr


@contextmanager
def task(lab: Lab, rid: int, task_type: str, status: int) -> Iterator[int]:
    """A hosting task on node ``rid`` for the body; the dispatcher then runs it (success)."""
    nid = queue_task(lab.admin, lab.accounts.database, rid, task_type, status)
    try:
        yield nid
    finally:
        finish_task(lab.admin, lab.accounts.database, nid)


def verified_of(lab: Lab, nid: int) -> int:
    conn = lab.admin.connect(lab.accounts.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT s.verified FROM node n JOIN hosting_site s ON s.vid = n.vid WHERE n.nid = %s "
                        "UNION ALL SELECT p.verified FROM node n JOIN hosting_platform p ON p.vid = n.vid "
                        "WHERE n.nid = %s", (nid, nid))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def change_after_verify(lab: Lab, path: Path, nid: int) -> int:
    """Change ``path`` (its ctime, as any edit does) strictly after the node's last verify; that verify's time."""
    since = verified_of(lab, nid)
    time.sleep(max(0.0, since + 0.05 - time.time()))
    os.utime(path)
    return since


def aegir_verifies(lab: Lab, nid: int) -> None:
    """Stand for the verify task the refusal asks for: it ends after every change made so far."""
    stamp_verified(lab.admin, lab.accounts.database, lab.world, int(time.time()) + 1, [nid])


# --- S4: Aegir's task queue ---------------------------------------------------------------------

KINDS = {  # role in the run -> (node title, a task Aegir runs on such a node)
    "site": (URI, "backup"),
    "source platform": (SRC, "verify"),
    "target platform": (DST, "verify"),
    "web server": ("webcluster.lab.test", "verify"),
    "db server": ("db.lab.test", "verify"),
}


def _nid(lab: Lab, role: str) -> int:
    title = KINDS[role][0]
    if role == "site":
        return lab.world.site(title).nid
    return (lab.world.platform(title) if "platform" in role else lab.world.server(title)).nid


@pytest.mark.parametrize("status", [0, -1], ids=["queued", "processing"])
@pytest.mark.parametrize("role", list(KINDS))
def test_an_active_task_on_any_node_of_the_run_refuses(lab: Lab, role: str, status: int) -> None:
    title, task_type = KINDS[role]
    rid = _nid(lab, role)
    label = "queued" if status == 0 else "processing"
    with task(lab, rid, task_type, status) as tnid:
        err = refused_untouched(lab, f"the hostmaster has a {label} {task_type} task (node {tnid}) for the "
                                     f"{role} {title} (node {rid})")
        assert sum("the hostmaster has a" in ln for ln in err.splitlines()) == 1, err
    plan_ok(lab)  # the task ran: nothing holds the site any more


def test_the_queue_is_read_again_right_before_the_run_acts(lab: Lab) -> None:
    """A task queued after the plan was checked (while the user reads the confirmation) refuses the run:
    preflight reads the hostmaster itself each time, not what ``prepare`` saw."""
    before, runs = tree_fingerprint(lab), len(Journal(lab.state_dir).list_runs())

    async def go() -> tuple[int, list[str]]:
        runner = Runner(load_config(lab.config_path))
        try:
            prep = await runner.prepare(URI, DST, strict=False)
            assert await runner.check(prep) == []  # the plan the user confirms
            with task(lab, lab.world.platform(DST).nid, "verify", 0) as tnid, pytest.raises(Refused) as exc:
                await runner.migrate(prep)
            return tnid, exc.value.problems
        finally:
            await runner.close()

    tnid, problems = asyncio.run(go())
    assert problems == [f"the hostmaster has a queued verify task (node {tnid}) for the target platform {DST} "
                        f"(node {lab.world.platform(DST).nid}): let Aegir finish it (or cancel it) first"]
    assert tree_fingerprint(lab) == before and len(Journal(lab.state_dir).list_runs()) == runs
    assert hostmaster_platform(lab, URI) == SRC


def test_finished_and_unrelated_tasks_do_not_refuse(lab: Lab) -> None:
    site, other = lab.world.site(URI).nid, lab.world.platform("drupal-7.101-c").nid
    with task(lab, site, "verify", 1), task(lab, site, "backup", 2), task(lab, site, "verify", 3), \
            task(lab, other, "verify", 0):
        plan_ok(lab)
        with task(lab, site, "verify", 0) as tnid:  # and the check is there
            refused_untouched(lab, f"queued verify task (node {tnid}) for the site {URI}")


# --- S3: code changed since the last verify -----------------------------------------------------


def test_target_module_changed_since_its_verify_refuses(lab: Lab) -> None:
    target = lab.world.platform(DST)
    info = f"{target.publish_path}/sites/all/modules/views/views.info"
    since = change_after_verify(lab, lab.path(MASTER, info), target.nid)
    err = refused_untouched(lab, f"{MASTER}: platform {DST} changed since its last verify at {iso(since)} ({info}): "
                                 "verify it in Aegir first")
    assert f"platform {SRC} changed" not in err and "site " not in err, err
    aegir_verifies(lab, target.nid)
    plan_ok(lab)


def test_source_core_version_changed_since_its_verify_refuses(lab: Lab) -> None:
    source = lab.world.platform(SRC)
    core = f"{source.publish_path}/includes/bootstrap.inc"
    since = change_after_verify(lab, lab.path(MASTER, core), source.nid)
    refused_untouched(lab, f"{MASTER}: platform {SRC} changed since its last verify at {iso(since)} ({core})")
    aegir_verifies(lab, source.nid)
    plan_ok(lab)


def test_site_module_changed_since_the_site_verify_refuses(lab: Lab) -> None:
    site = lab.world.site(CLUSTER_SITE)
    module = lab.site_dir(MASTER, CLUSTER_SITE, SRC) / "modules" / "custom_glue" / "custom_glue.module"
    since = change_after_verify(lab, module, site.nid)
    in_host = f"{lab.world.platform(SRC).publish_path}/sites/{CLUSTER_SITE}/modules/custom_glue/custom_glue.module"
    err = refused_untouched(lab, f"{MASTER}: site {CLUSTER_SITE}'s code changed since its last verify at "
                                 f"{iso(since)} ({in_host}): verify it in Aegir first", uri=CLUSTER_SITE)
    assert f"platform {SRC} changed" not in err, err  # the site's own dir is its verify's, not the platform's
    aegir_verifies(lab, site.nid)
    plan_ok(lab, CLUSTER_SITE)


def test_site_code_changed_on_its_single_remote_front_refuses(lab: Lab) -> None:
    """web4 is authoritative for its sites' code (the run fetches it over M's copy): checked there too."""
    site = lab.world.site(WEB4_SITE)
    modules = lab.site_dir("web4.lab.test", WEB4_SITE, WEB4_SRC) / "modules"
    made = not modules.exists()
    probe = modules / "qm_probe"
    probe.mkdir(parents=True)
    for d in (modules, probe):
        aegir_owned(lab, d)
    try:
        change_after_verify(lab, modules, site.nid)  # wait past the verify: the file below is newer
        (probe / "qm_probe.info.yml").write_text("name: Probe\ntype: module\n")
        err = refused_untouched(lab, f"web4.lab.test: site {WEB4_SITE}'s code changed since its last verify",
                                "/modules/qm_probe/qm_probe.info.yml)", uri=WEB4_SITE, target=WEB4_DST)
        assert f"{MASTER}: site" not in err, err
    finally:
        shutil.rmtree(modules if made else probe)
    plan_ok(lab, WEB4_SITE, WEB4_DST)


def test_never_verified_platform_refuses(lab: Lab) -> None:
    target = lab.world.platform(DST)
    stamp_verified(lab.admin, lab.accounts.database, lab.world, 0, [target.nid])
    try:
        refused_untouched(lab, f"platform {DST} was never verified in Aegir")
    finally:
        aegir_verifies(lab, target.nid)
    plan_ok(lab)


def test_changes_outside_the_checked_code_do_not_refuse(lab: Lab) -> None:
    """Data (files, private), other sites' own code, another platform, a link out of the tree, other files:
    newer than every verify, none refuses; one package file in the target then does."""
    world = lab.world
    src, dst = world.platform(SRC).publish_path, world.platform(DST).publish_path
    outside = lab.root(MASTER) / "qm-probe-outside"
    outside.mkdir()
    made = [outside / "elsewhere.module",
            lab.site_dir(MASTER, URI, SRC) / "files" / "upload.module",
            lab.site_dir(MASTER, URI, SRC) / "private" / "files" / "upload.info",
            lab.site_dir(MASTER, "verdicts-d7.lab.test", SRC) / "modules" / "custom_glue" / "extra.module",
            lab.path(MASTER, f"{world.platform('drupal-7.101-c').publish_path}/sites/all/modules/new.module"),
            lab.path(MASTER, f"{dst}/sites/all/modules/views/README.txt"),
            lab.path(MASTER, f"{src}/sites/all/modules/views/views.info.bak")]
    link = lab.path(MASTER, f"{dst}/sites/all/modules/linked")
    time.sleep(max(0.0, max(verified_of(lab, n.nid) for n in (world.platform(SRC), world.platform(DST),
                                                               world.site(URI))) + 0.05 - time.time()))
    for path in made:
        path.write_text("<?php\n")
    link.symlink_to(f"{AEGIR_ROOT}/qm-probe-outside")
    try:
        plan_ok(lab)
        views = lab.path(MASTER, f"{dst}/sites/all/modules/views/views.module")
        os.utime(views)
        refused_untouched(lab, f"platform {DST} changed since its last verify")
    finally:
        link.unlink()
        for path in made:
            path.unlink()
        outside.rmdir()
        aegir_verifies(lab, world.platform(DST).nid)
    plan_ok(lab)


def test_an_untouched_migration_passes(lab: Lab) -> None:
    proc = cli(lab, "migrate", URI, DST, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"succeeded: {URI} is on {DST}" in proc.stdout
    assert hostmaster_platform(lab, URI) == DST
