"""``qm-tui demo`` end to end through the CLI: build the sandbox in a temp dir, quick-migrate its big
site (300 MiB of files) with the printed config and environment, check the files moved by rename
(same inode, same content, one place), ``--reset`` puts everything back, ``--stop`` stops mariadbd.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qm_tui.sandbox.demo import BIG_SITE_MB, MARKER, stop_demo
from qm_tui.sandbox.local_scenario import BIG_SITE
from qm_tui.sandbox.mariadb_private import missing_binaries

REPO = Path(__file__).resolve().parent.parent
TARGET = "drupal-7.98-b"

pytestmark = pytest.mark.skipif(bool(missing_binaries()), reason="MariaDB server binaries missing")


def qm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("QM_TUI_CONFIG", "MYSQL_HOME")}
    return subprocess.run([sys.executable, "-m", "qm_tui", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**clean, **(env or {})}, stdin=subprocess.DEVNULL)


def parse_env(line: str) -> dict[str, str]:
    words = shlex.split(line)
    assert words[0] == "export", line
    return dict(w.split("=", 1) for w in words[1:])


@pytest.fixture()
def base(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "demo"
    try:
        yield path
    finally:
        stop_demo(path)  # never leave a mariadbd behind, also when the test failed
    pid_file = path / "mysql" / "mysqld.pid"
    if pid_file.exists():
        assert not Path(f"/proc/{pid_file.read_text().strip()}").exists(), "mariadbd still running"


def where(root: Path, uri: str) -> tuple[tuple[str, ...], int | None, str]:
    """Every place holding the site's files dir (platforms and parking), its inode and content digest."""
    places = [p for plat in sorted((root / "platforms").iterdir())
              if os.path.lexists(p := plat / "sites" / uri / "files")]
    parking = root / "qm-tui-parking"
    if parking.is_dir():
        places += [p for d in sorted(parking.iterdir()) if d.name.startswith(uri + ".") for p in d.iterdir()]
    if len(places) != 1:
        return tuple(map(str, places)), None, ""
    h = hashlib.sha256()
    top = os.fsencode(places[0])
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            h.update(os.path.relpath(full, top) + b"\0" + str(st.st_size).encode())
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    return (str(places[0]),), os.lstat(places[0]).st_ino, h.hexdigest()


def platform_of(uri: str, env: dict[str, str]) -> str:
    proc = qm("sites", "--filter", uri, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return next(s["platform"] for s in json.loads(proc.stdout) if s["uri"] == uri)


def build(base: Path, *extra: str) -> tuple[Path, dict[str, str], float]:
    t0 = time.monotonic()
    proc = qm("demo", "--no-tui", "--path", str(base), *extra)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "Writing the Aegir tree" in proc.stderr or "Reusing" in proc.stderr  # it says what it does
    config, env = Path(lines[0]), parse_env(lines[1])
    assert env["QM_TUI_CONFIG"] == str(config) and config.is_file()
    return config, env, seconds


def test_demo_build_migrate_reset_stop(base: Path) -> None:
    config, env, seconds = build(base)
    assert seconds < 60, f"building the sandbox took {seconds:.1f} s"
    root = json.loads((base / MARKER).read_text())["aegir_root"]
    aegir = Path(root)
    assert aegir.is_relative_to(base.resolve())
    assert "drush stand-in" in config.read_text()  # the UI's title names the sandbox and the stand-in
    source = platform_of(BIG_SITE, env)
    assert source != TARGET
    files = aegir / "platforms" / source / "sites" / BIG_SITE / "files"
    assert sum(f.stat().st_size for f in files.rglob("*") if f.is_file()) >= BIG_SITE_MB * 2**20

    places, inode, digest = where(aegir, BIG_SITE)
    assert places == (str(files),)
    proc = qm("migrate", BIG_SITE, TARGET, "--yes", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].startswith("run ")
    moved = aegir / "platforms" / TARGET / "sites" / BIG_SITE / "files"
    assert where(aegir, BIG_SITE) == ((str(moved),), inode, digest), "files were not moved by rename"
    assert not (aegir / "platforms" / source / "sites" / BIG_SITE).exists()
    assert platform_of(BIG_SITE, env) == TARGET

    # Reuse: same sandbox, the server restarted, the migration still there.
    _, env2, _ = build(base)
    assert platform_of(BIG_SITE, env2) == TARGET

    # --reset: rebuilt from scratch, the site back on its original platform, no run history.
    config3, env3, seconds = build(base, "--reset")
    assert seconds < 60
    assert platform_of(BIG_SITE, env3) == source
    assert where(aegir, BIG_SITE)[0] == (str(files),)
    assert not (aegir / "platforms" / TARGET / "sites" / BIG_SITE).exists()
    runs = qm("runs", "--json", env=env3)
    assert runs.returncode == 0 and json.loads(runs.stdout) == [], runs.stdout + runs.stderr

    stopped = qm("demo", "--stop", "--path", str(base))
    assert stopped.returncode == 0 and "stopped" in stopped.stderr, stopped.stderr
    pid = (base / "mysql" / "mysqld.pid").read_text().strip() if (base / "mysql" / "mysqld.pid").exists() else ""
    assert not pid or not Path(f"/proc/{pid}").exists()


def test_demo_refuses_a_directory_that_is_not_a_sandbox(tmp_path: Path) -> None:
    keep = tmp_path / "precious.txt"
    keep.write_text("mine\n")
    proc = qm("demo", "--no-tui", "--reset", "--path", str(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "not a qm-tui demo sandbox" in proc.stderr
    assert keep.read_text() == "mine\n"
