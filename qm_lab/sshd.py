"""System side of the lab hosts: the `aegir` user, capability check, keys, sshd config, namespaces.

Everything here runs as root on the controller. `hosts.py` builds the per-host lab on top of it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

SSHD = "/usr/sbin/sshd"  # sshd refuses to start unless run by absolute path
AEGIR_USER = "aegir"
AEGIR_HOME = "/var/aegir"
GLUSTER_MOUNT = "/srv/gluster"
# Set for every session by sshd's SetEnv (verified on OpenSSH 9.2: it overrides sshd's default PATH
# for commands; a *login* shell still re-reads /etc/profile, which resets PATH, as on a real host).
SESSION_PATH = "/var/aegir/bin:/usr/local/bin:/usr/bin:/bin"

_TOOLS = ("unshare", "nsenter", "setpriv", "ssh-keygen", "ssh", "mount", "umount", "useradd", "usermod")


def lab_unavailable_reason() -> str | None:
    """None when the host lab can run here, else a one-line reason (tests skip, or fail under CI)."""
    if os.geteuid() != 0:
        return "lab hosts need root (mount namespaces, sshd as root, user aegir)"
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} not found (install openssh-server)"
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        return "missing tools: " + ", ".join(missing)
    try:
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare -m failed: {e}"
    if r.returncode != 0:
        return f"unshare -m failed (no CAP_SYS_ADMIN?): {r.stderr.strip()[:200]}"
    return None


def _shadow_field(user: str) -> str | None:
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            parts = line.split(":")
            if parts[0] == user and len(parts) > 1:
                return parts[1]
    except OSError:
        pass
    return None


def _group_exists(name: str) -> bool:
    return subprocess.run(["getent", "group", name], capture_output=True).returncode == 0


def _run_tolerant(argv: list[str], ok_if: Callable[[], bool]) -> None:
    """Run an account command; a concurrent creator (another lab) may win the race, so re-check."""
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0 and not ok_if():
        raise RuntimeError(f"{' '.join(argv)} failed: {r.stderr.strip()}")


def ensure_aegir_user() -> pwd.struct_passwd:
    """Idempotently create user aegir (home /var/aegir, bash, groups aegir + www-data, password `*`)."""
    for group in ("www-data", AEGIR_USER):
        if not _group_exists(group):
            _run_tolerant(["groupadd", "--system", group], lambda g=group: _group_exists(g))
    try:
        pw = pwd.getpwnam(AEGIR_USER)
    except KeyError:
        _run_tolerant(["useradd", "--system", "--gid", AEGIR_USER, "--groups", "www-data", "--home-dir",
                       AEGIR_HOME, "--no-create-home", "--shell", "/bin/bash", AEGIR_USER], _user_exists)
        pw = pwd.getpwnam(AEGIR_USER)
    if pw.pw_dir != AEGIR_HOME or pw.pw_shell != "/bin/bash":
        subprocess.run(["usermod", "-d", AEGIR_HOME, "-s", "/bin/bash", AEGIR_USER], check=True)
    groups = subprocess.run(["id", "-nG", AEGIR_USER], capture_output=True, text=True).stdout.split()
    if "www-data" not in groups:
        subprocess.run(["usermod", "-a", "-G", "www-data", AEGIR_USER], check=True)
    # useradd leaves `!` (locked); sshd with UsePAM no refuses even key logins for locked accounts.
    if _shadow_field(AEGIR_USER) != "*":
        subprocess.run(["usermod", "-p", "*", AEGIR_USER], check=True)
    # Mount points in the root namespace (each host bind-mounts over them), and sshd's privsep dir.
    for d in (AEGIR_HOME, GLUSTER_MOUNT, "/run/sshd"):
        os.makedirs(d, mode=0o755, exist_ok=True)
    return pwd.getpwnam(AEGIR_USER)


def _user_exists() -> bool:
    try:
        pwd.getpwnam(AEGIR_USER)
        return True
    except KeyError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chown_aegir(path: Path, mode: int) -> None:
    pw = pwd.getpwnam(AEGIR_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, mode)


def write_file(path: Path, text: str, mode: int, aegir: bool = False) -> None:
    path.write_text(text)
    if aegir:
        chown_aegir(path, mode)
    else:
        os.chmod(path, mode)


def ssh_quote(path: Path | str) -> str:
    """Quote a path for ssh_config (OpenSSH and asyncssh both accept double quotes)."""
    s = str(path)
    return f'"{s}"' if any(c.isspace() for c in s) else s


def keygen(path: Path, comment: str) -> str:
    """Create an ed25519 key pair at `path` (kept if it exists); return the public key line."""
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                       check=True, capture_output=True)
    return path.with_name(path.name + ".pub").read_text().strip()


def render_sshd_config(port: int, hostdir: Path) -> str:
    return "\n".join([
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {hostdir / 'ssh_host_ed25519_key'}",
        f"PidFile {hostdir / 'sshd.pid'}",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin no",
        "Subsystem sftp internal-sftp",
        # Tests open many parallel sessions; the default 10:30:100 would drop some at random.
        "MaxStartups 100:30:200",
        "MaxSessions 20",
        "LogLevel VERBOSE",
        f"SetEnv PATH={SESSION_PATH}",
        # No PerSourcePenalties: OpenSSH 9.2 (Debian 12) rejects the keyword as fatal.
        "",
    ])


def check_sshd_config(cfg: Path) -> None:
    r = subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"sshd -t rejected {cfg}: {r.stderr.strip()}")


# Mount the host's tree (and shared dirs) in a fresh private mount namespace, then become sshd.
# Paths come in as positional parameters, never spliced into the script.
_NS_SCRIPT = ('set -e; mount --bind "$1" /var/aegir; cfg=$2; shift 2; '
              'while [ $# -gt 0 ]; do mount --bind "$1" "$2"; shift 2; done; '
              f'exec {SSHD} -D -e -f "$cfg"')


def spawn_sshd(tree: Path, cfg: Path, mounts: list[tuple[Path, str]], log: Path) -> subprocess.Popen[bytes]:
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", _NS_SCRIPT, "sh", str(tree), str(cfg)]
    for src, dst in mounts:
        argv += [str(src), dst]
    with open(log, "ab") as logf:
        # Own session: a terminal's Ctrl-C / SIGSTOP must not reach the "servers".
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=True)


# ---- processes and mount namespaces -------------------------------------------------------------

def mnt_ns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:  # gone, or a zombie (no namespaces left)
        return None


def proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after "pid (comm)"


def proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="surrogateescape") for a in raw.split(b"\0") if a]


def pids_in_ns(ns: str) -> list[int]:
    """Every live process whose mount namespace is `ns`. Refuses the controller's own namespace."""
    if ns == mnt_ns("self"):
        raise RuntimeError("refusing to act on the controller's own mount namespace")
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and mnt_ns(p) == ns]


def signal_ns(ns: str, sig: int) -> list[int]:
    pids = pids_in_ns(ns)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def kill_ns(ns: str, timeout: float = 10.0) -> None:
    """SIGKILL everything in the namespace until nothing is left (a session may fork meanwhile)."""
    deadline = time.monotonic() + timeout
    while signal_ns(ns, signal.SIGKILL):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes survive in {ns}: {pids_in_ns(ns)}")
        time.sleep(0.02)


def freeze_ns(ns: str, timeout: float = 10.0) -> None:
    """SIGSTOP everything until every process in the namespace is stopped (none can fork any more)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = signal_ns(ns, signal.SIGSTOP)
        time.sleep(0.02)
        if all(proc_state(p) in ("T", "t", None) for p in pids) and set(pids_in_ns(ns)) <= set(pids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not freeze {ns}")


# Every running lab sshd is recorded here, so a later run can kill those of a controller that died
# (SIGKILL, OOM) without closing its lab. sshd rewrites its argv, so the cmdline cannot be relied on.
REGISTRY = Path("/run/qm-tui-lab")


def _me() -> str:
    return f"{os.getpid()} {proc_start_time(os.getpid())}"


def register(sshd_pid: int, ns: str) -> None:
    REGISTRY.mkdir(mode=0o700, exist_ok=True)
    (REGISTRY / str(sshd_pid)).write_text(f"{_me()} {proc_start_time(sshd_pid)} {ns}\n")


def unregister(sshd_pid: int) -> None:
    (REGISTRY / str(sshd_pid)).unlink(missing_ok=True)


def reap_orphans() -> None:
    """Kill registered sshds (and everything in their namespaces) whose controller is gone.

    Labs of live controllers (parallel test runs) are left alone; an entry whose sshd is no longer the
    same process (pid reused) is just dropped."""
    if not REGISTRY.is_dir():
        return
    for entry in REGISTRY.iterdir():
        try:
            owner, owner_start, sshd_start, ns = entry.read_text().split()
            sshd_pid = int(entry.name)
        except (OSError, ValueError):
            entry.unlink(missing_ok=True)
            continue
        if proc_start_time(int(owner)) == owner_start:
            continue
        if proc_start_time(sshd_pid) == sshd_start and mnt_ns(sshd_pid) == ns and ns != mnt_ns("self"):
            kill_ns(ns)
        entry.unlink(missing_ok=True)
