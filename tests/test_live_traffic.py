"""Live traffic during a quick migrate (issue 14, S1).

Verify reloads every front's vhost onto the new platform while the site's ``files`` there is still
verify's skeleton (mode 2770, writable by the web group): the maintenance page with CSS aggregation,
health checks and image styles write into it before the parked files are moved back. The swap must
neither merge nor refuse: the real files go in by rename, whatever traffic wrote is kept aside, and
the run ends migrated (or, rolling back, whole on its source).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from lab_support import (
    Lab,
    assert_files_at,
    cli,
    fronts_of,
    no_leftovers,
    site_state,
    source_of,
    standin,
)

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_faults")]
URI = "cluster-d7.lab.test"
DST = "drupal-7.98-b"
STOP = "/var/aegir/.traffic-stop"
CSS = "css/css_traffic.css"


class Traffic:
    """A writer on every front that aggregates CSS into the site's ``files`` on either platform while
    that dir is a skeleton (the real one has ``documents/``). It writes relative to the directory it
    entered and checked, so a swap in between cannot send a write into the real files."""

    def __init__(self, lab: Lab, uri: str, platforms: tuple[str, ...]) -> None:
        self.lab, self.fronts = lab, fronts_of(lab, uri)
        dirs = " ".join(f"{lab.world.platform(p).publish_path}/sites/{uri}/files" for p in platforms)
        self.script = (f"rm -f {STOP}; while [ ! -e {STOP} ]; do for d in {dirs}; do "
                       f"( cd \"$d\" 2>/dev/null && [ ! -e documents ] && [ ! -e {CSS} ] && mkdir -p css && "
                       f"echo aggregated > {CSS} ); done; sleep 0.02; done")
        self.threads = [threading.Thread(target=lab.hosts[h].exec_in, args=(["bash", "-c", self.script],),
                                         kwargs={"timeout": 600}) for h in self.fronts]

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.fronts:
            self.lab.path(h, STOP).touch()
        for t in self.threads:
            t.join(timeout=60)

    def kept(self, host: str) -> list[Path]:
        """What the swap set aside on ``host``: every skeleton traffic wrote into."""
        aside = self.lab.root(host) / "qm-tui-parking" / "written-during-swap"
        return sorted(aside.glob(f"{URI}.*/files.*/{CSS}")) if aside.is_dir() else []


def test_traffic_during_a_rollback_is_kept_aside_and_the_site_is_whole(lab: Lab) -> None:
    """The rollback's verify on the source makes a skeleton there too, and the files go back over it.
    Runs first: the site is still on its source."""
    source, fronts = source_of(lab, URI), fronts_of(lab, URI)
    before = site_state(lab, URI, fronts)
    standin(lab, "fail", f"hosting-import @{URI}\n")  # after the files are in: the whole run is undone
    with Traffic(lab, URI, (source, DST)) as traffic:
        proc = cli(lab, "migrate", URI, DST, "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rolled_back" in proc.stdout
    assert_files_at(lab, URI, source, before, site_state(lab, URI, fronts))
    # one skeleton of the target (the forward swap), one of the source (the rollback's swap back)
    assert all(len(traffic.kept(h)) >= 2 for h in fronts), {h: traffic.kept(h) for h in fronts}
    no_leftovers(lab, URI)


def test_traffic_into_the_skeleton_is_kept_aside_and_the_run_succeeds(lab: Lab) -> None:
    source, fronts = source_of(lab, URI), fronts_of(lab, URI)
    before = site_state(lab, URI, fronts)
    with Traffic(lab, URI, (source, DST)) as traffic:
        proc = cli(lab, "migrate", URI, DST, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_files_at(lab, URI, DST, before, site_state(lab, URI, fronts))
    for host in fronts:
        kept = traffic.kept(host)
        assert kept and kept[0].read_text() == "aggregated\n", f"{host}: the written skeleton was not kept"
    assert "live traffic wrote into verify's empty skeleton, kept aside" in proc.stdout
    no_leftovers(lab, URI)
