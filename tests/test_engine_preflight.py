"""Preflight refusals: every problem is listed with its host, exit 2, and nothing changes anywhere."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import yaml
from lab_support import Lab, cli, hostmaster_platform, make_lab, tree_fingerprint

from qm_tui.engine.journal import Journal

pytestmark = pytest.mark.lab
URI, SRC, DST = "big-d7.lab.test", "drupal-7.97-a", "drupal-7.98-b"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


def refused(lab: Lab, *expect: str, uri: str = URI, target: str = DST, config: object = None) -> str:
    before = tree_fingerprint(lab)
    runs_before = len(Journal(lab.state_dir).list_runs())
    proc = cli(lab, "migrate", uri, target, "--yes", config=config)  # type: ignore[arg-type]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "nothing changed" in proc.stderr
    for text in expect:
        assert text in proc.stderr, proc.stderr
    assert not proc.stdout.startswith("run "), "a refused migration must not start a run"
    assert tree_fingerprint(lab) == before
    assert len(Journal(lab.state_dir).list_runs()) == runs_before
    plan = cli(lab, "plan", uri, target, config=config)  # type: ignore[arg-type]
    assert plan.returncode == 2 and "preflight refused" in plan.stdout
    return proc.stderr


def aegir_owned(lab: Lab, path: os.PathLike[str]) -> None:
    st = lab.root("aegir.lab.test").stat()
    os.chown(path, st.st_uid, st.st_gid)


@contextmanager
def renamed(path: os.PathLike[str]) -> Iterator[None]:
    aside = f"{os.fspath(path)}.aside"
    os.rename(path, aside)
    try:
        yield
    finally:
        os.rename(aside, path)


def test_not_selectable_and_not_enabled(lab: Lab) -> None:
    refused(lab, "target drupal-7.101-c: 1 module would lose its schema (error)", target="drupal-7.101-c")
    refused(lab, "site disabled-d7.lab.test is disabled, not enabled", uri="disabled-d7.lab.test")


def test_queued_and_processing_tasks(lab: Lab) -> None:
    refused(lab, "queued backup task", uri="taskq-d7.lab.test")
    refused(lab, "processing verify task", uri="taskp-d7.lab.test")


def test_unreachable_front(lab: Lab) -> None:
    lab.hosts["web3.lab.test"].stop()
    try:
        refused(lab, "web3.lab.test: unreachable")
    finally:
        lab.hosts["web3.lab.test"].start()


def test_unknown_host_key_refuses_before_any_change(lab: Lab) -> None:
    known = lab.hosts.known_hosts
    original = known.read_text()
    web1_port, web2_port = lab.hosts["web1.lab.test"].port, lab.hosts["web2.lab.test"].port
    keys = {line.split()[0]: line.split(None, 1)[1] for line in original.splitlines() if line.strip()}
    web1, web2 = f"[127.0.0.1]:{web1_port}", f"[127.0.0.1]:{web2_port}"
    known.write_text("".join(f"{host} {keys[web2] if host == web1 else key}\n" for host, key in keys.items()))
    try:
        refused(lab, "web1.lab.test: host key")
    finally:
        known.write_text(original)


def test_wrong_host_key_on_the_hostmaster_for_one_front(lab: Lab) -> None:
    """M's own known_hosts (what its rsync pushes and provision-verify's sync use) has web2's line wrong:
    refused up front naming M and web2, not mid-run in verify."""
    uri, src = "cluster-d7.lab.test", "drupal-7.97-a"
    known = lab.path("aegir.lab.test", "/var/aegir/.ssh/known_hosts")
    original = known.read_bytes()
    st = known.stat()
    web1 = f"[127.0.0.1]:{lab.hosts['web1.lab.test'].port}"
    web2 = f"[127.0.0.1]:{lab.hosts['web2.lab.test'].port}"
    keys = {line.split()[0]: line.split(None, 1)[1] for line in original.decode().splitlines() if line.strip()}
    known.write_text("".join(f"{host} {keys[web1] if host == web2 else key}\n" for host, key in keys.items()))
    os.chown(known, st.st_uid, st.st_gid)
    try:
        err = refused(lab, "aegir.lab.test → web2.lab.test: host key verification failed", uri=uri)
        lines = [ln for ln in err.splitlines() if "→" in ln]
        assert len(lines) == 1 and "web1" not in lines[0] and "web3" not in lines[0], err
        assert hostmaster_platform(lab, uri) == src
    finally:
        known.write_bytes(original)
        os.chown(known, st.st_uid, st.st_gid)
    assert cli(lab, "plan", uri, DST).returncode == 0  # restored: preflight passes again


def test_provision_sync_user_is_tested_too(lab: Lab) -> None:
    """provision-verify syncs to script_user@remote_host of the front's server context: a user M cannot log
    in as there is refused up front, with that form named (the plain form qm-tui's rsync uses works)."""
    uri = "cluster-d7.lab.test"
    drush = lab.path("aegir.lab.test", "/var/aegir/.drush")
    alias = next(p for p in drush.glob("server_*.alias.drushrc.php")
                 if "'remote_host' => 'web3.lab.test'" in p.read_text())
    original = alias.read_text()
    assert "'script_user' => 'aegir'" in original
    alias.write_text(original.replace("'script_user' => 'aegir'", "'script_user' => 'nobody'"))
    try:
        err = refused(lab, "aegir.lab.test → nobody@web3.lab.test: login refused", uri=uri)
        assert [ln for ln in err.splitlines() if "→" in ln] == [
            ln for ln in err.splitlines() if "nobody@web3.lab.test" in ln], err
    finally:
        alias.write_text(original)


def test_missing_tool(lab: Lab) -> None:
    cfg = yaml.safe_load(lab.config_path.read_text())
    cfg["migrate"] = {"drush": "/nonexistent/drush"}
    path = lab.base / "client" / "nodrush.yaml"
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    refused(lab, "aegir.lab.test: /nonexistent/drush is not installed", config=path)


SITE = f"/var/aegir/platforms/{SRC}/sites/{URI}"


@pytest.mark.parametrize(("host", "rel", "message"), [
    ("web2.lab.test", "", f"web2.lab.test: {SITE} does not exist"),
    ("web1.lab.test", "files", f"web1.lab.test: {SITE}/files is missing"),
    ("web3.lab.test", "private/files", f"web3.lab.test: {SITE}/private/files is missing"),
])
def test_missing_site_dir_or_files(lab: Lab, host: str, rel: str, message: str) -> None:
    with renamed(lab.site_dir(host, URI, SRC) / rel if rel else lab.site_dir(host, URI, SRC)):
        refused(lab, message)


def test_target_site_dir_exists_and_every_problem_is_listed(lab: Lab) -> None:
    there = lab.site_dir("web3.lab.test", URI, DST)
    there.mkdir()
    aegir_owned(lab, there)
    try:
        with renamed(lab.site_dir("web1.lab.test", URI, SRC) / "files"):
            refused(lab, f"web3.lab.test: /var/aegir/platforms/{DST}/sites/{URI} already exists",
                    "web1.lab.test: /var/aegir/platforms/drupal-7.97-a/sites/big-d7.lab.test/files is missing")
    finally:
        there.rmdir()


def _with_mount(lab: Lab, host: str, in_host: str, size: str, body: Callable[[], None]) -> None:
    st = lab.root(host).stat()
    lab.hosts[host].mount_tmpfs_in(in_host, size, owner=(st.st_uid, st.st_gid))
    try:
        body()
    finally:
        lab.hosts[host].umount_in(in_host)


def test_parking_place_on_another_mount(lab: Lab) -> None:
    park = lab.root("web1.lab.test") / "qm-tui-parking"
    park.mkdir(exist_ok=True)
    aegir_owned(lab, park)
    _with_mount(lab, "web1.lab.test", "/var/aegir/qm-tui-parking", "4m",
                lambda: refused(lab, "are on different filesystems or mounts; mv would copy"))


def test_parking_place_on_a_bind_mount_of_the_same_filesystem(lab: Lab) -> None:
    """Same device, another mount: rename(2) fails with EXDEV there too, so it is refused."""
    park = lab.root("web2.lab.test") / "qm-tui-parking"
    park.mkdir(exist_ok=True)
    aegir_owned(lab, park)
    other = lab.base / "bind-src"
    other.mkdir(exist_ok=True)
    aegir_owned(lab, other)
    lab.hosts["web2.lab.test"].mount_in(str(other), "/var/aegir/qm-tui-parking")
    try:
        refused(lab, "web2.lab.test:", "are on different filesystems or mounts; mv would copy")
    finally:
        lab.hosts["web2.lab.test"].umount_in("/var/aegir/qm-tui-parking")


def test_files_is_a_mount_point(lab: Lab) -> None:
    _with_mount(lab, "web3.lab.test", f"/var/aegir/platforms/{SRC}/sites/{URI}/files", "4m",
                lambda: refused(lab, f"web3.lab.test: /var/aegir/platforms/{SRC}/sites/{URI}/files is a mount point"))


def test_free_space_short_for_the_dump(lab: Lab) -> None:
    dump_dir = lab.root("aegir.lab.test") / "backups" / "qm-tui"
    dump_dir.mkdir(parents=True, exist_ok=True)
    _with_mount(lab, "aegir.lab.test", "/var/aegir/backups/qm-tui", "1m",
                lambda: refused(lab, "MiB free for the dump"))


def test_lock_held_and_parking_dir_of_an_earlier_run(lab: Lab) -> None:
    lock = lab.root("aegir.lab.test") / ".qm-tui" / "locks" / URI
    lock.mkdir(parents=True)
    (lock / "owner").write_text("run 20260101-000000-dead pid 1 on elsewhere\n")
    try:
        refused(lab, "is held (run 20260101-000000-dead")
    finally:
        shutil.rmtree(lock)
    old = lab.root("web2.lab.test") / "qm-tui-parking" / f"{URI}.20260101-000000-beef"
    old.mkdir(parents=True)
    try:
        refused(lab, f"web2.lab.test: parking dir /var/aegir/qm-tui-parking/{URI}.20260101-000000-beef "
                     "from run 20260101-000000-beef exists")
    finally:
        old.rmdir()


def test_another_run_holds_the_site_in_the_journal(lab: Lab) -> None:
    j = Journal(lab.state_dir)
    j.create_run("20260101-000000-cafe", URI, 1, SRC, DST, {}, [("maintenance_on", "aegir.lab.test", "x")])
    try:
        refused(lab, "run 20260101-000000-cafe (running) holds big-d7.lab.test")
    finally:
        j.set_run("20260101-000000-cafe", state="rolled_back")
