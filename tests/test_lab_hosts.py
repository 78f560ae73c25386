"""The lab's hosts: real sshd servers on 127.0.0.1, each with its own /var/aegir (qm_lab/hosts.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from qm_lab.hosts import HostLab, HostSpec, LabHost, lab_unavailable_reason

pytestmark = pytest.mark.lab

MASTER = "aegir.lab.test"
FRONTS = ["web1.lab.test", "web2.lab.test", "web3.lab.test"]
WEB4 = "web4.lab.test"
ALL = [MASTER, *FRONTS, WEB4]


def _lab_pids(base: Path) -> list[str]:
    r = subprocess.run(["pgrep", "-af", "sshd_config"], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if str(base) in line]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostLab]:
    reason = lab_unavailable_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    specs = [HostSpec(MASTER), *(HostSpec(n, ["gluster"]) for n in FRONTS), HostSpec(WEB4)]
    base = tmp_path_factory.mktemp("hostlab")
    lab = HostLab(base, specs, master=MASTER).start()
    try:
        yield lab
    finally:
        lab.close()
        lab.close()  # idempotent
        assert _lab_pids(base) == []


def ssh(lab: HostLab, host: str, command: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(lab.ssh_argv(host, command), capture_output=True, timeout=30, **kw)  # type: ignore[call-overload]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_each_host_has_its_own_var_aegir(lab: HostLab) -> None:
    for name in ALL:
        (lab[name].root / "marker").write_text(f"I am {name}\n")
    for name in ALL:
        r = ssh(lab, name, "cat /var/aegir/marker")
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"I am {name}\n".encode()


async def test_asyncssh_strict_known_hosts_and_config_alias(lab: HostLab) -> None:
    for name in ALL:
        (lab[name].root / "marker").write_text(f"I am {name}\n")
    port = lab["web2.lab.test"].port
    async with asyncssh.connect("127.0.0.1", port=port, username="aegir", client_keys=[str(lab.client_key)],
                                known_hosts=str(lab.known_hosts)) as conn:
        r = await conn.run("cat /var/aegir/marker", check=True)
        assert r.stdout == "I am web2.lab.test\n"
    async with asyncssh.connect("web3.lab.test", config=[str(lab.ssh_config)]) as conn:
        r = await conn.run("cat /var/aegir/marker; id -un; id -Gn", check=True)
        assert r.stdout.split("\n")[:2] == ["I am web3.lab.test", "aegir"]
        assert "www-data" in r.stdout.split("\n")[2].split()


def test_master_pushes_to_one_front_with_rsync(lab: HostLab) -> None:
    master = lab[MASTER]
    src = master.root / "somedir"
    src.mkdir()
    (src / "code.php").write_text("<?php // pushed\n")
    r = master.exec_in(["rsync", "-a", "/var/aegir/somedir", "web1.lab.test:/var/aegir/"])
    assert r.returncode == 0, r.stderr
    pushed = lab["web1.lab.test"].root / "somedir" / "code.php"
    assert pushed.read_text() == "<?php // pushed\n"
    assert pushed.stat().st_uid == master.root.stat().st_uid  # written as aegir
    assert not (lab["web2.lab.test"].root / "somedir").exists()
    # The master reaches every host by name over its own ~/.ssh/config and known_hosts.
    r = master.exec_in(["ssh", WEB4, "cat /var/aegir/marker"])
    assert r.returncode == 0 and r.stdout.startswith("I am web4"), r.stderr


def test_shared_dir_is_common_to_the_cluster_only(lab: HostLab) -> None:
    (lab.shared["gluster"] / "from-controller").write_text("x")
    assert ssh(lab, "web1.lab.test", "echo hi > /srv/gluster/from-web1").returncode == 0
    for name in FRONTS:
        r = ssh(lab, name, "cat /srv/gluster/from-web1 /srv/gluster/from-controller")
        assert r.stdout == b"hi\nx", (name, r.stderr)
    for name in (WEB4, MASTER):
        r = ssh(lab, name, "ls -A /srv/gluster")
        assert r.returncode == 0 and r.stdout == b"", name


async def test_unknown_host_key_is_refused(lab: HostLab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    kw = lab.connect_kwargs("web1.lab.test")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(**{**kw, "known_hosts": str(empty)})
    # Another host's key on this port is refused too (a swapped server).
    wrong = tmp_path / "wrong"
    wrong.write_text(f"[127.0.0.1]:{kw['port']} {lab['web2.lab.test'].host_key}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(**{**kw, "known_hosts": str(wrong)})
    r = subprocess.run(["ssh", "-F", str(lab.ssh_config), "-o", f"UserKnownHostsFile={empty}",
                        "web1.lab.test", "true"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 255 and "Host key verification failed" in r.stderr


async def _connect_and_run(lab: HostLab, name: str, timeout: float = 10) -> str:
    async with asyncssh.connect(**lab.connect_kwargs(name), connect_timeout=timeout) as conn:
        return (await conn.run("cat /var/aegir/marker", check=True)).stdout  # type: ignore[return-value]


async def test_freeze_is_a_black_hole_and_thaw_recovers(lab: HostLab) -> None:
    host = lab["web3.lab.test"]
    (host.root / "marker").write_text("I am web3.lab.test\n")
    host.freeze()
    try:
        assert host.frozen
        with socket.create_connection(("127.0.0.1", host.port), timeout=2):
            pass  # the kernel still accepts: no RST, no "connection refused"
        t = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await _connect_and_run(lab, host.name, timeout=1.5)
        assert time.monotonic() - t >= 1.4
    finally:
        host.thaw()
    assert await _connect_and_run(lab, host.name) == "I am web3.lab.test\n"


async def test_stop_refuses_and_start_comes_back_same_port_and_key(lab: HostLab) -> None:
    host = lab["web3.lab.test"]
    port, key = host.port, host.host_key
    host.stop()
    try:
        assert not host.running and host.processes() == []
        with pytest.raises(OSError):
            await _connect_and_run(lab, host.name, timeout=3)
    finally:
        host.start()
    assert (host.port, host.host_key) == (port, key)
    assert await _connect_and_run(lab, host.name) == "I am web3.lab.test\n"


def test_session_path_starts_with_aegir_bin(lab: HostLab) -> None:
    want = "/var/aegir/bin:/usr/local/bin:/usr/bin:/bin"
    assert ssh(lab, "web2.lab.test", "echo $PATH").stdout.decode().strip() == want
    assert lab[MASTER].exec_in(["sh", "-c", "echo $PATH"]).stdout.strip() == want
    # And a command found only there is run (as drush is on M).
    bindir = lab[MASTER].root / "bin"
    bindir.mkdir(exist_ok=True)
    tool = bindir / "labtool"
    tool.write_text("#!/bin/sh\necho labtool on M\n")
    tool.chmod(0o755)
    assert ssh(lab, MASTER, "labtool").stdout == b"labtool on M\n"
    assert ssh(lab, WEB4, "labtool").returncode == 127


def test_exec_in_and_mounts_only_visible_in_that_host(lab: HostLab, tmp_path: Path) -> None:
    host: LabHost = lab["web1.lab.test"]
    assert host.exec_in(["id", "-un"]).stdout == "aegir\n"
    assert host.exec_in(["id", "-un"], user="root").stdout == "root\n"
    target = host.root / "files"
    target.mkdir()
    os.chown(target, host.root.stat().st_uid, host.root.stat().st_gid)
    other = tmp_path / "mounted"
    other.mkdir()
    (other / "inside").write_text("m")
    other.chmod(0o755)
    host.mount_in(other, "/var/aegir/files")
    try:
        r = ssh(lab, host.name, "mountpoint -q /var/aegir/files && cat /var/aegir/files/inside")
        assert r.stdout == b"m"
        assert not (target / "inside").exists()  # not on the controller's view of the tree
        assert ssh(lab, "web2.lab.test", "mountpoint -q /var/aegir/files").returncode != 0
    finally:
        host.umount_in("/var/aegir/files")
    assert ssh(lab, host.name, "mountpoint -q /var/aegir/files").returncode != 0


async def test_stop_leaves_no_process_in_the_namespace(lab: HostLab) -> None:
    host = lab[WEB4]
    detached = ssh(lab, WEB4, "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!")
    pid = int(detached.stdout)
    conn = await asyncssh.connect(**lab.connect_kwargs(WEB4))
    proc = await conn.create_process("sleep 301")
    try:
        deadline = time.monotonic() + 10
        while not any("sleep 301" in " ".join(p.cmdline) for p in host.processes()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert pid in {p.pid for p in host.processes()}
        session_pids = [p.pid for p in host.processes()]
        host.stop()
        assert host.processes() == []
        assert not any(_alive(p) for p in session_pids)
    finally:
        proc.close()
        conn.abort()
        host.start()
    assert ssh(lab, WEB4, "cat /var/aegir/marker").returncode == 0


async def test_non_utf8_file_names_are_listed(lab: HostLab) -> None:
    host = lab["web2.lab.test"]
    d = host.root / "odd"
    d.mkdir()
    name = b"caf\xe9 menu.txt"
    with open(os.path.join(bytes(d), name), "wb") as f:
        f.write(b"x")
    r = ssh(lab, host.name, "ls /var/aegir/odd")
    assert r.stdout == name + b"\n"
    async with asyncssh.connect(**lab.connect_kwargs(host.name)) as conn:
        r2 = await conn.run("ls /var/aegir/odd", encoding=None, check=True)
        assert r2.stdout == name + b"\n"
        async with conn.start_sftp_client() as sftp:
            assert name in await sftp.listdir(b"/var/aegir/odd")
    assert host.exec_in(["ls", "/var/aegir/odd"]).stdout == name.decode(errors="surrogateescape") + "\n"
