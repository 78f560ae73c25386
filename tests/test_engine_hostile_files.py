"""Hostile entries in a cluster site's files (names with newlines, `-rf`, `--delete`, a FIFO, symlinks to
/etc, a mode-000 directory), on every front and in the hostmaster's copy: a migration and a
rollback both keep every entry exactly as it was, and leave no parking dir anywhere (a leftover on M
used to block the site's next migration)."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_support import TWIN
from lab_support import (
    Lab,
    cli,
    hostmaster_platform,
    need_lab,
    no_leftovers,
    reset_faults,
    run_id_of,
    source_of,
    standin,
)

from qm_lab.hostmaster_db import record_verify
from qm_lab.lab import build_lab

pytestmark = pytest.mark.lab
M = "aegir.lab.test"
FRONTS = ("web1.lab.test", "web2.lab.test", "web3.lab.test")
Snapshot = dict[bytes, tuple[object, ...]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need_lab()
    lab = build_lab(tmp_path_factory.mktemp("lab"), twins=[TWIN], big_files=2)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(autouse=True)
def _clean(lab: Lab) -> Iterator[None]:
    yield from reset_faults(lab)


def plant(lab: Lab, host: str, files: Path) -> None:
    """Every hostile entry, owned by aegir as the site's own files are (the mode-000 dir is not empty)."""
    st = lab.root(host).stat()
    made: list[Path] = []

    def mk(rel: str, kind: str, data: bytes | str = b"") -> Path:
        p = files / rel
        if kind == "file":
            p.write_bytes(data if isinstance(data, bytes) else data.encode())
        elif kind == "dir":
            p.mkdir()
        elif kind == "fifo":
            os.mkfifo(p)
        else:
            p.symlink_to(data)
        made.append(p)
        return p

    mk("new\nline.txt", "file", f"newline on {host}\n")
    mk("dir\nwith\nnewlines", "dir")
    mk("dir\nwith\nnewlines/\n", "file", b"only a newline\n")
    mk("-rf", "file", b"not an option\n")
    mk("--delete", "dir")
    mk("--delete/-rf", "file", b"nested\n")
    mk("--delete/--delete", "file", b"nested too\n")
    mk("a fifo", "fifo")
    mk("etc", "link", "/etc")
    mk("passwd", "link", "/etc/passwd")
    mk("--delete/etc-rel", "link", "../../../../../../../../etc")
    locked = mk("locked", "dir")
    mk("locked/secret", "file", b"behind mode 000\n")
    mk("locked/deeper", "dir")
    mk("locked/deeper/-rf", "file", b"deeper\n")
    mk("locked/deeper/sealed", "dir")
    mk("locked/deeper/sealed/x", "file", b"x\n")
    for p in made:
        os.lchown(p, st.st_uid, st.st_gid)
    (locked / "deeper" / "sealed").chmod(0)
    locked.chmod(0)


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root`` (read as root, so mode 000 is no obstacle): type, mode, owner, inode,
    size, mtime and the bytes of a file or a link's target. Nothing is followed."""
    out: Snapshot = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra: object = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            else:
                extra = None
            out[os.path.relpath(p, base)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                             st.st_gid, st.st_ino, st.st_size, st.st_mtime_ns, extra)
    st = os.lstat(root)
    out[b"."] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_ino)
    return out


def files_of(lab: Lab, host: str, uri: str, platform: str) -> Path:
    return lab.site_dir(host, uri, platform) / "files"


def assert_same(lab: Lab, host: str, path: Path, before: Snapshot) -> None:
    after = snapshot(path)
    assert after == before, f"{host}: {path} changed: " + repr(
        sorted((k, before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)))
    assert stat.S_IMODE(os.lstat(path / "locked").st_mode) == 0, f"{host}: the mode-000 dir is no longer 000"
    assert os.readlink(path / "etc") == "/etc"


def nothing_parked(lab: Lab) -> None:
    """No parking dir of any run, on M or any front (not just this site's)."""
    for host in lab.hosts.hosts:
        park = lab.root(host) / "qm-tui-parking"
        assert not park.is_dir() or not list(park.iterdir()), f"{host}: left in {park}: {list(park.iterdir())}"


def test_hostile_files_migrate_and_the_next_migration_is_not_blocked(lab: Lab) -> None:
    uri, src = "cluster-d7.lab.test", source_of(lab, "cluster-d7.lab.test")
    for host in (*FRONTS, M):
        plant(lab, host, files_of(lab, host, uri, src))
    # A link in M's copy to a mode-000 dir outside it: nothing may follow or open it.
    outside = lab.root(M) / "outside-000"
    outside.mkdir()
    (outside / "keep").write_text("outside the copy\n")
    owner = lab.root(M).stat()
    for p in (outside, outside / "keep"):
        os.chown(p, owner.st_uid, owner.st_gid)  # aegir's: a chmod that followed the link would succeed
    outside.chmod(0)
    link = files_of(lab, M, uri, src) / "outside"
    link.symlink_to("/var/aegir/outside-000")
    os.lchown(link, owner.st_uid, owner.st_gid)
    before = {h: snapshot(files_of(lab, h, uri, src)) for h in (*FRONTS, M)}
    here = src
    for there in TWIN:  # the second run is the one a leftover parking dir on M used to refuse
        proc = cli(lab, "migrate", uri, there, "--yes")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        run_id_of(proc)
        # M's copy moves with the site like a front's (provision's authoritative copy on a cluster).
        for h in (*FRONTS, M):
            assert_same(lab, h, files_of(lab, h, uri, there), before[h])
            assert not lab.site_dir(h, uri, here).exists(), f"{h}: old site dir left"
        assert hostmaster_platform(lab, uri) == there
        no_leftovers(lab, uri)
        nothing_parked(lab)
        record_verify(lab.admin, lab.accounts.database, lab.world.site(uri).nid)  # Aegir's verify task
        here = there
    assert Path("/etc/passwd").is_file()
    assert stat.S_IMODE(outside.stat().st_mode) == 0 and (outside / "keep").read_text() == "outside the copy\n"


@pytest.mark.parametrize("fault", ["provision-verify once", "hosting-import once"])
def test_hostile_files_fail_mid_run_and_roll_back_whole(lab: Lab, fault: str) -> None:
    uri = "maint-d7.lab.test"
    src = source_of(lab, uri)
    for host in (*FRONTS, M):
        if not (files_of(lab, host, uri, src) / "locked").exists():
            plant(lab, host, files_of(lab, host, uri, src))
    before = {h: snapshot(files_of(lab, h, uri, src)) for h in (*FRONTS, M)}
    standin(lab, "fail", fault + "\n")
    proc = cli(lab, "migrate", uri, TWIN[0], "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rolled_back: migration failed and was rolled back" in proc.stdout, proc.stdout
    # Every front's live files and M's copy are back, entry for entry (same inodes: renamed only).
    for h in (*FRONTS, M):
        assert_same(lab, h, files_of(lab, h, uri, src), before[h])
        assert not lab.site_dir(h, uri, TWIN[0]).exists(), f"{h}: target site dir left"
    assert hostmaster_platform(lab, uri) == src
    no_leftovers(lab, uri)
    nothing_parked(lab)
