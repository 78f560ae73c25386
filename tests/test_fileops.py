"""The remote move snippets, run by real bash on real directories: rename only, never merge or copy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from qm_tui.engine import fileops


def sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    s = tmp_path / "platforms" / "a" / "sites" / "ex.com"
    (s / "files" / "sub dir").mkdir(parents=True)
    (s / "files" / "sub dir" / "a.txt").write_text("hello")
    (s / "files" / b"caf\xe9.txt".decode("utf-8", "surrogateescape")).write_bytes(b"x")
    (s / "private" / "files").mkdir(parents=True)
    (s / "private" / "files" / "secret.pdf").write_text("p")
    (s / "settings.php").write_text("<?php")
    return s, tmp_path / "park" / "ex.com.run1"


def test_park_renames_and_reports_inodes(site: tuple[Path, Path]) -> None:
    s, park = site
    ino = os.lstat(s / "files").st_ino
    res = sh(fileops.park(str(s), str(park)))
    assert res.returncode == 0, res.stderr
    assert not (s / "files").exists() and not (s / "private" / "files").exists()
    assert os.lstat(park / "files").st_ino == ino
    assert (park / "private_files" / "secret.pdf").read_text() == "p"
    assert f"@@INODE files {ino}" in res.stdout
    again = sh(fileops.park(str(s), str(park)))  # re-running after a crash is harmless
    assert again.returncode == 0 and "already moved" in again.stdout
    assert os.lstat(park / "files").st_ino == ino


def test_park_moves_a_symlink_as_a_link(site: tuple[Path, Path], tmp_path: Path) -> None:
    s, park = site
    shared = tmp_path / "gluster" / "files"
    (s / "files").rename(shared.parent.mkdir(parents=True) or shared)
    (s / "files").symlink_to(shared)
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    assert (park / "files").is_symlink() and os.readlink(park / "files") == str(shared)
    assert (shared / "sub dir" / "a.txt").read_text() == "hello"


def test_park_never_merges(site: tuple[Path, Path]) -> None:
    s, park = site
    (park / "files").mkdir(parents=True)
    res = sh(fileops.park(str(s), str(park)))
    assert res.returncode == fileops.RC_BOTH
    assert (s / "files" / "sub dir" / "a.txt").exists()


def test_park_refuses_another_filesystem(site: tuple[Path, Path]) -> None:
    s, _ = site
    shm = Path("/dev/shm")  # noqa: S108 - a tmpfs: a second filesystem on any Linux
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(s).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    park = shm / f"qm-test-{os.getpid()}"
    try:
        res = sh(fileops.park(str(s), str(park)))
        assert res.returncode == fileops.RC_MOUNT, res.stderr
        assert "different filesystems" in res.stderr
        assert (s / "files" / "sub dir" / "a.txt").exists()
    finally:
        subprocess.run(["rm", "-rf", str(park)], check=False)


def test_unpark_removes_only_empty_dirs_and_needs_settings(site: tuple[Path, Path], tmp_path: Path) -> None:
    s, park = site
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    new = tmp_path / "platforms" / "b" / "sites" / "ex.com"
    new.mkdir(parents=True)
    res = sh(fileops.unpark(str(park), str(new)))
    assert res.returncode == fileops.RC_MISSING and (park / "files").exists()
    (new / "settings.php").write_text("<?php")
    (new / "files").mkdir()  # an empty dir made by a push
    assert sh(fileops.unpark(str(park), str(new))).returncode == 0, res.stderr
    assert (new / "files" / "sub dir" / "a.txt").read_text() == "hello"
    assert (new / "private" / "files" / "secret.pdf").exists()
    assert not park.exists()


def test_unpark_refuses_a_non_empty_destination(site: tuple[Path, Path], tmp_path: Path) -> None:
    s, park = site
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    (s / "files").mkdir()
    (s / "files" / "stale.txt").write_text("stale")
    res = sh(fileops.unpark(str(park), str(s)))
    assert res.returncode == fileops.RC_NOT_EMPTY
    assert (park / "files" / "sub dir" / "a.txt").exists()


def test_guard_and_remove_site_dir(site: tuple[Path, Path]) -> None:
    s, park = site
    assert sh(fileops.guard_no_files(str(s))).returncode == fileops.RC_HAS_FILES
    assert sh(fileops.remove_site_dir(str(s))).returncode == fileops.RC_HAS_FILES
    assert (s / "files" / "sub dir" / "a.txt").exists()
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    assert sh(fileops.guard_no_files(str(s))).returncode == 0
    assert sh(fileops.remove_site_dir(str(s))).returncode == 0
    assert not s.exists() and (park / "files" / "sub dir" / "a.txt").exists()
    assert "already gone" in sh(fileops.remove_site_dir(str(s))).stdout


def test_where_are_files(site: tuple[Path, Path]) -> None:
    s, park = site
    assert sh(fileops.where_are_files(str(s), str(park))).stdout.split() == ["files", "site", "private_files", "site"]
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    assert sh(fileops.where_are_files(str(s), str(park))).stdout.split() == ["files", "park", "private_files", "park"]


def test_a_skeleton_of_empty_dirs_is_not_files(site: tuple[Path, Path], tmp_path: Path) -> None:
    """provision-verify creates files/css, files/js, ... on a push: no data, so it may be replaced."""
    s, park = site
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    for d in ("css", "js", "ctools/css"):
        (s / "files" / d).mkdir(parents=True)
    assert sh(fileops.guard_no_files(str(s))).returncode == 0
    assert sh(fileops.unpark(str(park), str(s))).returncode == 0
    assert (s / "files" / "sub dir" / "a.txt").read_text() == "hello"
    assert not (s / "files" / "css").exists()
    (s / "files" / "css").mkdir()
    (s / "files" / "css" / "x.css").write_text("x")
    assert sh(fileops.guard_no_files(str(s))).returncode == fileops.RC_HAS_FILES
    link = tmp_path / "other"
    link.mkdir()
    (link / "files").symlink_to(tmp_path / "nowhere")
    assert sh(fileops.guard_no_files(str(link))).returncode == fileops.RC_HAS_FILES


def test_remove_set_aside_copy_removes_only_the_copy(tmp_path: Path) -> None:
    park = tmp_path / "park" / "ex.com.run1"
    (park / "files" / "locked" / "deeper").mkdir(parents=True)
    (park / "files" / "locked" / "deeper" / "-rf").write_text("x")
    (park / "private_files").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    outside.chmod(0o500)
    (park / "files" / "outside").symlink_to(outside)
    (park / "files" / "--delete").symlink_to(outside / "keep")
    (park / "files" / "locked").chmod(0)
    res = sh(fileops.remove_set_aside_copy(str(park)))
    assert res.returncode == 0, res.stderr
    assert not park.exists() and (tmp_path / "park").is_dir()
    assert (outside / "keep").read_text() == "k" and (outside.stat().st_mode & 0o777) == 0o500  # not followed
    again = sh(fileops.remove_set_aside_copy(str(park)))
    assert again.returncode == 0 and "already gone" in again.stdout


def test_remove_set_aside_copy_refuses_anything_else(site: tuple[Path, Path], tmp_path: Path) -> None:
    s, _ = site
    res = sh(fileops.remove_set_aside_copy(str(s)))  # a site dir (settings.php, private/): never removed
    assert res.returncode == fileops.RC_NOT_PARKED and (s / "files" / "sub dir" / "a.txt").exists()
    link = tmp_path / "park-link"
    link.symlink_to(s / "files")
    res = sh(fileops.remove_set_aside_copy(str(link)))
    assert res.returncode == fileops.RC_NOT_PARKED and (s / "files" / "sub dir" / "a.txt").exists()
