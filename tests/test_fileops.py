"""The remote move snippets, run by real bash on real directories: rename only, never merge or copy."""

from __future__ import annotations

import os
import subprocess
import time
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


def files_on_shared_storage(site_dir: Path, tmp_path: Path) -> Path:
    """The site's files moved to a shared dir, ``files`` a symlink to it (the gluster layout)."""
    shared = tmp_path / "gluster" / "files"
    shared.parent.mkdir(parents=True)
    (site_dir / "files").rename(shared)
    (site_dir / "files").symlink_to(shared)
    return shared


def test_park_moves_a_symlink_as_a_link(site: tuple[Path, Path], tmp_path: Path) -> None:
    s, park = site
    shared = files_on_shared_storage(s, tmp_path)
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


def test_unpark_sets_a_written_skeleton_aside_never_merges(site: tuple[Path, Path], tmp_path: Path) -> None:
    """Live traffic wrote into verify's skeleton (CSS aggregation): that dir is renamed aside whole,
    the parked files go in; nothing merged, nothing deleted."""
    s, park = site
    ino = os.lstat(s / "files").st_ino
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    (s / "files" / "css").mkdir(parents=True)
    (s / "files" / "css" / "css_abc.css").write_text("aggregated")
    (s / "files" / "js").mkdir()
    res = sh(fileops.unpark(str(park), str(s)))
    assert res.returncode == 0, res.stderr
    assert os.lstat(s / "files").st_ino == ino and not (s / "files" / "css").exists()
    aside = [line.split()[2] for line in res.stdout.splitlines() if line.startswith("@@ASIDE files ")]
    assert len(aside) == 1 and aside[0].startswith(fileops.swap_aside_dir(str(park)) + "/files.")
    assert Path(aside[0], "css", "css_abc.css").read_text() == "aggregated"
    assert not park.exists(), "the park dir is gone: nothing blocks the next run"


def test_unpark_refuses_a_destination_that_is_not_a_dir(site: tuple[Path, Path], tmp_path: Path) -> None:
    s, park = site
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    (s / "files").symlink_to(tmp_path)
    res = sh(fileops.unpark(str(park), str(s)))
    assert res.returncode == fileops.RC_NOT_EMPTY
    assert (park / "files" / "sub dir" / "a.txt").exists() and (s / "files").is_symlink()


def test_unpark_against_a_writer_racing_the_swap(site: tuple[Path, Path]) -> None:
    """A writer re-creating files/css in a tight loop (Drupal's file_prepare_directory does mkdir -p)
    never makes the swap merge or lose anything: the real files end in place, every written file
    survives, either in the real dir (written after the swap) or in a set-aside skeleton."""
    s, park = site
    ino = os.lstat(s / "files").st_ino
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    log = s.parent.parent.parent.parent / "written.log"
    # 200 writes a second, each re-creating files/css first: far busier than a site in maintenance.
    writer = subprocess.Popen(["bash", "-c", f'for i in $(seq 400); do mkdir -p {s}/files/css 2>/dev/null && '
                               f'echo $i > {s}/files/css/w$i.css 2>/dev/null && echo w$i.css >> {log}; '
                               f'sleep 0.005; done'])
    try:
        time.sleep(0.3)
        res = sh(fileops.unpark(str(park), str(s)))
    finally:
        writer.wait(timeout=60)
    assert res.returncode == 0, res.stderr
    assert os.lstat(s / "files").st_ino == ino and (s / "files" / "sub dir" / "a.txt").read_text() == "hello"
    assert "@@ASIDE files " in res.stdout, "the writer filled the skeleton before the swap"
    written = log.read_text().split()
    found = {p.name for p in s.parent.parent.parent.parent.rglob("w*.css")}
    assert len(written) > 100 and set(written) <= found, "a file written during the swap was lost"
    assert not park.exists()


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


def test_unpark_puts_a_files_symlink_over_an_empty_skeleton(site: tuple[Path, Path], tmp_path: Path) -> None:
    """Shared storage: the parked ``files`` is a symlink; rename(2) cannot put it over a directory."""
    s, park = site
    files_on_shared_storage(s, tmp_path)
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    (s / "files" / "css").mkdir(parents=True)
    res = sh(fileops.unpark(str(park), str(s)))
    assert res.returncode == 0, res.stderr
    assert (s / "files").is_symlink() and (s / "files" / "sub dir" / "a.txt").read_text() == "hello"


def test_park_after_a_restore_that_never_happened(site: tuple[Path, Path]) -> None:
    """The undo of a failed restore: the files are still parked and the site dir holds verify's
    empty skeleton, which is no reason to refuse; a skeleton with a file in it is."""
    s, park = site
    assert sh(fileops.park(str(s), str(park))).returncode == 0
    (s / "files" / "css").mkdir(parents=True)
    (s / "private" / "files").mkdir()
    res = sh(fileops.park(str(s), str(park)))
    assert res.returncode == 0 and "empty skeleton" in res.stdout, res.stderr
    (s / "files" / "css" / "x.css").write_text("x")
    assert sh(fileops.park(str(s), str(park))).returncode == fileops.RC_BOTH


def test_remove_aliases_drops_only_this_sites_records(tmp_path: Path) -> None:
    """sites.php lines naming the site go (an alias whose target merely ends like it stays), so do D6
    alias links to it; other sites' records and links stay; the mode is kept; re-running is harmless."""
    sites = tmp_path / "sites"
    (sites / "ex.com").mkdir(parents=True)
    (sites / "sites.php").write_text("<?php\n$sites['www.ex.com'] = 'ex.com';\n$sites['a.other.com'] = 'other.com';\n"
                                     "$sites['b.com'] = 'x.ex.com';\n")
    (sites / "sites.php").chmod(0o644)
    (sites / "old.ex.com").symlink_to("ex.com")
    (sites / "o.com").symlink_to("other.com")
    for _ in range(2):
        res = sh(fileops.remove_aliases(str(tmp_path), "ex.com"))
        assert res.returncode == 0 and "@@ALIASES 0" in res.stdout, res.stderr
    assert (sites / "sites.php").read_text() == ("<?php\n$sites['a.other.com'] = 'other.com';\n"
                                                 "$sites['b.com'] = 'x.ex.com';\n")
    assert (sites / "sites.php").stat().st_mode & 0o777 == 0o644
    assert not os.path.lexists(sites / "old.ex.com") and (sites / "o.com").is_symlink()
    assert (sites / "ex.com").is_dir() and sorted(p.name for p in sites.iterdir()) == ["ex.com", "o.com", "sites.php"]
