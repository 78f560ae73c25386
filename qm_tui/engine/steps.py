"""The steps of a quick migrate: each has *do*, *probe* and *undo*.

``do`` may be re-run after a crash (it checks where things are first); ``probe`` looks at the hosts
and answers done / not done / partial; ``undo`` is idempotent and tolerates half-done work. Steps
never decide from the journal alone: an unknown outcome is settled by ``probe``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from . import fileops
from .plan import MigrationContext
from .safety import sh_join
from .transport import CmdResult, Outcome

# ssh used by rsync on the hostmaster: a silent front is dropped within about a minute, never waited on.
SSH_OPTS = ("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=15 "
            "-o ServerAliveInterval=15 -o ServerAliveCountMax=3")


class Probe(StrEnum):
    DONE = "done"
    NOT_DONE = "not_done"
    PARTIAL = "partial"


class StepFailed(Exception):
    """The step's action failed; ``str()`` names host, step and cause."""


class StepUnknown(Exception):
    """The outcome is unknown (connection lost, timeout): settle it by probing."""


class Runtime(Protocol):
    ctx: MigrationContext

    async def sh(self, step: Step, host: str, cmd: str, *, display: str | None = None,
                 timeout: float | None = None, quiet: bool = False,
                 input: str | bytes | None = None) -> CmdResult: ...

    async def hostmaster_platform(self) -> int | None: ...

    def note(self, step: Step, host: str, line: str) -> None: ...

    async def with_db_credentials(self, step: Step, host: str, cmd_template: str,
                                  timeout: float | None = None) -> CmdResult: ...


def last_line(res: CmdResult, default: str = "") -> str:
    """What a failed command said last: its stderr's last line, else its stdout's."""
    return (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or [default])[-1].strip()


def expect_ok(step: Step, host: str, res: CmdResult, what: str) -> CmdResult:
    if res.outcome is Outcome.OK:
        return res
    tail = last_line(res)
    msg = f"{host}: {step.name}: {what} {res.error or 'failed'}" + (f": {tail}" if tail else "")
    if res.outcome is Outcome.UNKNOWN:
        raise StepUnknown(msg)
    raise StepFailed(msg)


def inodes(res: CmdResult) -> dict[str, int]:
    out = {}
    for line in res.stdout.splitlines():
        if line.startswith("@@INODE "):
            _, label, n = line.split()
            out[label] = int(n)
    return out


@dataclass
class Step:
    name: str
    host: str
    title: str
    group: str | None = None  # consecutive steps of one group run in parallel (one per front)
    long: bool = False
    # Bookkeeping (the hostmaster's record) is undone after every other step: the site comes back whole
    # and online first, even when the hostmaster cannot be updated.
    bookkeeping: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    def commands(self, ctx: MigrationContext) -> list[str]:
        return []

    def timeout(self, ctx: MigrationContext) -> float:
        return ctx.long_timeout if self.long else ctx.step_timeout

    async def do(self, rt: Runtime) -> None:
        for cmd in self.commands(rt.ctx):
            expect_ok(self, self.host, await rt.sh(self, self.host, cmd, timeout=self.timeout(rt.ctx)), "")

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        return None

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return []


def _truthy(text: str) -> bool:
    """drush prints a variable as JSON (``{"maintenance_mode":1}``, ``1``, ``"1"``, ``true``)."""
    import json

    try:
        value = json.loads(text.strip() or "null")
    except ValueError:
        value = text.strip()
    if isinstance(value, dict):
        value = next(iter(value.values()), None)
    return str(value).strip().lower() in ("1", "true")


async def _run(rt: Runtime, step: Step, host: str, cmd: str, what: str = "",
               timeout: float | None = None) -> CmdResult:
    res = await rt.sh(step, host, cmd, timeout=timeout or step.timeout(rt.ctx))
    return expect_ok(step, host, res, what)


# --- maintenance --------------------------------------------------------------------------------


class Maintenance(Step):
    def __init__(self, ctx: MigrationContext, on: bool) -> None:
        super().__init__("maintenance_on" if on else "maintenance_off", ctx.master,
                         "Maintenance mode " + ("on" if on else "off"))
        self.on = on

    def commands(self, ctx: MigrationContext) -> list[str]:
        major = ctx.src_major if self.on else ctx.dst_major
        return [ctx.drush("maintenance", major, value=1 if self.on else 0)]

    async def _state(self, rt: Runtime, major: int | None) -> str | None:
        res = await rt.sh(self, self.host, rt.ctx.drush("maintenance_get", major), quiet=True)
        if res.outcome is Outcome.FAILED and "No matching variable" in res.stdout + res.stderr:
            return "0"  # never set: Drupal's default is online
        if res.outcome is not Outcome.OK:
            return None
        return "1" if _truthy(res.stdout) else "0"

    async def probe(self, rt: Runtime) -> Probe:
        major = rt.ctx.src_major if self.on else rt.ctx.dst_major
        state = await self._state(rt, major)
        if state is None:
            raise StepUnknown(f"{self.host}: {self.name}: cannot read the maintenance state")
        return Probe.DONE if (state == "1") == self.on else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        # Undo of "on" is off (with the source core: the rollback puts the site back on it).
        major = rt.ctx.src_major
        await _run(rt, self, self.host, rt.ctx.drush("maintenance", major, value=0 if self.on else 1))

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(self.host, ctx.drush("maintenance", ctx.src_major, value=0 if self.on else 1))]


# --- files on the fronts ------------------------------------------------------------------------


class ParkFiles(Step):
    """Rename the site's files and private/files aside, on one front or on the hostmaster.

    On a cluster provision treats M's copy as authoritative (every later Aegir verify pushes it to
    the members with --delete), so M's copy moves with the site exactly like a front's: never
    deleted, never left behind on the old platform."""

    def __init__(self, ctx: MigrationContext, front: str) -> None:
        super().__init__("park_files", front, f"Park files on {front}", group="park")

    def commands(self, ctx: MigrationContext) -> list[str]:
        return [fileops.park(ctx.src_dir, ctx.park_dir)]

    async def do(self, rt: Runtime) -> None:
        res = await _run(rt, self, self.host, self.commands(rt.ctx)[0])
        self.data["inodes"] = inodes(res)

    async def probe(self, rt: Runtime) -> Probe:
        return await _where_probe(rt, self, rt.ctx.src_dir, rt.ctx.park_dir, want="park")

    async def undo(self, rt: Runtime) -> None:
        await _run(rt, self, self.host, fileops.unpark(rt.ctx.park_dir, rt.ctx.src_dir))

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(self.host, manual_mv(f"{ctx.park_dir}/files", f"{ctx.src_dir}/files")),
                (self.host, manual_mv(f"{ctx.park_dir}/private_files", f"{ctx.src_dir}/private/files"))]


def manual_mv(src: str, dst: str, clear: bool = True) -> str:
    """A move an operator can read and type: an empty leftover dir is removed first, never merged."""
    pre = f"rmdir {fileops.q(dst)} 2>/dev/null; " if clear else ""
    return f"{pre}mv -T {fileops.q(src)} {fileops.q(dst)}"


def manual_rm(site_dir: str) -> str:
    return (f"ls -A {fileops.q(site_dir + '/files')} {fileops.q(site_dir + '/private/files')}  "
            f"# both empty or absent? then: rm -rf {fileops.q(site_dir)}")


async def _where_probe(rt: Runtime, step: Step, site_dir: str, park_dir: str, want: str) -> Probe:
    res = await _run(rt, step, step.host, fileops.where_are_files(site_dir, park_dir), "probe")
    states = [line.split()[1] for line in res.stdout.splitlines() if line.strip()]
    if all(s == want for s in states):
        return Probe.DONE
    if all(s == ("site" if want == "park" else "park") for s in states):
        return Probe.NOT_DONE
    if "none" in states:
        raise StepFailed(f"{step.host}: {step.name}: files are in neither {site_dir} nor {park_dir}")
    return Probe.PARTIAL


class RestoreFiles(Step):
    """Move the parked files into the site dir on the target platform, on one front."""

    def __init__(self, ctx: MigrationContext, front: str) -> None:
        super().__init__("restore_files", front, f"Move files into the new site dir on {front}",
                         group="restore")

    def commands(self, ctx: MigrationContext) -> list[str]:
        return [fileops.unpark(ctx.park_dir, ctx.dst_dir)]

    async def do(self, rt: Runtime) -> None:
        res = await _run(rt, self, self.host, self.commands(rt.ctx)[0])
        self.data["inodes"] = inodes(res)

    async def probe(self, rt: Runtime) -> Probe:
        return await _where_probe(rt, self, rt.ctx.dst_dir, rt.ctx.park_dir, want="site")

    async def undo(self, rt: Runtime) -> None:
        await _run(rt, self, self.host, fileops.park(rt.ctx.dst_dir, rt.ctx.park_dir))

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(self.host, manual_mv(f"{ctx.dst_dir}/files", f"{ctx.park_dir}/files")),
                (self.host, manual_mv(f"{ctx.dst_dir}/private/files", f"{ctx.park_dir}/private_files"))]


class PushSite(Step):
    """rsync B/sites/S from M to one front; excluded paths (files) are protected from --delete."""

    def __init__(self, ctx: MigrationContext, front: str) -> None:
        super().__init__("push_site", ctx.master, f"Push the site dir to {front}", group="push", long=True)
        self.front = front

    def commands(self, ctx: MigrationContext) -> list[str]:
        # No trailing slash on the source, so the transfer root is sites/ and the anchored excludes name
        # <uri>/files (a `files` symlink is matched too): excluded paths are never deleted on the front.
        uri = ctx.uri
        return [sh_join(["rsync", "-a", "--delete", f"--exclude=/{uri}/files", f"--exclude=/{uri}/private/files",
                         "-e", SSH_OPTS,
                         ctx.dst_dir, f"{self.front}:{ctx.target.publish_path}/sites/"])]

    async def do(self, rt: Runtime) -> None:
        await _run(rt, self, self.front, fileops.guard_no_files(rt.ctx.dst_dir, rt.ctx.park_dir), "guard")
        await _run(rt, self, self.host, self.commands(rt.ctx)[0])

    async def probe(self, rt: Runtime) -> Probe:
        # rsync may have stopped half-way: a dir without settings.php is a partial copy to undo.
        complete = (await _run(rt, self, self.front, fileops.exists(rt.ctx.dst_dir + "/settings.php"))).stdout
        if complete.strip() == "yes":
            return Probe.DONE
        started = (await _run(rt, self, self.front, fileops.exists(rt.ctx.dst_dir))).stdout
        return Probe.PARTIAL if started.strip() == "yes" else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        await _run(rt, self, self.front, fileops.remove_site_dir(rt.ctx.dst_dir, rt.ctx.park_dir))

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(self.front, manual_rm(ctx.dst_dir))]


class RemoveOldSiteDir(Step):
    def __init__(self, ctx: MigrationContext, front: str) -> None:
        super().__init__("remove_old_site_dir", front, f"Remove the old site dir on {front}", group="remove")

    def commands(self, ctx: MigrationContext) -> list[str]:
        return [fileops.remove_site_dir(ctx.src_dir)]

    async def probe(self, rt: Runtime) -> Probe:
        res = await _run(rt, self, self.host, fileops.exists(rt.ctx.src_dir))
        return Probe.DONE if res.stdout.strip() == "no" else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        # The rollback verify on A pushes the code back; the parked files need the dir to exist.
        await _run(rt, self, self.host, sh_join(["mkdir", "-p", "--", rt.ctx.src_dir]))

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(self.host, sh_join(["mkdir", "-p", "--", ctx.src_dir]))]


class RemoveOldAliases(Step):
    """The site's alias records on the platform it left (``sites/sites.php``, D6 links), removed as
    provision's migrate does, on M and on every remote front (provision pushes sites.php to each).
    No undo: the rollback's verify on the source (MoveSiteDir's undo, later) writes them back, as
    provision's verify maintains a site's aliases."""

    def __init__(self, ctx: MigrationContext, host: str) -> None:
        super().__init__("remove_old_aliases", host, f"Remove the site's aliases from the old platform on {host}",
                         group="aliases")

    def commands(self, ctx: MigrationContext) -> list[str]:
        return [fileops.remove_aliases(ctx.source.publish_path, ctx.uri)]

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # re-running is harmless


# --- on the hostmaster ----------------------------------------------------------------------------


class FetchCode(Step):
    """A single remote web server (or a pack's master) is authoritative for the site dir, as in
    provision's fetch: its code, local.settings.php and all of private/ (D8+ config sync, temp) come to
    M first; the push carries them to the new site dir and the old one is removed. Only the files,
    moved by rename, are not copied."""

    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("fetch_code", ctx.master, f"Fetch the site's code and private/ from {ctx.authoritative_front}")

    def commands(self, ctx: MigrationContext) -> list[str]:
        # One rsync (one ssh session) for every part; a part missing on the front is skipped. Each
        # source's transfer root is the site dir, so /private/files is anchored there: never copied,
        # never deleted (excluded), and parked by then anyway.
        parts = [f"{ctx.authoritative_front}:{ctx.src_dir}/{p}"
                 for p in ("modules", "themes", "libraries", "local.settings.php", "private")]
        return [sh_join(["rsync", "-a", "--delete", "--ignore-missing-args", "--exclude=/private/files",
                         "-e", SSH_OPTS, *parts, ctx.src_dir + "/"])]

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # re-running the fetch is harmless


class MoveSiteDir(Step):
    """On M: A/sites/S -> B/sites/S. Its undo also puts the site's drush context back on A and verifies it
    there (the alias root drush needs for maintenance off; settings.php, vhosts and code on the fronts)."""

    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("move_site_dir", ctx.master, "Move the site dir to the new platform")

    def commands(self, ctx: MigrationContext) -> list[str]:
        return [fileops.script(fileops.move(ctx.src_dir, ctx.dst_dir, "site_dir"))]

    async def probe(self, rt: Runtime) -> Probe:
        ctx = rt.ctx
        a = (await _run(rt, self, self.host, fileops.exists(ctx.src_dir))).stdout.strip() == "yes"
        b = (await _run(rt, self, self.host, fileops.exists(ctx.dst_dir))).stdout.strip() == "yes"
        if a and b:
            raise StepFailed(f"{self.host}: {self.name}: both {ctx.src_dir} and {ctx.dst_dir} exist")
        return Probe.DONE if b else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        await _run(rt, self, self.host, fileops.script(
            f"if ex {fileops.q(ctx.dst_dir)}; then "
            + fileops.move(ctx.dst_dir, ctx.src_dir, "site_dir") + "; fi"))
        for cmd in source_context_commands(ctx)[:2]:  # hosting-import is HostingImport's undo, last
            if "provision-verify" in cmd:
                await guard_fronts(rt, self, ctx.src_dir)
            await _run(rt, self, self.host, cmd)

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(self.host, manual_mv(ctx.dst_dir, ctx.src_dir, clear=False))] + [
            (self.host, c) for c in source_context_commands(ctx)[:2]]


def source_context_commands(ctx: MigrationContext) -> list[str]:
    """The source's context back: provision-save, verify, hosting-import (and Aegir's verify task)."""
    src = ctx.source
    return [
        ctx.drush("provision_save", ctx.src_major, platform_context=src.context or "",
                  platform_root=src.publish_path, profile=ctx.source_profile),
        ctx.drush("verify", ctx.src_major),
        ctx.drush("import", ctx.src_major),
        *([ctx.drush("verify_task", ctx.src_major)] if ctx.aegir_verify_task else []),
    ]


async def guard_fronts(rt: Runtime, step: Step, site_dir: str) -> None:
    """Before anything pushes with --delete: no front (nor M) may have files inside ``site_dir`` (what
    traffic wrote into a skeleton while the real files are parked is set aside first, kept)."""
    hosts: Sequence[str] = list(dict.fromkeys([rt.ctx.master, *rt.ctx.fronts]))
    for host in hosts:
        await _run(rt, step, host, fileops.guard_no_files(site_dir, rt.ctx.park_dir), "guard")


class Drush(Step):
    def __init__(self, name: str, title: str, host: str, template: str, major_after: bool,
                 long: bool = False, **values: str) -> None:
        super().__init__(name, host, title, long=long)
        self.template, self.major_after, self.values = template, major_after, values

    def commands(self, ctx: MigrationContext) -> list[str]:
        major = ctx.dst_major if self.major_after else ctx.src_major
        return [ctx.drush(self.template, major, **self.values)]


class ProvisionSave(Drush):
    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("provision_save", "Save the site's Aegir context on the new platform", ctx.master,
                         "provision_save", True, platform_context=ctx.target.context or "",
                         platform_root=ctx.target.publish_path, profile=ctx.target_profile)

    async def probe(self, rt: Runtime) -> Probe:
        from .phpfiles import PhpParseError, parse_alias

        alias = f"{rt.ctx.aegir_root}/.drush/{rt.ctx.uri}.alias.drushrc.php"
        res = await _run(rt, self, self.host, sh_join(["cat", "--", alias]))
        try:
            values = parse_alias(res.stdout).get(rt.ctx.uri, {})
        except PhpParseError as exc:
            raise StepFailed(f"{self.host}: {self.name}: cannot read {alias}: {exc}") from None
        # Compare exactly: one platform's root can be a prefix of another's (drupal-7.98-b, -b-twin).
        done = values.get("root") == rt.ctx.target.publish_path
        return Probe.DONE if done else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        await _run(rt, self, self.host, source_context_commands(rt.ctx)[0])

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(self.host, source_context_commands(ctx)[0])]


class UpdateDb(Drush):
    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("updatedb", "Run database updates (updatedb)", ctx.master, "updatedb", True, long=True)

    async def probe(self, rt: Runtime) -> Probe:
        # Which updates ran cannot be told from outside: re-running is harmless (drush skips done ones)
        # and the undo restores the dump, so "partial" is always the safe answer.
        return Probe.PARTIAL

    async def undo(self, rt: Runtime) -> None:
        from .dbdump import restore_command

        res = await rt.with_db_credentials(self, self.host, restore_command(rt.ctx), timeout=rt.ctx.long_timeout)
        expect_ok(self, self.host, res, "restore of the database from the dump")

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:

        return [(self.host, f"# drop the site DB's tables, then: mariadb --defaults-extra-file=<0600 file with "
                            f"the credentials from {ctx.dst_dir}/drushrc.php> <db_name> < {ctx.dump_path}")]


class CacheClear(Drush):
    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("cache_clear", "Clear caches", ctx.master, "cache", True)

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.PARTIAL  # harmless to repeat; nothing to undo


class Verify(Drush):
    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("verify", "Verify the site (settings.php, vhost, push)", ctx.master, "verify", True,
                         long=True)

    async def do(self, rt: Runtime) -> None:
        await guard_fronts(rt, self, rt.ctx.dst_dir)
        await super().do(rt)

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.PARTIAL  # may have pushed to some fronts: redo, or undo its copies

    async def undo(self, rt: Runtime) -> None:
        # Verify pushed B/sites/S to the fronts; remove those copies (checked to hold no files).
        for front in rt.ctx.remote_fronts:
            await _run(rt, self, front, fileops.remove_site_dir(rt.ctx.dst_dir, rt.ctx.park_dir))

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(front, manual_rm(ctx.dst_dir)) for front in ctx.remote_fronts]


class HostingImport(Drush):
    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("hosting_import", "Update the hostmaster (hosting-import)", ctx.master, "import", True)
        self.bookkeeping = True

    async def do(self, rt: Runtime) -> None:
        await super().do(rt)
        platform = await rt.hostmaster_platform()
        if platform != rt.ctx.target.nid:
            raise StepFailed(f"{self.host}: {self.name}: the hostmaster still has the site on platform node "
                             f"{platform}, expected {rt.ctx.target.nid} ({rt.ctx.target.title})")

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.DONE if await rt.hostmaster_platform() == rt.ctx.target.nid else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        if await rt.hostmaster_platform() == ctx.source.nid:
            return  # the hostmaster never recorded the move (or already took it back): nothing to undo
        await _run(rt, self, self.host, source_context_commands(ctx)[2])
        platform = await rt.hostmaster_platform()
        if platform != ctx.source.nid:
            raise StepFailed(f"{self.host}: {self.name}: the hostmaster still has the site on platform node "
                             f"{platform}, expected {ctx.source.nid} ({ctx.source.title})")
        if ctx.aegir_verify_task:
            # The verify task may have recorded the module list on the target: record it on the source
            # (a warning, e.g. fronts whose files differ from M's copy, goes to the log).
            warning = await aegir_verify_task(rt, self, ctx.src_major, ctx.src_dir)
            if warning:
                rt.note(self, self.host, warning)

    def undo_commands(self, ctx: MigrationContext) -> list[tuple[str, str]]:
        return [(self.host, c) for c in source_context_commands(ctx)[2:]]


async def aegir_verify_task(rt: Runtime, step: Step, major: int | None, site_dir: str) -> str | None:
    """Run Aegir's verify task for the site now in ``site_dir``; what stops it is returned (a warning),
    never raised: the site is whole and where it should be, only Aegir's record of it is not refreshed
    (e.g. an Aegir verify of a site whose files are a symlink fails with rsync >= 3.4, before and after
    any migration)."""
    ctx = rt.ctx
    unsafe = await _fronts_differ(rt, step, site_dir)
    if unsafe:
        return (f"Aegir's verify task not run: the files on {', '.join(unsafe)} differ from the hostmaster's "
                f"copy, and on a cluster every Aegir verify replaces them with it (rsync --delete): make the "
                f"copies equal (or the files shared storage) before running a verify task for {ctx.uri} in Aegir")
    res = await rt.sh(step, step.host, ctx.drush("verify_task", major), timeout=ctx.long_timeout)
    if res.outcome is Outcome.OK:
        return None
    return (f"{step.host}: Aegir's verify task for {ctx.uri} failed ({last_line(res, res.error or 'failed')}): "
            f"Aegir's record of the "
            f"site (verified time, module list) is not refreshed; run a verify task in Aegir once fixed")


async def _fronts_differ(rt: Runtime, step: Step, site_dir: str) -> list[str]:
    """On a cluster the verify pushes M's copy of the files to every front with --delete: the fronts whose
    copy that push would change (paths, sizes, mtimes: rsync's quick check; or another symlink)."""
    ctx = rt.ctx
    if not ctx.is_cluster or ctx.master_is_front:
        return []
    prints = {}
    for host in (ctx.master, *ctx.remote_fronts):
        res = await _run(rt, step, host, fileops.files_fingerprint(site_dir), "fingerprint of the files")
        prints[host] = res.stdout.split()
    return [h for h in ctx.remote_fronts if prints[h] != prints[ctx.master]]


class AegirVerifyTask(Drush):
    """Aegir's own verify task, once the hostmaster has the site on its new platform: the front end gets
    a task node with its log, the site's verified time and its package instances on the new platform,
    as after Aegir's migrate (whose last act is such a verify). A failure is a warning in the run's
    result, not a reason to roll back. Its undo is HostingImport's."""

    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("aegir_verify_task", "Record the move in Aegir (a verify task)", ctx.master,
                         "verify_task", True, long=True)
        self.bookkeeping = True

    async def do(self, rt: Runtime) -> None:
        warning = await aegir_verify_task(rt, self, rt.ctx.dst_major, rt.ctx.dst_dir)
        if warning:
            self.data["warning"] = warning
            rt.note(self, self.host, warning)

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # another verify task is harmless


class DumpDb(Step):
    def __init__(self, ctx: MigrationContext) -> None:
        super().__init__("dump_db", ctx.master, "Dump the site's database", long=True)

    def commands(self, ctx: MigrationContext) -> list[str]:
        from .dbdump import dump_command

        return [dump_command(ctx)]

    async def do(self, rt: Runtime) -> None:
        from .dbdump import dump_command

        res = await rt.with_db_credentials(self, self.host, dump_command(rt.ctx), timeout=rt.ctx.long_timeout)
        expect_ok(self, self.host, res, "dump")

    async def probe(self, rt: Runtime) -> Probe:
        from .dbdump import verify_command

        res = await rt.sh(self, self.host, verify_command(rt.ctx))
        return Probe.DONE if res.outcome is Outcome.OK else Probe.NOT_DONE
