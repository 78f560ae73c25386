"""Quick migrate on the lab, happy paths: the files never move except by rename, on every front."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from lab_support import (
    Lab,
    assert_files_at,
    cli,
    fronts_of,
    hostmaster_platform,
    make_lab,
    no_leftovers,
    run_id_of,
    site_db,
    site_state,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


def migrate_ok(lab: Lab, uri: str, source: str, target: str) -> str:
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    proc = cli(lab, "migrate", uri, target, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = run_id_of(proc)
    assert f"succeeded: {uri} is on {target}" in proc.stdout
    assert_files_at(lab, uri, target, before, site_state(lab, uri, fronts))
    for host in [*fronts, "aegir.lab.test"]:
        assert not lab.site_dir(host, uri, source).exists(), f"{host}: old site dir left"
        assert (lab.site_dir(host, uri, target) / "settings.php").exists(), f"{host}: no new site dir"
    assert hostmaster_platform(lab, uri) == target
    no_leftovers(lab, uri)
    return run_id


def test_cluster_of_three_fronts(lab: Lab) -> None:
    uri = "cluster-d7.lab.test"
    schema_before = dict(site_db(lab, uri, "SELECT name, schema_version FROM system"))
    run_id = migrate_ok(lab, uri, "drupal-7.97-a", "drupal-7.98-b")
    # updatedb ran on the target code: at least one module's schema went up, none went down.
    after = dict(site_db(lab, uri, "SELECT name, schema_version FROM system"))
    assert any(after[m] > v for m, v in schema_before.items())
    assert all(after[m] >= v for m, v in schema_before.items())
    assert site_db(lab, uri, "SELECT value FROM variable WHERE name = 'maintenance_mode'") == [(b"i:0;",)]
    shown = cli(lab, "run", "show", run_id, "--json")
    assert '"state": "succeeded"' in shown.stdout
    # updatedb ran with the settings.php verify wrote for the target (provision's deploy order): the
    # one it had before includes the source's local.settings.php by absolute path, gone with the move.
    log = (lab.root("aegir.lab.test") / "drush-standin.log").read_text().splitlines()
    updb = [json.loads(line) for line in log if f"@{uri}" in line and '"updatedb"' in line][-1]
    site_path = lab.world.platform("drupal-7.98-b").publish_path + f"/sites/{uri}"
    assert updb["bootstrap"]["settings"] == [f"{site_path}/settings.php", f"{site_path}/local.settings.php"]


def test_standalone_web_server_fetches_code_from_the_front(lab: Lab) -> None:
    uri, source = "web4-d10.lab.test", "drupal-10.1.8"
    # The front is authoritative for a single remote web server: a module changed there must arrive.
    # So is everything in private/ besides private/files (D8+ config sync, temp): provision fetches it.
    owner = lab.root("web4.lab.test").stat()
    written = {"modules/from_front.txt": "edited on the front",
               "private/config/sync/system.site.yml": "uuid: from-the-front\n",
               "private/temp/upload.partial": "half an upload"}
    site = lab.site_dir("web4.lab.test", uri, source)
    for rel, text in written.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for p in (path, *path.relative_to(site).parents):
            os.chown(site / p, owner.st_uid, owner.st_gid)
    stale = lab.site_dir("aegir.lab.test", uri, source) / "private" / "temp" / "stale-on-master.txt"
    stale.write_text("M's stale copy")
    migrate_ok(lab, uri, source, "drupal-10.2.3")
    for rel, text in written.items():
        assert (lab.site_dir("web4.lab.test", uri, "drupal-10.2.3") / rel).read_text() == text, rel
    assert not (lab.site_dir("web4.lab.test", uri, "drupal-10.2.3") / "private/temp/stale-on-master.txt").exists()


def test_files_symlink_to_shared_storage_stays_a_link(lab: Lab) -> None:
    uri = "gluster-d7.lab.test"
    shared = lab.hosts.shared["gluster"] / uri / "files"
    content = sorted(p.name for p in shared.rglob("*"))
    migrate_ok(lab, uri, "drupal-7.97-a", "drupal-7.98-b")
    for front in fronts_of(lab, uri):
        link = lab.site_dir(front, uri, "drupal-7.98-b") / "files"
        assert link.is_symlink() and str(link.readlink()) == f"/srv/gluster/{uri}/files"
    assert sorted(p.name for p in shared.rglob("*")) == content


def test_drupal_6_to_7_uses_each_cores_maintenance_variable(lab: Lab) -> None:
    uri = "legacy-d6.lab.test"
    migrate_ok(lab, uri, "drupal-6.38", "drupal-7.98-b")
    # Offline with D6's variable before updatedb, online with D7's after it.
    calls = (lab.root("aegir.lab.test") / "drush-standin.log").read_text()
    assert f'"@{uri}", "vset", "--exact", "--yes", "site_offline", "1"' in calls
    assert f'"@{uri}", "vset", "--exact", "--yes", "maintenance_mode", "0"' in calls
    rows = dict(site_db(lab, uri, "SELECT name, value FROM variable WHERE name = 'maintenance_mode'"))
    assert rows.get("maintenance_mode") == b"i:0;"


def test_plan_json_changes_nothing_and_names_every_command(lab: Lab) -> None:
    from lab_support import tree_fingerprint

    before = tree_fingerprint(lab)
    proc = cli(lab, "plan", "maint-d7.lab.test", "drupal-7.98-b", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["ok"] is True and plan["problems"] == []
    assert plan["fronts"] == ["web1.lab.test", "web2.lab.test", "web3.lab.test"]
    names = [s["name"] for s in plan["steps"]]
    assert names[:2] == ["maintenance_on", "dump_db"]
    assert names[-3:] == ["hosting_import", "aegir_verify_task", "maintenance_off"]
    assert names.index("park_files") < names.index("move_site_dir") < names.index("verify") \
        < names.index("push_site") < names.index("restore_files") < names.index("remove_old_site_dir")
    assert all(s["commands"] for s in plan["steps"])
    assert tree_fingerprint(lab) == before


def test_runs_history_json_shape(lab: Lab) -> None:
    proc = cli(lab, "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    assert runs, "the happy-path runs above are in the journal"
    keys = {"id", "site", "source_platform", "target_platform", "state", "started_at", "ended_at", "runner_pid",
            "steps", "error"}
    for r in runs:
        assert keys <= set(r) and r["state"] in ("running", "succeeded", "rolled_back", "needs_attention",
                                                  "interrupted", "aborted")
        for s in r["steps"]:
            assert {"name", "host", "state", "started_at", "ended_at"} <= set(s)
    assert cli(lab, "run", "show", "nope").returncode == 2
