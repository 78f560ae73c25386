"""Quick migrate on a single-server Aegir (the hostmaster M is the only web front, everything local).

Real runs through the CLI (``python -m qm_tui migrate``) on ``qm_lab.local.build_local``: the
engine talks to M as ``localhost`` (no SSH), the drush stand-in acts on real databases and files.
Two layouts: a private MariaDB (datadir and socket in the tmp dir, server_master titled ``localhost``)
and the system server on 127.0.0.1:3306 (server_master titled with a FQDN, reached as ``localhost``).
What they prove: the files dir only ever moves by rename (same inode, same content, one place), M is
never pushed to itself and its live files are never set aside as a stale copy; a failed updatedb
puts the site back whole (files, code, hostmaster, database restored from the dump).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from qm_lab.hostmaster_db import AdminParams
from qm_lab.lab import FileState, LocalTree, files_state
from qm_lab.local import LocalLab, build_local
from qm_lab.mariadb_private import missing_binaries

REPO = Path(__file__).resolve().parent.parent
LAYOUTS = {"private": "localhost", "system": "aegir.local.test"}  # database -> server_master title


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLab]:
    admin: AdminParams | None = None
    if request.param == "private":
        if missing_binaries():
            pytest.skip(f"MariaDB server binaries missing: {', '.join(missing_binaries())}")
    else:
        admin = AdminParams.discover()
        try:
            admin.connect().close()
        except pymysql.MySQLError as exc:
            pytest.skip(f"MariaDB not reachable at {admin.host}:{admin.port}: {exc}")
    lab = build_local(tmp_path_factory.mktemp(f"local-{request.param}"), admin=admin, big_site_mb=8,
                      master=LAYOUTS[request.param])
    try:
        yield lab
    finally:
        lab.close()  # stops the private mariadbd / drops the databases, also when a test failed
    if lab.db is not None:
        assert lab.db.proc.poll() is not None, "mariadbd still running after close()"


def cli(lab: LocalLab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qm_tui", *args, "--config", str(lab.config_path)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env={**os.environ, **lab.env})


def where(lab: LocalLab, uri: str, sub: str = "files") -> FileState:
    """Every place holding the site's ``sub`` entry (platforms and parking), its inode and content digest."""
    return files_state(LocalTree(lab.aegir_root), "localhost", uri, sub)


def hostmaster_platform(lab: LocalLab, uri: str) -> int:
    with lab.admin.connect(lab.accounts.database) as conn, conn.cursor() as cur:
        cur.execute("SELECT s.platform FROM node n JOIN hosting_site s ON s.vid = n.vid WHERE n.nid = %s",
                    (lab.world.site(uri).nid,))
        return int(cur.fetchone()[0])


def site_db(lab: LocalLab, uri: str) -> tuple[dict[str, int], bytes]:
    """(schema_version by module, maintenance_mode) from the site's own database."""
    with lab.admin.connect(lab.world.site(uri).db_name) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, schema_version FROM system WHERE type = 'module'")
        schema = {str(n): int(v) for n, v in cur.fetchall()}
        cur.execute("SELECT value FROM variable WHERE name = 'maintenance_mode'")
        return schema, bytes(cur.fetchone()[0])


def run_log(lab: LocalLab, run_id: str) -> str:
    return "".join(p.read_text(errors="replace") for p in (lab.state_dir / "runs" / run_id).glob("*.log"))


def assert_settled(lab: LocalLab, uri: str) -> None:
    """Nothing of the run is left behind: no parking dir, no lock."""
    parking = lab.aegir_root / "qm-tui-parking"
    assert not [d for d in (parking.iterdir() if parking.is_dir() else ()) if d.name.startswith(uri + ".")]
    assert not (lab.aegir_root / ".qm-tui" / "locks" / uri).exists()


def test_sandbox_is_local_and_self_contained(lab: LocalLab) -> None:
    root = str(lab.aegir_root)
    assert all(p.publish_path.startswith(root + "/") for p in lab.world.platforms)
    text = (lab.aegir_root / ".drush" / "server_master.alias.drushrc.php").read_text()
    assert f"'aegir_root' => '{root}'" in text and "/var/aegir" not in text
    assert "/var/aegir" not in (lab.site_dir("shop-d7.local.test", "drupal-7.97-a") / "drushrc.php").read_text()
    if lab.db is not None:  # no TCP port: only the socket inside the sandbox
        with lab.admin.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT @@skip_networking, @@socket")
            assert cur.fetchone() == (1, str(lab.db.socket))
        assert lab.db.socket.is_relative_to(lab.base)


def test_quick_migrate_when_master_is_the_only_front(lab: LocalLab) -> None:
    case = lab.world.cases["eligible"]
    uri, target = case.site, case.target
    assert target is not None
    source = lab.world.platform_of(lab.world.site(uri)).title
    before = where(lab, uri), where(lab, uri, "private/files")
    assert len(before[0].places) == 1 and len(before[1].places) == 1

    proc = cli(lab, "migrate", uri, target, "--yes")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    first = proc.stdout.splitlines()[0]
    assert first.startswith("run "), out
    run_id = first.split()[1]

    new_dir = lab.site_dir(uri, target)
    for label, old in zip(("files", "private/files"), before, strict=True):
        now = where(lab, uri, label)
        assert now.places == (str(new_dir / label),), f"{label}: {now.places}"
        assert (now.inode, now.digest) == (old.inode, old.digest), f"{label} was not moved by rename"
    assert not lab.site_dir(uri, source).exists()
    assert hostmaster_platform(lab, uri) == lab.world.platform(target).nid
    assert_settled(lab, uri)
    schema, maintenance = site_db(lab, uri)
    assert maintenance == b"i:0;"
    assert schema["views"] == 7302  # updatedb ran on the target's code
    # M is the front: no step pushes to it, and its files are parked and restored once (one host).
    assert "push_site" not in out and out.count("park_files: ok") == 1 and out.count("restore_files: ok") == 1
    assert "rsync" not in run_log(lab, run_id)


def test_failed_updatedb_rolls_back_whole(lab: LocalLab) -> None:
    case = lab.world.cases["rollback"]
    uri, target = case.site, case.target
    assert target is not None
    source = lab.world.platform_of(lab.world.site(uri)).title
    before = where(lab, uri), where(lab, uri, "private/files")
    schema_before, _ = site_db(lab, uri)
    fail = lab.aegir_root / "drush-standin.fail"
    fail.write_text("updatedb:after-partial\n")  # one update applied, then the failure
    try:
        proc = cli(lab, "migrate", uri, target, "--yes")
    finally:
        fail.unlink()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert proc.stdout.splitlines()[0].startswith("run "), out
    run_id = proc.stdout.splitlines()[0].split()[1]
    assert "rolled_back" in out
    assert "Performed update:" in run_log(lab, run_id)  # the database really was changed before the restore

    src_dir = lab.site_dir(uri, source)
    for label, old in zip(("files", "private/files"), before, strict=True):
        now = where(lab, uri, label)
        assert now.places == (str(src_dir / label),), f"{label}: {now.places}"
        assert (now.inode, now.digest) == (old.inode, old.digest), f"{label} was not moved back by rename"
    assert (src_dir / "settings.php").is_file() and (src_dir / "drushrc.php").is_file()
    assert not lab.site_dir(uri, target).exists()
    assert hostmaster_platform(lab, uri) == lab.world.platform(source).nid
    schema_after, maintenance = site_db(lab, uri)
    assert schema_after == schema_before
    assert maintenance == b"i:0;"
    assert_settled(lab, uri)
