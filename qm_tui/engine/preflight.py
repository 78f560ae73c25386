"""Read-only checks before anything changes: every problem is listed, with its host."""

from __future__ import annotations

import asyncio
import re
import shlex

from ..config import DbConfig
from ..errors import QmError
from . import fileops
from .dbdump import option_file, size_command
from .eligibility import TargetVerdict
from .journal import Journal
from .model import SiteStatus
from .operations.context import SiteMoveContext
from .phpfiles import PhpParseError, parse_alias, parse_drushrc
from .preflight_aegir import AegirNow, freshness_problems, read_aegir, task_problems
from .safety import UnsafeValue, check_host, sh_join
from .steps.base import SSH_OPTS
from .transport import Outcome, Transport, TransportPool

q = shlex.quote
DUMP_HEADROOM = 1.2
DUMP_MIN_FREE = 16 * 1024 * 1024
# Device and mount point of a path, bind mounts included (see fileops' fsid).
FSID = ("fsid() { echo \"$(stat -c %d -- \"$1\") $(findmnt -n -o TARGET -T \"$1\" 2>/dev/null "
        "|| stat -c %m -- \"$1\")\"; }; fsid")


class Refused(QmError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("preflight refused: " + "; ".join(problems))
        self.problems = problems


async def _out(t: Transport, cmd: str, input: str | None = None) -> tuple[bool, str]:
    res = await t.run(cmd, input=input, timeout=60)
    return res.outcome is Outcome.OK, (res.stdout if res.outcome is Outcome.OK else (res.stderr or res.error or ""))


async def preflight(ctx: SiteMoveContext, verdict: TargetVerdict | None, pool: TransportPool, journal: Journal,
                    hostmaster: DbConfig) -> list[str]:
    """Every problem, with its host. Reads the hostmaster afresh (``hostmaster``): the queue and verify
    times count as they are right before the run acts, not as they were when it was planned."""
    problems: list[str] = []
    if verdict is not None and not verdict.selectable:
        problems += [f"target {ctx.target.title}: {r}" for r in verdict.reasons]
    if ctx.site.status is not SiteStatus.ENABLED:
        problems.append(f"site {ctx.uri} is {ctx.site.status.label}, not enabled")
    if not ctx.fronts:
        problems.append(f"platform {ctx.source.title} has no web front in the hostmaster")
    aegir: AegirNow | None = None
    try:
        aegir = await read_aegir(ctx, hostmaster)
        problems += task_problems(ctx, aegir.tasks)
    except QmError as exc:
        problems.append(str(exc))
    for name in ctx.lock_keys:
        for run in journal.active_runs_for(name):
            problems.append(f"run {run.id} ({run.public_state}) holds {name}; see: qm-tui run show {run.id}")

    hosts = list(dict.fromkeys([ctx.master, *ctx.fronts]))
    transports: dict[str, Transport] = {}
    for host in hosts:
        try:
            transports[host] = await pool.get(ctx.connect_name(host))
        except QmError as exc:
            problems.append(str(exc))
    if ctx.master not in transports:
        return problems
    m = transports[ctx.master]

    tools = [ctx.drush_cmd, "rsync", "mariadb-dump|mysqldump", "mariadb|mysql"]
    for tool in tools:
        alts = " || ".join(f"command -v {q(t)}" for t in tool.split("|"))
        ok, _ = await _out(m, f"{alts} >/dev/null")
        if not ok:
            problems.append(f"{ctx.master}: {tool.split('|')[0]} is not installed (or not on PATH)")

    checks = [_front_checks(ctx, front, transports[front]) for front in ctx.fronts if front in transports]
    if ctx.remote_fronts:
        checks.append(_master_to_fronts(ctx, m))
    if aegir is not None:
        front = transports.get(ctx.authoritative_front) if ctx.authoritative_front else None
        checks.append(freshness_problems(ctx, aegir.verified, m, front))
    for res in await asyncio.gather(*checks):
        problems += res
    if not ctx.master_is_front:
        ok, out = await _out(m, fileops.exists(ctx.src_dir))
        if out.strip() != "yes":
            problems.append(f"{ctx.master}: {ctx.src_dir} does not exist (Aegir's copy of the site)")
        problems += await _exists_problems(ctx, ctx.master, m)
    problems += await _dump_space(ctx, m)
    return problems


async def _exists_problems(ctx: SiteMoveContext, host: str, t: Transport) -> list[str]:
    out = []
    ok, res = await _out(t, fileops.exists(ctx.dst_dir))
    if res.strip() == "yes":
        out.append(f"{host}: {ctx.dst_dir} already exists")
    ok, res = await _out(t, f"ls -d -- {q(ctx.park_glob_dir)}/{q(ctx.uri)}.* 2>/dev/null || true")
    for path in res.split():
        run_id = path.rsplit(f"{ctx.uri}.", 1)[-1]
        out.append(f"{host}: parking dir {path} from run {run_id} exists; see: qm-tui run show {run_id}")
    for lock in ctx.lock_dirs:
        ok, res = await _out(t, f"if [ -d {q(lock)} ]; then cat -- {q(lock)}/owner 2>/dev/null || echo unknown; fi")
        if ok and res.strip():
            out.append(f"{host}: lock {lock} is held ({res.strip()})")
    return out


async def _front_checks(ctx: SiteMoveContext, front: str, t: Transport) -> list[str]:
    out: list[str] = []
    for tool in ("rsync", "mv", "stat", "mountpoint", *(("curl",) if ctx.http_check else ())):
        ok, _ = await _out(t, f"command -v {tool} >/dev/null")
        if not ok:
            out.append(f"{front}: {tool} is not installed")
    ok, res = await _out(t, fileops.exists(ctx.src_dir))
    if res.strip() != "yes":
        return out + [f"{front}: {ctx.src_dir} does not exist"]
    ok, res = await _out(t, fileops.exists(f"{ctx.target.publish_path}/sites"))
    if res.strip() != "yes":
        out.append(f"{front}: the target platform is not on this front ({ctx.target.publish_path}/sites missing)")
    # Where the park dir will be: its nearest existing parent decides the filesystem and mount.
    park_parent = (f"p={q(ctx.park_glob_dir)}; while [ ! -e \"$p\" ]; do p=$(dirname -- \"$p\"); done; "
                   + FSID + " \"$p\"")
    ok, park_fs = await _out(t, park_parent)
    for rel in ("files", "private/files"):
        path = f"{ctx.src_dir}/{rel}"
        ok, res = await _out(t, fileops.exists(path))
        if res.strip() != "yes":
            out.append(f"{front}: {path} is missing")
            continue
        ok, _ = await _out(t, sh_join(["mountpoint", "-q", "--", path]))
        if ok:
            out.append(f"{front}: {path} is a mount point; mv cannot rename it")
            continue
        ok, fs = await _out(t, f"{FSID} {q(path.rsplit('/', 1)[0])}")
        if ok and park_fs.strip() and fs.strip() != park_fs.strip():
            out.append(f"{front}: {path} ({fs.strip()}) and the parking place {ctx.park_glob_dir} "
                       f"({park_fs.strip()}) are on different filesystems or mounts; mv would copy")
    return out + await _exists_problems(ctx, front, t)


_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
# On M, for one front: ssh exactly as qm-tui's rsync (`front`) and provision's (`user@host`) will; the
# second only when `ssh -G` says it is another connection (user, host name, port or options differ).
_SSH_SCRIPT = (
    "command -v ssh >/dev/null || {{ echo '@@NOSSH'; exit 1; }}; "
    "chk() {{ o=$({ssh} \"$1\" true 2>&1 </dev/null) && return 0; printf '@@SSH %s\\n%s\\n' \"$1\" \"$o\"; "
    "return 1; }}; "
    "a=$(ssh -G {plain} 2>/dev/null); b=$(ssh -G \"${{u:-$(id -un)}}\"@{host} 2>/dev/null); "
    "chk {plain} || exit 1; "
    "if [ -z \"$a\" ] || [ \"$a\" != \"$b\" ]; then chk \"${{u:-$(id -un)}}\"@{host} || exit 1; fi"
)


async def _master_to_fronts(ctx: SiteMoveContext, m: Transport) -> list[str]:
    """M must reach every remote front over SSH as the run will (rsync pushes, provision-verify's sync):
    a wrong known_hosts line on M would otherwise refuse the run only mid-way, in verify."""
    servers = await _server_aliases(ctx, m)
    default_user = str(servers.get("server_master", {}).get("script_user") or "")
    results = await asyncio.gather(*(_ssh_from_master(ctx, m, front, servers, default_user)
                                     for front in ctx.remote_fronts))
    return [p for res in results for p in res]


async def _server_aliases(ctx: SiteMoveContext, m: Transport) -> dict[str, dict[str, object]]:
    """M's server contexts (one command for all): provision syncs to script_user@remote_host of each."""
    drush_dir = q(f"{ctx.aegir_root}/.drush")
    ok, text = await _out(m, f"for f in {drush_dir}/server_*.alias.drushrc.php; do [ -f \"$f\" ] || continue; "
                             "printf '\\n@@ALIAS\\n'; cat -- \"$f\"; done")
    servers: dict[str, dict[str, object]] = {}
    for chunk in text.split("\n@@ALIAS\n")[1:] if ok else []:
        try:
            parsed = parse_alias(chunk)
        except PhpParseError:
            continue  # an unreadable context is provision-verify's to report; test the plain form
        servers.update({k: v for k, v in parsed.items() if isinstance(v, dict)})
    return servers


async def _ssh_from_master(ctx: SiteMoveContext, m: Transport, front: str,
                           servers: dict[str, dict[str, object]], default_user: str) -> list[str]:
    rec = next((r for r in servers.values() if r.get("context_type") == "server"
                and str(r.get("remote_host") or "").lower() == front.lower()), {})
    host, user = str(rec.get("remote_host") or front), str(rec.get("script_user") or default_user)
    try:
        check_host(host)
    except UnsafeValue as exc:
        return [f"{ctx.master}: the server context of {front}: {exc}"]
    if user and not _USER.fullmatch(user):
        return [f"{ctx.master}: the server context of {front}: script_user {user!r} is not a plain user name"]
    script = _SSH_SCRIPT.format(ssh=SSH_OPTS, plain=q(front), host=q(host))
    res = await m.run(f"u={q(user)}; {script}", timeout=90)
    if res.outcome is Outcome.OK:
        return []
    out = (res.stdout + res.stderr).replace("\r", "")
    if "@@NOSSH" in out:
        return [f"{ctx.master}: ssh is not installed (or not on PATH); it must reach {front}"]
    target, _, text = out.partition("@@SSH ")[2].partition("\n")
    if not target:  # the check itself did not run (connection to M lost, timeout)
        return [f"{ctx.master} → {front}: cannot test SSH: {res.error or out.strip() or 'failed'}"]
    return [f"{ctx.master} → {target.strip()}: {ssh_cause(text)}"]


def ssh_cause(text: str) -> str:
    """OpenSSH's multi-line complaint as one line: what failed and, if it says so, the known_hosts line."""
    low = text.lower()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("@@@")]
    if "host key verification failed" in low:
        where = re.search(r"offending \S+ key in (\S+)", text, re.I)
        if "identification has changed" in low:
            return ("host key verification failed (its key differs from the one in "
                    + (where.group(1) if where else "known_hosts") + ")")
        if "no " in low and "host key is known" in low:
            return "host key verification failed (no key for it in known_hosts)"
        return "host key verification failed"
    for needle, cause in (("permission denied", "login refused"), ("connection refused", "connection refused"),
                          ("timed out", "unreachable (timed out)"), ("could not resolve", "cannot resolve the name"),
                          ("no route to host", "unreachable (no route to host)")):
        if needle in low:
            return f"{cause}: {next(ln for ln in lines if needle in ln.lower())}"
    return lines[-1] if lines else "ssh failed"


async def _dump_space(ctx: SiteMoveContext, m: Transport) -> list[str]:
    ok, text = await _out(m, sh_join(["cat", "--", f"{ctx.src_dir}/drushrc.php"]))
    if not ok:
        return [f"{ctx.master}: cannot read {ctx.src_dir}/drushrc.php (the site's DB credentials)"]
    try:
        cnf, db = option_file(parse_drushrc(text), ctx.db_socket)
    except (PhpParseError, QmError) as exc:
        return [f"{ctx.master}: {ctx.src_dir}/drushrc.php: {exc}"]
    ok, size = await _out(m, size_command().replace("{db}", q(db)), input=cnf)
    if not ok:
        return [f"{ctx.master}: cannot read the size of database {db}: {size.strip()}"]
    dump_parent = (f"p={q(ctx.dump_path.rsplit('/', 1)[0])}; while [ ! -e \"$p\" ]; do p=$(dirname -- \"$p\"); "
                   "done; df -B1 --output=avail -- \"$p\" | tail -n 1")
    ok, avail = await _out(m, dump_parent)
    try:
        need = int(float(size.strip() or 0) * DUMP_HEADROOM) + DUMP_MIN_FREE
        have = int(avail.strip())
    except ValueError:
        return [f"{ctx.master}: cannot tell the free space for the dump ({avail.strip()})"]
    if have < need:
        return [f"{ctx.master}: {have // 2**20} MiB free for the dump in {ctx.dump_path.rsplit('/', 1)[0]}, "
                f"need about {need // 2**20} MiB"]
    return []
