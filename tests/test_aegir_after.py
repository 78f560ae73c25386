"""Aegir's own tasks after a quick migrate (issue 14, D1): nothing may be lost.

On a web cluster provision treats the hostmaster's copy of a site dir as authoritative: every later
verify (migrate, clone, enable...) pushes it to every member with ``rsync --delete`` and no
excludes. So the hostmaster's ``files`` must come through a quick migrate (and its rollback) exactly
as it was: a run that left M with verify's empty skeleton made the next Aegir verify empty
``files/`` on every front, or the shared storage behind a ``files`` symlink.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_support import (
    MASTER,
    Lab,
    assert_files_at,
    cli,
    fronts_of,
    make_lab,
    site_state,
    source_of,
    standin,
)

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_faults")]
DST = "drupal-7.98-b"
TWIN = "drupal-7.98-b-twin"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory, twins=[(DST, TWIN)])


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
