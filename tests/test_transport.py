"""Command transports against real OpenSSH sshd lab hosts, and LocalTransport on this machine."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from qm_lab.hosts import HostLab, HostSpec, LabHost, lab_unavailable_reason
from qm_tui.config import SshConfig
from qm_tui.engine.safety import UnsafeValue
from qm_tui.engine.transport import (
    LocalTransport,
    Outcome,
    SshTransport,
    Transport,
    TransportError,
    TransportPool,
)
from qm_tui.engine.transport_base import OUTPUT_LIMIT
from qm_tui.engine.transport_local import group_alive

H1, H2 = "t1.lab.test", "t2.lab.test"
GRACE = 1.0  # kill grace in tests (production default: 10 s)
# Sleeps get a per-process fraction, so parallel test runs never see each other's processes.
_U = f"{os.getpid() % 1000000:06d}"


def sleep(n: int) -> str:
    return f"sleep {n}.{_U}"


async def until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _pgrp(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])


class Lines:
    """on_line / on_pgid recorder."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str, str]] = []
        self.pgid: int | None = None
        self.got_pgid = asyncio.Event()

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((time.monotonic(), stream, line))

    def on_pgid(self, pgid: int) -> None:
        self.pgid = pgid
        self.got_pgid.set()

    def texts(self) -> list[tuple[str, str]]:
        return [(s, t) for _, s, t in self.lines]


# ---- shared behaviour: both transports ----------------------------------------------------------

async def check_outcomes(t: Transport) -> None:
    r = await t.run("echo hi; echo err >&2")
    assert (r.outcome, r.exit_status, r.stdout, r.stderr, r.error) == (Outcome.OK, 0, "hi\n", "err\n", None)
    assert r.ok and r.pgid is not None and r.pgid > 1
    r = await t.run("echo partial; exit 23")
    assert (r.outcome, r.exit_status, r.error, r.stdout) == (Outcome.FAILED, 23, "exit 23", "partial\n")
    r = await t.run("false | true")  # pipefail
    assert (r.outcome, r.error) == (Outcome.FAILED, "exit 1")
    r = await t.run("kill -TERM $$")
    assert (r.outcome, r.exit_status, r.error) == (Outcome.FAILED, None, "killed by SIGTERM")
    r = await t.run("cat; printf 'no newline'", input="line1\nline2\n")
    assert r.stdout == "line1\nline2\nno newline"
    r = await t.run("wc -c", input=b"x" * 3_000_000)  # more than any channel window
    assert r.stdout.strip() == "3000000"
    r = await t.run("cat")  # no input: stdin is at EOF at once
    assert r.ok and r.stdout == ""


async def check_bad_utf8_and_bounded_output(t: Transport) -> None:
    rec = Lines()
    r = await t.run(r"printf 'caf\351 ok\n'; printf '\377\376\n' >&2", on_line=rec)
    assert r.ok and r.stdout == "caf\ufffd ok\n" and r.stderr == "\ufffd\ufffd\n"
    assert sorted(rec.texts()) == [("stderr", "\ufffd\ufffd"), ("stdout", "caf\ufffd ok")]  # no order across streams
    r = await t.run("yes abcdefg | head -n 100000; echo END")  # 800 kB
    assert r.ok and OUTPUT_LIMIT - 8 <= len(r.stdout) <= OUTPUT_LIMIT and r.stdout.endswith("abcdefg\nEND\n")


async def check_streaming(t: Transport) -> None:
    rec = Lines()
    start = time.monotonic()
    r = await t.run("echo one; sleep 1; echo two >&2; sleep 1; echo three", on_line=rec)
    end = time.monotonic()
    assert r.ok and rec.texts() == [("stdout", "one"), ("stderr", "two"), ("stdout", "three")]
    first, second, third = (ts for ts, _, _ in rec.lines)
    assert first - start < 0.9 and end - first > 1.5, "first line must arrive while the command runs"
    assert 0.7 < second - first < 2.5 and 0.7 < third - second < 2.5


async def check_pgid(t: Transport, pids: Callable[..., list[int]]) -> None:
    rec = Lines()
    task = asyncio.create_task(t.run(sleep(3021), on_pgid=rec.on_pgid))
    await asyncio.wait_for(rec.got_pgid.wait(), 10)
    assert not task.done()
    await until(lambda: bool(pids(sleep(3021))), what="the remote sleep")
    (pid,) = pids(sleep(3021))
    assert pid == rec.pgid and _pgrp(pid) == rec.pgid  # exec'd: the command is its group's leader
    r = await t.run("cut -d' ' -f5 /proc/self/stat | cat")  # a pipeline: every stage in the group
    assert r.ok and int(r.stdout) == r.pgid
    assert await t.kill_group(rec.pgid)
    r = await task
    assert (r.outcome, r.error, r.pgid) == (Outcome.FAILED, "killed by SIGTERM", rec.pgid)


async def check_timeout(t: Transport, pids: Callable[..., list[int]]) -> None:
    start = time.monotonic()
    r = await t.run(f"{sleep(3031)} & {sleep(3032)}; wait", timeout=1)
    assert (r.outcome, r.exit_status, r.error) == (Outcome.UNKNOWN, None, "timed out after 1 s")
    assert time.monotonic() - start < 1 + GRACE
    assert pids(sleep(3031), sleep(3032)) == []
    # A command that ignores TERM gets KILL after the grace period.
    start = time.monotonic()
    r = await t.run(f"trap '' TERM; {sleep(3041)} & {sleep(3042)}; wait", timeout=0.5)
    assert (r.outcome, r.error) == (Outcome.UNKNOWN, "timed out after 0.5 s")
    assert 0.5 + GRACE <= time.monotonic() - start < 0.5 + GRACE + 6
    assert pids(sleep(3041), sleep(3042)) == []


async def check_cancel(t: Transport, pids: Callable[..., list[int]]) -> None:
    rec = Lines()
    task = asyncio.create_task(t.run(f"{sleep(3051)} & {sleep(3052)}; wait", on_pgid=rec.on_pgid))
    await asyncio.wait_for(rec.got_pgid.wait(), 10)
    await until(lambda: len(pids(sleep(3051), sleep(3052))) == 2, what="both sleeps")
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < GRACE + 3
    assert pids(sleep(3051), sleep(3052)) == []
    assert (await t.run("echo still usable")).ok


async def check_callback_error(t: Transport, pids: Callable[..., list[int]]) -> None:
    def journal(stream: str, line: str) -> None:
        if line == "go":
            raise RuntimeError("journal full")

    with pytest.raises(RuntimeError, match="journal full"):
        await t.run(f"echo go; {sleep(3091)} & {sleep(3092)}; wait", on_line=journal)
    assert pids(sleep(3091), sleep(3092)) == []

    def no_journal(pgid: int) -> None:
        raise RuntimeError("cannot journal the pgid")

    with pytest.raises(RuntimeError, match="cannot journal"):
        await t.run(f"{sleep(3093)} & {sleep(3094)}; wait", on_pgid=no_journal)
    await asyncio.sleep(0.3)  # had it survived, the command would have started its sleeps by now
    assert pids(sleep(3093), sleep(3094)) == []


# ---- LocalTransport (no lab: never skipped) -----------------------------------------------------

def local_pids(*cmds: str) -> list[int]:
    mine = os.getpid()
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != mine and _pid_alive(int(p)):
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.strip() in cmds:
                out.append(int(p))
    return out


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport("localhost", kill_grace=GRACE)


async def test_local_outcomes(local: LocalTransport) -> None:
    assert local.is_local
    await check_outcomes(local)


async def test_local_bad_utf8_and_bounded_output(local: LocalTransport) -> None:
    await check_bad_utf8_and_bounded_output(local)


async def test_local_streaming(local: LocalTransport) -> None:
    await check_streaming(local)


async def test_local_pgid(local: LocalTransport) -> None:
    await check_pgid(local, local_pids)


async def test_local_timeout_kills_group(local: LocalTransport) -> None:
    await check_timeout(local, local_pids)


async def test_local_cancel_kills_group(local: LocalTransport) -> None:
    await check_cancel(local, local_pids)


async def test_local_callback_error_kills_group(local: LocalTransport) -> None:
    await check_callback_error(local, local_pids)


async def test_local_kill_group_refuses_bad_groups(local: LocalTransport) -> None:
    for bad in (0, 1, -5):
        with pytest.raises(ValueError):
            await local.kill_group(bad)
    with pytest.raises(ValueError):
        await local.kill_group(os.getpgrp())


async def test_local_write_private_file(local: LocalTransport, tmp_path: Path) -> None:
    target = tmp_path / "creds.cnf"
    target.write_text("old and longer content\n")
    target.chmod(0o644)
    await local.write_private_file(str(target), b"[client]\npassword=s3cret\n")
    assert target.read_bytes() == b"[client]\npassword=s3cret\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    await local.write_private_file(str(tmp_path / "new"), b"x")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["creds.cnf", "new"]
    with pytest.raises(TransportError, match=r"^localhost: cannot write /nonexistent/x: No such file"):
        await local.write_private_file("/nonexistent/x", b"x")


def test_local_runs_do_not_pay_for_asyncssh() -> None:
    """asyncssh takes ~0.2 s to import; every CLI call on a single-server layout would pay it."""
    code = ("import sys, qm_tui.engine.runner, qm_tui.engine.transport as t; assert 'asyncssh' not in sys.modules; "
            "t.SshTransport; assert 'asyncssh' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loading_the_ssh_transport_prints_no_warning() -> None:
    """A library's warning on stderr would come before `run <ID>` for anyone reading both streams."""
    code = "import qm_tui.engine.transport as t; t.SshTransport"
    res = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, check=True)
    assert res.stderr == ""


async def test_pool_hands_out_one_transport_per_host(tmp_path: Path) -> None:
    pool = TransportPool(SshConfig(config_file=None, known_hosts=tmp_path / "kh"))
    t = await pool.get("localhost")
    assert isinstance(t, LocalTransport) and await pool.get("localhost") is t
    ssh_t = pool.transport("web1.example.org")
    assert isinstance(ssh_t, SshTransport) and pool.transport("web1.example.org") is ssh_t
    with pytest.raises(UnsafeValue):
        pool.transport("web1; touch /tmp/x")
    with pytest.raises(TransportError, match=r"^web1\.example\.org: cannot read known_hosts file"):
        await pool.get("web1.example.org")
    await pool.close_all()


def test_group_alive_ignores_zombies() -> None:
    # An orphaned zombie (PID 1 may never reap it) must not count as a live group member.
    p = subprocess.Popen(["sleep", "0"], start_new_session=True)
    time.sleep(0.3)
    assert _pgrp(p.pid) == p.pid and not _pid_alive(p.pid)  # a zombie, not reaped yet
    assert not group_alive(p.pid)
    p.wait()


# ---- SshTransport against the lab -----------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostLab]:
    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(reason)  # the conftest turns this into a failure under CI=true
    lab = HostLab(tmp_path_factory.mktemp("transportlab"), [HostSpec(H1), HostSpec(H2)], master=None).start()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def ssh_cfg(lab: HostLab) -> SshConfig:
    return SshConfig(config_file=lab.ssh_config, known_hosts=lab.known_hosts, client_keys=(lab.client_key,),
                     user="aegir", connect_timeout=5, keepalive_interval=1, keepalive_count_max=3)


@pytest.fixture
async def t1(ssh_cfg: SshConfig):  # type: ignore[no-untyped-def]
    t = SshTransport(H1, ssh_cfg, kill_grace=GRACE)
    yield t
    await t.close()


def lab_pids(host: LabHost) -> Callable[..., list[int]]:
    return lambda *cmds: [p.pid for p in host.processes() if " ".join(p.cmdline) in cmds]


lab_tests = pytest.mark.lab


@lab_tests
async def test_ssh_outcomes(t1: SshTransport) -> None:
    assert not t1.is_local
    await check_outcomes(t1)


@lab_tests
async def test_ssh_bad_utf8_keeps_the_connection(t1: SshTransport) -> None:
    await t1.connect()
    conn = t1._conn
    await check_bad_utf8_and_bounded_output(t1)
    r = await t1.run("echo after")
    assert r.ok and r.stdout == "after\n" and t1._conn is conn and not conn.is_closed()  # type: ignore[union-attr]


@lab_tests
async def test_ssh_streaming(t1: SshTransport) -> None:
    await check_streaming(t1)


@lab_tests
async def test_ssh_pgid_is_the_remote_process_group(t1: SshTransport, lab: HostLab) -> None:
    await check_pgid(t1, lab_pids(lab[H1]))


@lab_tests
async def test_ssh_timeout_kills_remote_group(t1: SshTransport, lab: HostLab) -> None:
    await check_timeout(t1, lab_pids(lab[H1]))


@lab_tests
async def test_ssh_cancel_kills_remote_group(t1: SshTransport, lab: HostLab) -> None:
    await check_cancel(t1, lab_pids(lab[H1]))


@lab_tests
async def test_ssh_callback_error_kills_remote_group(t1: SshTransport, lab: HostLab) -> None:
    await check_callback_error(t1, lab_pids(lab[H1]))


@lab_tests
async def test_ssh_busy_channels_block_neither_cancel_nor_kill(t1: SshTransport, lab: HostLab) -> None:
    pids = lab_pids(lab[H1])
    groups: dict[int, int] = {}
    busy = [asyncio.create_task(t1.run(sleep(3101), on_pgid=lambda g, i=i: groups.__setitem__(i, g)))
            for i in range(8)]
    await until(lambda: len(pids(sleep(3101))) == 8, what="8 sleeps")
    queued = asyncio.create_task(t1.run("echo never"))
    await asyncio.sleep(0.3)
    assert not queued.done()
    start = time.monotonic()
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert time.monotonic() - start < 0.5  # it was only waiting for a channel: nothing to kill
    start = time.monotonic()
    assert await t1.kill_group(groups[0])  # uses the 2 channels kept back for kills
    assert time.monotonic() - start < GRACE
    assert (await asyncio.wait_for(busy[0], 10)).error == "killed by SIGTERM"
    for task in busy[1:]:
        task.cancel()
    await asyncio.gather(*busy[1:], return_exceptions=True)
    assert pids(sleep(3101)) == []


@lab_tests
async def test_ssh_at_most_8_channels(t1: SshTransport) -> None:
    running, peak = 0, 0

    def started(_: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)

    async def one(i: int) -> str:
        nonlocal running
        r = await t1.run(f"sleep 0.5; echo {i}", on_pgid=started)
        running -= 1
        return r.stdout

    assert await asyncio.gather(*(one(i) for i in range(12))) == [f"{i}\n" for i in range(12)]
    assert peak == 8


@lab_tests
async def test_ssh_host_stopped_mid_command_then_reconnects(t1: SshTransport, lab: HostLab) -> None:
    host = lab[H1]
    rec = Lines()
    task = asyncio.create_task(t1.run(sleep(3061), on_pgid=rec.on_pgid))
    await asyncio.wait_for(rec.got_pgid.wait(), 10)
    start = time.monotonic()
    try:
        await asyncio.to_thread(host.stop)
        r = await asyncio.wait_for(task, 10)
        assert (r.outcome, r.exit_status, r.pgid) == (Outcome.UNKNOWN, None, rec.pgid)
        assert r.error is not None and r.error.startswith("connection lost")
        assert time.monotonic() - start < 5
        with pytest.raises(TransportError, match=rf"^{H1}: unreachable \(.*[Rr]efused"):
            await t1.run("echo down")
    finally:
        await asyncio.to_thread(host.start)
    r = await t1.run("echo back")
    assert r.ok and r.stdout == "back\n"


@lab_tests
async def test_ssh_frozen_host_is_unknown_within_keepalive(t1: SshTransport, lab: HostLab) -> None:
    host = lab[H1]
    rec = Lines()
    task = asyncio.create_task(t1.run(sleep(3071), on_pgid=rec.on_pgid))
    await until(lambda: bool(lab_pids(host)(sleep(3071))), what="the remote sleep")
    start = time.monotonic()
    await asyncio.to_thread(host.freeze)
    try:
        r = await asyncio.wait_for(task, 20)
        assert time.monotonic() - start < 15
        assert r.outcome is Outcome.UNKNOWN and r.error is not None and "connection lost" in r.error
    finally:
        await asyncio.to_thread(host.thaw)
    assert rec.pgid is not None and lab_pids(host)(sleep(3071))  # no pty: it outlives its connection
    assert await t1.kill_group(rec.pgid)  # over a new connection
    assert lab_pids(host)(sleep(3071)) == []


@lab_tests
async def test_ssh_kill_group_after_the_connection_died(t1: SshTransport, lab: HostLab) -> None:
    pids = lab_pids(lab[H1])
    rec = Lines()
    task = asyncio.create_task(t1.run(f"{sleep(3081)} & {sleep(3082)}; wait", on_pgid=rec.on_pgid))
    await asyncio.wait_for(rec.got_pgid.wait(), 10)
    await until(lambda: len(pids(sleep(3081), sleep(3082))) == 2, what="both sleeps")
    assert t1._conn is not None
    t1._conn.abort()  # drop the TCP connection at once, as a network cut would
    r = await asyncio.wait_for(task, 10)
    assert r.outcome is Outcome.UNKNOWN and r.pgid == rec.pgid
    await asyncio.sleep(0.5)
    assert len(pids(sleep(3081), sleep(3082))) == 2  # closing the channel/connection does not kill them
    assert rec.pgid is not None and await t1.kill_group(rec.pgid)
    assert pids(sleep(3081), sleep(3082)) == []
    assert await t1.kill_group(rec.pgid)  # already gone: still True, nothing else touched
    with pytest.raises(ValueError):
        await t1.kill_group(1)


@lab_tests
async def test_ssh_unknown_or_changed_host_key_refused(ssh_cfg: SshConfig, lab: HostLab, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    t = SshTransport(H1, replace(ssh_cfg, known_hosts=empty))
    with pytest.raises(TransportError, match=rf"^{H1}: host key not trusted \(ssh-ed25519 SHA256:\S+ is not in"):
        await t.run("touch /var/aegir/must-not-exist")
    assert not (lab[H1].root / "must-not-exist").exists()
    wrong = tmp_path / "wrong"
    wrong.write_text(f"[127.0.0.1]:{lab[H1].port} {lab[H2].host_key}\n")
    t = SshTransport(H1, replace(ssh_cfg, known_hosts=wrong))
    with pytest.raises(TransportError, match=rf"^{H1}: host key CHANGED \(ssh-ed25519 SHA256:"):
        await t.connect()
    fp = subprocess.run(["ssh-keygen", "-lf", str(lab[H1].dir / "ssh_host_ed25519_key.pub")],
                        capture_output=True, text=True, check=True).stdout.split()[1]
    with pytest.raises(TransportError, match=re.escape(fp)):
        await t.connect()


@lab_tests
async def test_ssh_login_refused_and_user_from_config(ssh_cfg: SshConfig, lab: HostLab, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    t = SshTransport(H1, replace(ssh_cfg, client_keys=(stranger,)))
    with pytest.raises(TransportError, match=rf"^{H1}: login refused for user aegir$"):
        await t.connect()
    # The lab's config sets `User aegir`: it wins over ssh.user.
    t = SshTransport(H1, replace(ssh_cfg, user="nobody"))
    assert (await t.run("id -un")).stdout == "aegir\n"
    await t.close()
    # Without a User in the config, ssh.user is used.
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host {H1}\n    HostName 127.0.0.1\n    Port {lab[H1].port}\n")
    for user, ok in (("aegir", True), ("nobody", False)):
        t = SshTransport(H1, replace(ssh_cfg, config_file=cfg, user=user))
        if ok:
            assert (await t.run("id -un")).stdout == "aegir\n"
            await t.close()
        else:
            with pytest.raises(TransportError, match="login refused for user nobody"):
                await t.connect()


@lab_tests
async def test_ssh_write_private_file(t1: SshTransport, lab: HostLab) -> None:
    root = lab[H1].root
    d = root / "private"
    d.mkdir()
    os.chown(d, root.stat().st_uid, root.stat().st_gid)
    target = d / "db.cnf"
    target.write_text("old and longer content\n")
    os.chown(target, root.stat().st_uid, root.stat().st_gid)
    target.chmod(0o644)
    await t1.write_private_file("/var/aegir/private/db.cnf", b"[client]\npassword=s3cret\n")
    assert target.read_bytes() == b"[client]\npassword=s3cret\n"
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == root.stat().st_uid
    await t1.write_private_file("/var/aegir/private/new", b"\x00\xff binary")
    assert (d / "new").read_bytes() == b"\x00\xff binary" and stat.S_IMODE((d / "new").stat().st_mode) == 0o600
    assert sorted(p.name for p in d.iterdir()) == ["db.cnf", "new"]  # no temp file left
    with pytest.raises(TransportError, match=rf"^{H1}: cannot write /var/aegir/nope/x: "):
        await t1.write_private_file("/var/aegir/nope/x", b"x")


@lab_tests
async def test_ssh_pool_reuses_one_connection(ssh_cfg: SshConfig) -> None:
    pool = TransportPool(ssh_cfg, kill_grace=GRACE)
    a = await pool.get(H1)
    b = await pool.get(H2)
    assert a is await pool.get(H1) and a is not b
    conn = a._conn  # type: ignore[attr-defined]
    results = await asyncio.gather(*(a.run(f"echo {i}") for i in range(5)), b.run("hostname"))
    assert all(r.ok for r in results) and a._conn is conn  # type: ignore[attr-defined]
    await pool.close_all()
    assert conn.is_closed()

