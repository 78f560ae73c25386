"""Aegir's own tasks after a quick migrate (issue 14, D1): nothing may be lost.

On a web cluster provision treats the hostmaster's copy of a site dir as authoritative: every later
verify (migrate, clone, enable...) pushes it to every member with ``rsync --delete`` and no
excludes. So the hostmaster's ``files`` must come through a quick migrate (and its rollback) exactly
as it was: a run that left M with verify's empty skeleton made the next Aegir verify empty
``files/`` on every front, or the shared storage behind a ``files`` symlink.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hostmaster_fixture import admin_query
from lab_support import (
    MASTER,
    Lab,
    assert_files_at,
    cli,
    fronts_of,
    hostmaster_platform,
    make_lab,
    run_id_of,
    site_state,
    source_of,
    standin,
)

from qm_lab.hostmaster_db import record_verify

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_faults")]
DST = "drupal-7.98-b"
TWIN = "drupal-7.98-b-twin"
PACK, PACK_TWIN = "drupal-7.98-pack", "drupal-7.98-pack-twin"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory, twins=[(DST, TWIN), (PACK, PACK_TWIN)])


def aegir_verify(lab: Lab, uri: str) -> tuple[int, str]:
    """What Aegir's verify task runs on the hostmaster (the stand-in pushes as provision does)."""
    res = lab.hosts[MASTER].exec_in(["drush", f"@{uri}", "provision-verify"], timeout=300)
    return res.returncode, res.stdout + res.stderr


def test_an_aegir_verify_after_a_rollback_loses_nothing(lab: Lab) -> None:
    uri = "cluster-d7.lab.test"  # runs first: the site is still on its source
    source = source_of(lab, uri)
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    assert aegir_verify(lab, uri)[0] == 0
    standin(lab, "fail", f"cache-clear @{uri} once\n")
    proc = cli(lab, "migrate", uri, DST, "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_files_at(lab, uri, source, before, site_state(lab, uri, fronts))
    rc, out = aegir_verify(lab, uri)
    assert rc == 0, out
    assert_files_at(lab, uri, source, before, site_state(lab, uri, fronts))


@pytest.mark.parametrize("uri", ["cluster-d7.lab.test", "gluster-d7.lab.test"])
def test_an_aegir_verify_after_a_quick_migrate_loses_nothing(lab: Lab, uri: str) -> None:
    """The verify does after the run what it did before: cluster-d7's pushes M's (equal) copy;
    gluster-d7's (files -> shared storage on every host, M included) sends the storage onto itself
    through the symlinks, which rsync >= 3.4 refuses (so that verify fails, before as after, with
    nothing changed). With M's copy deleted the first emptied every front, the second the storage
    (with an older rsync)."""
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    rc_before, out_before = aegir_verify(lab, uri)
    assert_files_at(lab, uri, source_of(lab, uri), before, site_state(lab, uri, fronts))
    proc = cli(lab, "migrate", uri, DST, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_files_at(lab, uri, DST, before, site_state(lab, uri, fronts))  # M's copy moved too, same inode
    rc_after, out_after = aegir_verify(lab, uri)
    assert rc_after == rc_before, out_after
    assert_files_at(lab, uri, DST, before, site_state(lab, uri, fronts))
    if uri.startswith("cluster"):
        assert rc_after == 0, out_after
    else:
        assert (lab.path("web1.lab.test", f"/srv/gluster/{uri}/files") / "documents").is_dir()


def sites_php(lab: Lab, host: str, platform: str) -> str:
    path = lab.path(host, f"{lab.world.platform(platform).publish_path}/sites/sites.php")
    return path.read_text() if path.is_file() else ""


def test_the_old_platforms_sites_php_forgets_the_site_and_a_rollback_restores_it(lab: Lab) -> None:
    """provision's migrate deletes the site's alias records on the platform it leaves; its verify writes
    them on the platform it lands on (and back on the source in a rollback), on every web server."""
    uri, src, dst = "aliased-d7.lab.test", DST, TWIN
    records = ["$sites['www.aliased-d7.lab.test'] = 'aliased-d7.lab.test';",
               "$sites['aliased.example.com'] = 'aliased-d7.lab.test';"]
    hosts = [MASTER, *fronts_of(lab, uri)]
    assert all(r in sites_php(lab, h, src) for h in hosts for r in records)
    standin(lab, "fail", f"hosting-import @{uri}\n")  # fails after the aliases were removed: rolled back
    proc = cli(lab, "migrate", uri, dst, "--yes")
    assert proc.returncode == 1 and "remove_old_aliases: ok" in proc.stdout, proc.stdout + proc.stderr
    assert all(r in sites_php(lab, h, src) for h in hosts for r in records), "the rollback lost the aliases"
    standin(lab, "fail", "")
    proc = cli(lab, "migrate", uri, dst, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for h in hosts:
        assert uri not in sites_php(lab, h, src), f"{h}: the old platform still routes the aliases"
        assert all(r in sites_php(lab, h, dst) for r in records), f"{h}: the new platform lacks the aliases"


def test_an_alias_added_in_the_front_end_survives_the_migration(lab: Lab) -> None:
    """hosting-import re-imports a site's aliases from its alias file: an alias added in the front end
    but never verified would be dropped, unless provision-save is given the front end's aliases first
    (as Aegir's own tasks do). Runs after the sites.php test: the site is on the twin."""
    uri, new = "aliased-d7.lab.test", "new.aliased.example.com"
    nid = lab.world.site(uri).nid
    record_verify(lab.admin, lab.accounts.database, nid)  # Aegir's verify task after the previous run
    admin_query("INSERT INTO hosting_site_alias (vid, nid, alias, automatic, redirection) "
                "SELECT vid, nid, %s, 0, '' FROM node WHERE nid = %s", (new, nid), lab.accounts.database, lab.admin)
    proc = cli(lab, "migrate", uri, DST, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = admin_query("SELECT a.alias FROM hosting_site_alias a JOIN node n ON n.vid = a.vid "
                       "WHERE n.nid = %s ORDER BY a.alias", (nid,), lab.accounts.database, lab.admin)
    assert [r[0] for r in rows] == ["aliased.example.com", new, "www.aliased-d7.lab.test"]
    for h in (MASTER, *fronts_of(lab, uri)):
        assert f"$sites['{new}'] = '{uri}';" in sites_php(lab, h, DST), h


def last_task(lab: Lab, nid: int) -> tuple[int, str, int, int]:
    """(task nid, type, status, log rows) of the newest task on node ``nid``."""
    rows = admin_query("SELECT t.nid, t.task_type, t.task_status, (SELECT COUNT(*) FROM hosting_task_log l "
                       "WHERE l.vid = t.vid) FROM hosting_task t JOIN node n ON n.vid = t.vid WHERE t.rid = %s "
                       "ORDER BY t.nid DESC LIMIT 1", (nid,), lab.accounts.database, lab.admin)
    return rows[0] if rows else (0, "", 0, 0)


def test_the_move_is_recorded_as_aegirs_verify_task(lab: Lab) -> None:
    """H1: the front end gets a verify task with its log, the site's verified time, its module list on
    the new platform; so the next migration needs no manual verify first."""
    uri = "newer-d7.lab.test"  # on drupal-7.98-b: to the twin
    nid = lab.world.site(uri).nid
    before = last_task(lab, nid)[0]
    proc = cli(lab, "migrate", uri, TWIN, "--yes")
    assert proc.returncode == 0 and "aegir_verify_task: ok" in proc.stdout, proc.stdout + proc.stderr
    task, kind, status, logged = last_task(lab, nid)
    assert task > before and kind == "verify" and status == 1 and logged > 5
    platforms = admin_query("SELECT DISTINCT platform FROM hosting_package_instance WHERE rid = %s AND platform <> -1",
                            (nid,), lab.accounts.database, lab.admin)
    assert list(platforms) == [(lab.world.platform(TWIN).nid,)]


def test_no_aegir_verify_over_fronts_whose_files_differ_from_the_hostmasters(lab: Lab) -> None:
    """An upload only on one front (no shared storage): an Aegir verify would delete it with M's copy;
    the run succeeds, says why it did not record the move with a verify, and the upload is there."""
    uri = "cluster-d7.lab.test"
    nid = lab.world.site(uri).nid
    record_verify(lab.admin, lab.accounts.database, nid)
    here = hostmaster_platform(lab, uri)
    there = TWIN if here != TWIN else DST
    upload = lab.site_dir("web2.lab.test", uri, here) / "files" / "only-on-web2.jpg"
    upload.write_bytes(b"uploaded to web2 alone")
    owner = lab.root("web2.lab.test").stat()
    os.chown(upload, owner.st_uid, owner.st_gid)
    before = last_task(lab, nid)[0]
    proc = cli(lab, "migrate", uri, there, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Aegir's verify task not run: the files on web2.lab.test differ" in proc.stdout
    assert last_task(lab, nid)[0] == before
    moved = lab.site_dir("web2.lab.test", uri, there) / "files" / "only-on-web2.jpg"
    assert moved.read_bytes() == b"uploaded to web2 alone"
    # A rollback records the source with Aegir's verify task too: not over the differing front either.
    record_verify(lab.admin, lab.accounts.database, nid)  # as if the operator had verified it
    back = DST if there == TWIN else TWIN
    crashed = cli(lab, "migrate", uri, back, "--yes", env={"QM_TUI_CRASH_AT": "aegir_verify_task:before"})
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    rolled = cli(lab, "rollback", run_id_of(crashed))
    assert rolled.returncode == 1 and "rolled_back" in rolled.stdout, rolled.stdout + rolled.stderr
    assert last_task(lab, nid)[0] == before
    assert moved.read_bytes() == b"uploaded to web2 alone"


def test_a_packs_master_is_fetched_like_a_single_server(lab: Lab) -> None:
    """D2 for packs: provision fetches a pack site's dir from its master (web1) before moving it, so a
    module and private/ content changed there reach the new site dir on every pack member."""
    uri = "pack-d7.lab.test"
    site = lab.site_dir("web1.lab.test", uri, PACK)
    owner = lab.root("web1.lab.test").stat()
    written = {"modules/from_master.txt": "edited on the pack master",
               "private/config/sync/system.site.yml": "uuid: from-the-pack-master\n"}
    for rel, text in written.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for p in (path, *path.relative_to(site).parents):
            os.chown(site / p, owner.st_uid, owner.st_gid)
    record_verify(lab.admin, lab.accounts.database, lab.world.site(uri).nid)  # the module's ctime is newer
    proc = cli(lab, "migrate", uri, PACK_TWIN, "--yes")
    assert proc.returncode == 0 and "fetch_code: ok" in proc.stdout, proc.stdout + proc.stderr
    for h in fronts_of(lab, uri):
        for rel, text in written.items():
            assert (lab.site_dir(h, uri, PACK_TWIN) / rel).read_text() == text, (h, rel)
