"""Twin platforms (``qm_lab.twins``): a site ping-pongs between a platform and its twin.

Crash-recovery tests need many migrations of one site; a normal target is newer and cannot be left
again. A twin has the same core and code on the same web server, so each is a selectable target for
the other. Proven on the world (the instances mirror the original's), on the SSH lab (cluster of three
fronts: the files move by rename on every front, every hop) and on the local single-server layout.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from lab_support import assert_files_at, fronts_of, hostmaster_platform, no_leftovers, site_state

from qm_lab.hostmaster_db import AdminParams
from qm_lab.lab import Lab, build_lab
from qm_lab.local import LocalLab, build_local
from qm_lab.scenario import build_lab_world
from qm_lab.sshd import lab_unavailable_reason
from qm_lab.twins import add_twin_platform
from qm_lab.world import PackageInstance, World

REPO = Path(__file__).resolve().parent.parent
B, TWIN = "drupal-7.98-b", "drupal-7.98-b-twin"  # the D7 target of both scenarios
LAB_SITE, LOCAL_SITE = "maint-d7.lab.test", "maint-d7.local.test"  # on drupal-7.97-a, eligible for B


def _run(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qm_tui", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env={**os.environ, **(env or {})})


def _targets(config: Path, uri: str, env: dict[str, str] | None = None) -> dict[str, dict[str, object]]:
    proc = _run(config, "targets", uri, "--json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {t["platform"]: t for t in json.loads(proc.stdout)}


def _assert_selectable(targets: dict[str, dict[str, object]], source: str, target: str) -> None:
    assert source not in targets and targets[target]["selectable"], targets[target]
    if B in targets and TWIN in targets:  # on neither: both compare alike (identical code and instances)
        assert targets[B]["counts"] == targets[TWIN]["counts"]


def _shape(w: World, rows: list[PackageInstance], root: str) -> list[tuple[object, ...]]:
    """Instances without what differs between twins (iid, rid, platform nid, publish path)."""
    return sorted((w.node(i.package_id).title, i.filename.removeprefix(root), i.schema_version, i.version, i.status)
                  for i in rows)


# --- the world ----------------------------------------------------------------------------------


def test_twin_mirrors_the_platform_as_a_verify_stores_it() -> None:
    w = build_lab_world("qmtx_")
    src = w.platform(B)
    nodes, tasks = len(list(w.nodes())), len(w.tasks)
    twin = add_twin_platform(w, B, TWIN)
    assert (twin.core_version, twin.web_server, twin.status, twin.exts) == (src.core_version, src.web_server, 1,
                                                                           src.exts)
    assert twin.nid not in {p.nid for p in w.platforms if p is not twin} and twin.context == "platform_drupal798btwin"
    assert twin.publish_path == posixpath.join(posixpath.dirname(src.publish_path), TWIN)
    assert len(list(w.nodes())) == nodes + 2 and len(w.tasks) == tasks + 1  # the platform and its verify task
    assert w.tasks[-1].rid == twin.nid and w.tasks[-1].task_type == "verify"
    # Base set (rid = platform) and one set per profile (rid = that profile's own iid), as for the original.
    assert _shape(w, w.instances_of(twin.nid), twin.publish_path) == _shape(w, w.instances_of(src.nid),
                                                                           src.publish_path)
    assert all(i.platform == twin.nid for i in w.instances_of(twin.nid))
    for prof in ("standard", "minimal"):
        a, b = w.profile_iid(B, prof), w.profile_iid(TWIN, prof)
        assert a != b
        assert _shape(w, w.instances_of(b), twin.publish_path) == _shape(w, w.instances_of(a), src.publish_path)
    assert not w.rid_collisions()
    assert w.fronts(twin.web_server) == ["web1.lab.test", "web2.lab.test", "web3.lab.test"]


def test_twin_refuses_what_aegir_could_not_hold() -> None:
    w = build_lab_world("qmtx_")
    with pytest.raises(KeyError):
        add_twin_platform(w, "no-such-platform", "x")
    for title in ("drupal-7.98-locked", "drupal-7.98-deleted", "drupal-7.101-queued"):
        with pytest.raises(ValueError, match="enabled, verified"):
            add_twin_platform(w, title, f"{title}-twin")
    with pytest.raises(ValueError, match="clashes"):
        add_twin_platform(w, B, "drupal-7.97-a")  # title taken
    with pytest.raises(ValueError, match="clashes"):
        add_twin_platform(w, B, "drupal-7.101-staging")  # an older revision's title (the context of c)
    add_twin_platform(w, B, TWIN)
    with pytest.raises(ValueError, match="clashes"):
        add_twin_platform(w, "drupal-7.97-a", TWIN)


# --- the SSH lab --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = lab_unavailable_reason()
    if why:
        pytest.skip(f"lab unavailable: {why}")
    lab = build_lab(tmp_path_factory.mktemp("lab-twins"), big_files=2, twins=[(B, TWIN)])
    try:
        yield lab
    finally:
        lab.close()


def _code(root: Path) -> set[str]:
    """Platform code files (relative): everything but the site dirs and sites.php (the aliases)."""
    rels = (p.relative_to(root).parts for p in root.rglob("*") if p.is_file())
    return {"/".join(r) for r in rels if r[0] != "sites" or r[1] in ("all", "default")}


def _lab_hop(lab: Lab, uri: str, source: str, target: str) -> None:
    _assert_selectable(_targets(lab.config_path, uri), source, target)
    fronts = fronts_of(lab, uri)  # the twins share the web server: same fronts every hop
    before = site_state(lab, uri, fronts)
    proc = _run(lab.config_path, "migrate", uri, target, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"succeeded: {uri} is on {target}" in proc.stdout
    assert_files_at(lab, uri, target, before, site_state(lab, uri, fronts))
    for host in [*fronts, lab.world.master_host]:
        assert not lab.site_dir(host, uri, source).exists(), f"{host}: old site dir left"
        assert (lab.site_dir(host, uri, target) / "settings.php").exists(), f"{host}: no new site dir"
    assert hostmaster_platform(lab, uri) == target
    no_leftovers(lab, uri)
    # Aegir's verify task recorded the move (module list on the new platform): the next hop needs no
    # manual verify first.
    fresh = _targets(lab.config_path, uri)
    assert any(t["selectable"] for t in fresh.values())
    assert not any(any("run a verify task" in r for r in t["reasons"]) for t in fresh.values())


@pytest.mark.lab
def test_lab_twin_code_on_the_master_and_every_front(lab: Lab) -> None:
    b, twin = lab.world.platform(B), lab.world.platform(TWIN)
    hosts = [lab.world.master_host, *lab.world.fronts(twin.web_server)]
    assert hosts == ["aegir.lab.test", "web1.lab.test", "web2.lab.test", "web3.lab.test"]
    for host in hosts:
        code = _code(lab.path(host, twin.publish_path))
        assert code and code == _code(lab.path(host, b.publish_path)), host
    assert not lab.path("web4.lab.test", twin.publish_path).exists()
    alias = lab.root("aegir.lab.test") / ".drush" / f"{twin.context}.alias.drushrc.php"
    assert f"'root' => '{twin.publish_path}'" in alias.read_text()


@pytest.mark.lab
def test_lab_site_ping_pongs_between_twins(lab: Lab) -> None:
    uri = LAB_SITE
    assert lab.world.platform_of(lab.world.site(uri)).title == "drupal-7.97-a"
    _lab_hop(lab, uri, "drupal-7.97-a", B)  # no site starts on B: bring one there first
    for source, target in ((B, TWIN), (TWIN, B)):
        _lab_hop(lab, uri, source, target)


# --- the local single-server layout -------------------------------------------------------------


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLab]:
    admin = AdminParams.discover()  # the system server: no private mariadbd to start
    try:
        admin.connect().close()
    except pymysql.MySQLError as exc:
        pytest.skip(f"MariaDB not reachable at {admin.host}:{admin.port}: {exc}")
    lab = build_local(tmp_path_factory.mktemp("local-twins"), admin=admin, twins=[(B, TWIN)])
    try:
        yield lab
    finally:
        lab.close()


def _local_files(lab: LocalLab, uri: str, sub: str) -> tuple[list[str], int, bytes]:
    """(every platform dir holding the entry, its inode, the content of every file under it)."""
    places = [str(p) for plat in sorted((lab.aegir_root / "platforms").iterdir())
              if os.path.lexists(p := plat / "sites" / uri / sub)]
    assert len(places) == 1, places
    top = Path(places[0])
    content = b"".join(os.fsencode(p.relative_to(top)) + b"\0" + p.read_bytes()
                       for p in sorted(top.rglob("*")) if p.is_file())
    return places, os.lstat(top).st_ino, content


def _local_hop(lab: LocalLab, uri: str, source: str, target: str) -> None:
    _assert_selectable(_targets(lab.config_path, uri, lab.env), source, target)
    before = {sub: _local_files(lab, uri, sub) for sub in ("files", "private/files")}
    proc = _run(lab.config_path, "migrate", uri, target, "--yes", env=lab.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"succeeded: {uri} is on {target}" in proc.stdout
    for sub, (_, inode, content) in before.items():
        places, inode_after, content_after = _local_files(lab, uri, sub)
        assert places == [str(lab.site_dir(uri, target) / sub)], sub
        assert (inode_after, content_after) == (inode, content), f"{sub}: not moved by rename"
    assert not lab.site_dir(uri, source).exists()
    with lab.admin.connect(lab.accounts.database) as conn, conn.cursor() as cur:
        cur.execute("SELECT s.platform FROM node n JOIN hosting_site s ON s.vid = n.vid WHERE n.nid = %s",
                    (lab.world.site(uri).nid,))
        assert cur.fetchone()[0] == lab.world.platform(target).nid
    parking = lab.aegir_root / "qm-tui-parking"
    assert not [d for d in (parking.iterdir() if parking.is_dir() else ()) if d.name.startswith(uri + ".")]
    assert not (lab.aegir_root / ".qm-tui" / "locks" / uri).exists()
    # Aegir's verify task recorded the move: no manual verify before the next hop.


def test_local_site_ping_pongs_between_twins(local: LocalLab) -> None:
    twin = local.world.platform(TWIN)
    assert twin.publish_path == f"{local.aegir_root}/platforms/{TWIN}"
    assert _code(Path(twin.publish_path)) == _code(Path(local.world.platform(B).publish_path))
    uri = LOCAL_SITE
    _local_hop(local, uri, "drupal-7.97-a", B)
    for source, target in ((B, TWIN), (TWIN, B)):
        _local_hop(local, uri, source, target)
