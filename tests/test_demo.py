"""``qm-tui demo`` end to end through the CLI: build the sandbox in a temp dir, quick-migrate its big
site (300 MiB of files) with the printed config and environment, check the files moved by rename
(same inode, same content, one place), ``--reset`` puts everything back, ``--stop`` stops mariadbd.
The cluster layout (root with namespaces): a cluster site migrated over SSH with nothing but the
config, the files invariant on all three fronts, ``--stop``/reuse/``--reset``, the hosts gone after
``--stop`` and after the TUI exits.
"""

from __future__ import annotations

import json
import os
import pty
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qm_lab import demo as demo_mod
from qm_lab.demo import BIG_SITE_MB, MARKER, DemoError, open_demo, stop_demo
from qm_lab.demo_cluster import cluster_view
from qm_lab.lab import AEGIR_ROOT, CLUSTER, LocalTree, files_state
from qm_lab.local_scenario import BIG_SITE
from qm_lab.mariadb_private import missing_binaries
from qm_lab.sshd import lab_unavailable_reason
from qm_tui.engine.phpfiles import parse_drushrc

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
        stop_demo(path)  # never leave a mariadbd or an sshd behind, also when the test failed
    pid_file = path / "mysql" / "mysqld.pid"
    if pid_file.exists():
        assert not Path(f"/proc/{pid_file.read_text().strip()}").exists(), "mariadbd still running"
    assert not processes(path)


def processes(base: Path) -> list[str]:
    """The sandbox's live processes: mariadbd and the hosts' sshds name files under it."""
    r = subprocess.run(["pgrep", "-af", str(base)], capture_output=True, text=True)
    return r.stdout.splitlines()


def listeners(base: Path) -> list[str]:
    """The hosts' sshd listeners: a connection being served is a child re-executed with -R, not a host."""
    return [p for p in processes(base) if "sshd" in p and not p.rstrip().endswith(" -R")]


def where(root: Path, uri: str) -> tuple[tuple[str, ...], int | None, str]:
    """Every place holding the site's files dir (platforms and parking), its inode and content digest."""
    state = files_state(LocalTree(root), "localhost", uri)
    return state.places, state.inode, state.digest


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


CLUSTER_SITE, CLUSTER_SOURCE = "cluster-d7.lab.test", "drupal-7.97-a"
FrontState = dict[str, tuple[tuple[str, ...], int | None, str]]


def fronts_state(base: Path, config: Path, uri: str) -> FrontState:
    """files and private/files of the site on every cluster front: places, inode, content digest."""
    view = cluster_view(base, config)
    out: FrontState = {}
    for host in CLUSTER:
        for label in ("files", "private"):
            st = files_state(view, host, uri, label)
            out[f"{host} {label}"] = (st.places, st.inode, st.digest)
    return out


def expect_at(base: Path, config: Path, uri: str, platform: str, before: FrontState) -> None:
    """The invariant: on each front, one place, under ``platform``, same inode and content as before."""
    view = cluster_view(base, config)
    after = fronts_state(base, config, uri)
    for key, (_, inode, digest) in before.items():
        host, label = key.split()
        sub = "files" if label == "files" else "private/files"
        want = str(view.path(host, f"{AEGIR_ROOT}/platforms/{platform}/sites/{uri}/{sub}"))
        assert after[key] == ((want,), inode, digest), f"{key}: {after[key]} (wanted {want}, inode {inode})"


@pytest.mark.lab
def test_demo_cluster_layout(base: Path) -> None:
    why = lab_unavailable_reason()
    if why:
        pytest.skip(f"cluster layout unavailable: {why}")
    config, env, seconds = build(base, "--layout", "cluster")
    assert seconds < 60, f"building both layouts took {seconds:.1f} s"
    assert env == {"QM_TUI_CONFIG": str(config)}  # the config names the socket: no MYSQL_HOME
    assert config == base / "cluster" / "client" / "config.yaml"
    assert len([p for p in processes(base) if "sshd" in p]) == 5

    # --stop: the database and every host; then reuse starts them again, on the same ports.
    stopped = qm("demo", "--stop", "--path", str(base))
    assert "database and 5 hosts stopped" in stopped.stderr, stopped.stderr
    assert not processes(base)
    config2, env2, _ = build(base, "--layout", "cluster")
    assert (config2, env2) == (config, env)

    before = fronts_state(base, config, CLUSTER_SITE)
    for host in CLUSTER:
        assert len(before[f"{host} files"][0]) == 1 and CLUSTER_SOURCE in before[f"{host} files"][0][0]
    proc = qm("migrate", CLUSTER_SITE, TARGET, "--yes", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"succeeded: {CLUSTER_SITE} is on {TARGET}" in proc.stdout
    expect_at(base, config, CLUSTER_SITE, TARGET, before)
    assert platform_of(CLUSTER_SITE, env) == TARGET

    # --reset: both layouts rebuilt, the site back where it was, no run history.
    _, env3, seconds = build(base, "--reset", "--layout", "cluster")
    assert seconds < 60
    assert platform_of(CLUSTER_SITE, env3) == CLUSTER_SOURCE
    rebuilt = fronts_state(base, config, CLUSTER_SITE)  # same places and content; new inodes
    assert {k: (v[0], v[2]) for k, v in rebuilt.items()} == {k: (v[0], v[2]) for k, v in before.items()}
    runs = qm("runs", "--json", env=env3)
    assert runs.returncode == 0 and json.loads(runs.stdout) == [], runs.stdout + runs.stderr

    stopped = qm("demo", "--stop", "--path", str(base))
    assert "database and 5 hosts stopped" in stopped.stderr, stopped.stderr
    assert not processes(base)


@pytest.mark.lab
def test_demo_tui_exit_stops_the_hosts(base: Path) -> None:
    why = lab_unavailable_reason()
    if why:
        pytest.skip(f"cluster layout unavailable: {why}")
    build(base, "--layout", "cluster", "--big-site-mb", "1")
    qm("demo", "--stop", "--path", str(base))
    controller, terminal = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if k not in ("QM_TUI_CONFIG", "MYSQL_HOME")}
    tui = subprocess.Popen([sys.executable, "-m", "qm_tui", "demo", "--path", str(base), "--layout", "cluster"],
                           stdin=terminal, stdout=terminal, stderr=subprocess.PIPE, cwd=REPO,
                           env={**clean, "TERM": "xterm-256color"}, start_new_session=True)
    os.close(terminal)
    try:
        deadline = time.monotonic() + 60
        while len(listeners(base)) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(listeners(base)) == 5, "the TUI did not start the hosts"
        while tui.poll() is None and time.monotonic() < deadline:
            os.write(controller, b"\x11")  # ctrl+q, until the app is up to read it
            try:
                tui.wait(1)
            except subprocess.TimeoutExpired:
                pass
        assert tui.returncode == 0, tui.stderr.read().decode() if tui.stderr else ""
    finally:
        if tui.poll() is None:
            tui.send_signal(signal.SIGHUP)  # its handler stops the database and the hosts too
            tui.wait(30)
        os.close(controller)
    assert not processes(base), "database or hosts left running after the TUI exited"


def test_demo_without_the_lab_builds_the_local_layout_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_mod, "lab_unavailable_reason", lambda: "lab hosts need root")
    lines: list[str] = []
    sandbox = open_demo(tmp_path / "demo", big_site_mb=1, progress=lines.append)
    try:
        skipped = [line for line in lines if "Only the single-server layout is built" in line]
        assert len(skipped) == 1 and skipped[0].endswith("the cluster layout's lab hosts need root"), lines
        assert sandbox.cluster is None and not (tmp_path / "demo" / "cluster").exists()
        with pytest.raises(DemoError, match="cluster layout is not available: lab hosts need root"):
            sandbox.config("cluster")
        assert sandbox.config("local").is_file()
    finally:
        sandbox.stop()
    assert not processes(tmp_path / "demo")


def test_demo_local_config_is_enough(base: Path) -> None:
    """The local layout's config alone drives the engine's mariadb/mariadb-dump on this machine (it names
    the private socket as migrate.db_socket): with MYSQL_HOME unset (``qm`` drops it) and nothing sourced,
    ``plan`` (its preflight sizes the site's DB), a ``migrate`` whose updatedb fails (dump, then restore
    on rollback) and a ``migrate`` that succeeds. No password of the site in any log or the journal."""
    config, env, _ = build(base, "--big-site-mb", "1")
    assert env == {"QM_TUI_CONFIG": str(config)} and "MYSQL_HOME" not in (base / "env.sh").read_text()
    aegir = Path(json.loads((base / MARKER).read_text())["aegir_root"])
    site = "shop-d7.local.test"
    cfg = ("--config", str(config))
    source = platform_of(site, env)
    drushrc = parse_drushrc((aegir / "platforms" / source / "sites" / site / "drushrc.php").read_text())
    assert drushrc["db_host"] == "localhost"  # as Aegir writes it: the client's socket

    plan = qm(*cfg, "plan", site, TARGET)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    (aegir / "drush-standin.fail").write_text("updatedb\n")
    failed = qm(*cfg, "migrate", site, TARGET, "--yes")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    (aegir / "drush-standin.fail").unlink()
    assert platform_of(site, env) == source
    proc = qm(*cfg, "migrate", site, TARGET, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"succeeded: {site} is on {TARGET}" in proc.stdout
    assert platform_of(site, env) == TARGET

    logs = b"".join(p.read_bytes() for p in (base / "state").rglob("*") if p.is_file())
    assert b"database restored from" in logs  # the rollback's restore ran through the config's socket
    assert str(drushrc["db_passwd"]).encode() not in logs
