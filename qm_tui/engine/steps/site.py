"""Steps that run drush on the site or on the hostmaster: maintenance, the site's Aegir context,
verify, database updates, caches, and the hostmaster's record of the site."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import fileops
from ..safety import sh_join
from ..transport import Outcome
from .base import (
    Command,
    Probe,
    Role,
    Runtime,
    Step,
    StepFailed,
    StepUnknown,
    expect_ok,
    last_line,
    manual_rm,
    run,
    run_sh,
    sites_php_lock,
    truthy,
)
from .files import (
    aliases_display,
    guard_commands,
    guard_fronts,
    names_display,
    remove_display,
    source_context_commands,
)

if TYPE_CHECKING:
    from ..operations.context import SiteMoveContext


class Maintenance(Step):
    """On under the site's old name and core, off under its new ones. Each undo runs while the site is
    where that step left it: "on" is undone last (the site back as it was), "off" first."""

    def __init__(self, ctx: SiteMoveContext, on: bool) -> None:
        super().__init__("maintenance_on" if on else "maintenance_off", ctx.master,
                         "Maintenance mode " + ("on" if on else "off"))
        self.on = on

    def _drush(self, ctx: SiteMoveContext, name: str, **values: str | int) -> str:
        return ctx.drush_src(name, **values) if self.on else ctx.drush_dst(name, **values)

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, self._drush(ctx, "maintenance", value=1 if self.on else 0))]

    async def _state(self, rt: Runtime) -> str | None:
        res = await rt.sh(self, self.host, self._drush(rt.ctx, "maintenance_get"), quiet=True)
        if res.outcome is Outcome.FAILED and "No matching variable" in res.stdout + res.stderr:
            return "0"  # never set: Drupal's default is online
        if res.outcome is not Outcome.OK:
            return None
        return "1" if truthy(res.stdout) else "0"

    async def probe(self, rt: Runtime) -> Probe:
        state = await self._state(rt)
        if state is None:
            raise StepUnknown(f"{self.host}: {self.name}: cannot read the maintenance state")
        return Probe.DONE if (state == "1") == self.on else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        await run_sh(rt, self, self.host, self.undo_commands(rt.ctx)[0][1])

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, self._drush(ctx, "maintenance", value=0 if self.on else 1))]


class Drush(Step):
    """One drush command on M, on the site as it will be (``after``) or as it was."""

    def __init__(self, name: str, title: str, host: str, template: str, after: bool,
                 long: bool = False, **values: str) -> None:
        super().__init__(name, host, title, long=long)
        self.template, self.after, self.values = template, after, values

    def drush_command(self, ctx: SiteMoveContext) -> str:
        return (ctx.drush_dst if self.after else ctx.drush_src)(self.template, **self.values)

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, self.drush_command(ctx))]


# A site context's options a renamed site keeps (provision-save copies d()->options); the rest (uri,
# platform, root, site_path, profile, aliases, redirection) come from the template.
INHERITED = ("db_server", "client_name", "language", "site_enabled", "cron_key", "install_method")


def _option(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def alias_path(ctx: SiteMoveContext, uri: str) -> str:
    return f"{ctx.aegir_root}/.drush/{uri}.alias.drushrc.php"


class ProvisionSave(Drush):
    def __init__(self, ctx: SiteMoveContext) -> None:
        title = f"Save the site's Aegir context as {ctx.dst_uri}" if ctx.renamed else \
            "Save the site's Aegir context on the new platform"
        super().__init__("provision_save", title, ctx.master,
                         "provision_save", True, platform_context=ctx.target.context or "",
                         platform_root=ctx.target.publish_path, profile=ctx.target_profile)

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        if not ctx.renamed:
            return super().commands(ctx)
        return [Command(self.host, f"cat -- {fileops.q(alias_path(ctx, ctx.src_uri))}",
                        f"read the options of @{ctx.src_uri} (db_server, client_name, language...)", role=Role.CHECK),
                Command(self.host, self.drush_command(ctx), self.drush_command(ctx) + " + those options")]

    async def do(self, rt: Runtime) -> None:
        """A renamed site's new context starts as a copy of the old one's options, as provision's migrate
        saves the target with ``d()->options`` (client, db server, language, cron key), with the new uri,
        platform, root and profile."""
        from ..phpfiles import PhpParseError, parse_alias

        ctx = rt.ctx
        if not ctx.renamed:
            return await super().do(rt)
        read = self.commands(ctx)[0]
        res = expect_ok(self, self.host, await rt.sh(self, self.host, read.script, display=read.display, quiet=True),
                        "reading the old alias")
        try:
            old = parse_alias(res.stdout).get(ctx.src_uri, {})
        except PhpParseError as exc:
            raise StepFailed(f"{self.host}: {self.name}: cannot read @{ctx.src_uri}'s alias: {exc}") from None
        extra = [f"--{k}={_option(old[k])}" for k in INHERITED if k in old and old[k] is not None]
        await run_sh(rt, self, self.host, self.drush_command(ctx) + " " + sh_join(extra),
                     display=self.commands(ctx)[1].display)

    async def probe(self, rt: Runtime) -> Probe:
        from ..phpfiles import PhpParseError, parse_alias

        ctx = rt.ctx
        alias = alias_path(ctx, ctx.dst_uri)
        res = await rt.sh(self, self.host, f"cat -- {fileops.q(alias)} 2>/dev/null || true")
        expect_ok(self, self.host, res, "")
        try:
            values = parse_alias(res.stdout).get(ctx.dst_uri, {}) if res.stdout.strip() else {}
        except PhpParseError as exc:
            raise StepFailed(f"{self.host}: {self.name}: cannot read {alias}: {exc}") from None
        # Compare exactly: one platform's root can be a prefix of another's (drupal-7.98-b, -b-twin).
        done = values.get("root") == ctx.target.publish_path and values.get("uri", ctx.dst_uri) == ctx.dst_uri
        return Probe.DONE if done else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        for _host, cmd in self.undo_commands(rt.ctx):
            await run_sh(rt, self, self.host, cmd)

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        # A renamed site's new alias goes (as provision-save --delete does); the old one comes back.
        delete = [ctx.drush_dst("delete_alias")] if ctx.renamed else []
        return [(self.host, c) for c in (*delete, source_context_commands(ctx)[0])]


class UpdateDb(Drush):
    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("updatedb", "Run database updates (updatedb)", ctx.master, "updatedb", True, long=True)

    async def probe(self, rt: Runtime) -> Probe:
        # Which updates ran cannot be told from outside: re-running is harmless (drush skips done ones)
        # and the undo restores the dump, so "partial" is always the safe answer.
        return Probe.PARTIAL

    async def undo(self, rt: Runtime) -> None:
        await restore_dump(rt, self)

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return restore_dump_manual(ctx, self.host)


async def restore_dump(rt: Runtime, step: Step) -> None:
    from ..dbdump import restore_command

    ctx = rt.ctx
    res = await rt.with_db_credentials(step, step.host, restore_command(ctx), timeout=ctx.long_timeout,
                                       display=f"mariadb <site db> < {ctx.dump_path}  # drop its tables, then import")
    expect_ok(step, step.host, res, "restore of the database from the dump")


def restore_dump_manual(ctx: SiteMoveContext, host: str) -> list[tuple[str, str]]:
    return [(host, f"# drop the site DB's tables, then: mariadb --defaults-extra-file=<0600 file with "
                   f"the credentials from {ctx.dst_dir}/drushrc.php> <db_name> < {ctx.dump_path}")]


class CacheClear(Drush):
    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("cache_clear", "Clear caches", ctx.master, "cache", True)

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.PARTIAL  # harmless to repeat; nothing to undo


class Verify(Drush):
    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("verify", "Verify the site (settings.php, vhost, push)", ctx.master, "verify", True,
                         long=True)

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [*guard_commands(ctx, ctx.dst_dir), *super().commands(ctx)]

    async def do(self, rt: Runtime) -> None:
        guards, verify = self.commands(rt.ctx)[:-1], self.commands(rt.ctx)[-1]
        for cmd in guards:
            await run(rt, self, cmd)
        async with sites_php_lock(rt.ctx.target.publish_path):  # verify rewrites and pushes sites.php
            await run(rt, self, verify)

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.PARTIAL  # may have pushed to some fronts: redo, or undo its copies

    async def undo(self, rt: Runtime) -> None:
        # Verify pushed the new site dir to the fronts; remove those copies (checked to hold no files).
        ctx = rt.ctx
        for front in ctx.remote_fronts:
            await run_sh(rt, self, front, fileops.remove_site_dir(ctx.dst_dir, ctx.park_dir),
                         display=remove_display(ctx.dst_dir))
        if ctx.renamed:
            # ...and what it wrote under the new name: vhosts, client link, sites.php records.
            for host in (ctx.master, *ctx.remote_fronts):
                await run_sh(rt, self, host, fileops.remove_site_names(ctx.aegir_root, ctx.dst_uri),
                             display=names_display(ctx, ctx.dst_uri))
                async with sites_php_lock(ctx.target.publish_path):
                    await run_sh(rt, self, host, fileops.remove_aliases(ctx.target.publish_path, ctx.dst_uri),
                                 display=aliases_display(ctx.target.publish_path, ctx.dst_uri))

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        out = [(front, manual_rm(ctx.dst_dir)) for front in ctx.remote_fronts]
        if ctx.renamed:
            out += [(h, names_display(ctx, ctx.dst_uri)) for h in (ctx.master, *ctx.remote_fronts)]
        return out


class HostingImport(Drush):
    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("hosting_import", "Update the hostmaster (hosting-import)", ctx.master, "import", True)
        self.bookkeeping = True

    async def do(self, rt: Runtime) -> None:
        await super().do(rt)
        rec = await rt.hostmaster_record()
        platform = rec.platform if rec else None
        if platform != rt.ctx.target.nid:
            raise StepFailed(f"{self.host}: {self.name}: the hostmaster still has the site on platform node "
                             f"{platform}, expected {rt.ctx.target.nid} ({rt.ctx.target.title})")

    async def probe(self, rt: Runtime) -> Probe:
        rec = await rt.hostmaster_record()
        return Probe.DONE if rec and rec.platform == rt.ctx.target.nid else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        rec = await rt.hostmaster_record()
        if rec and rec.platform == ctx.source.nid:
            return  # the hostmaster never recorded the move (or already took it back): nothing to undo
        await run_sh(rt, self, self.host, source_context_commands(ctx)[2])
        rec = await rt.hostmaster_record()
        platform = rec.platform if rec else None
        if platform != ctx.source.nid:
            raise StepFailed(f"{self.host}: {self.name}: the hostmaster still has the site on platform node "
                             f"{platform}, expected {ctx.source.nid} ({ctx.source.title})")
        await record_source_in_aegir(rt, self)

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, c) for c in source_context_commands(ctx)[2:]]


async def record_source_in_aegir(rt: Runtime, step: Step) -> None:
    """After a rollback's hosting-import: the verify task may have recorded the module list on the target;
    record it on the source (a warning, e.g. fronts whose files differ from M's copy, goes to the log)."""
    ctx = rt.ctx
    if ctx.aegir_verify_task:
        warning = await aegir_verify_task(rt, step, ctx.drush_src("verify_task"), ctx.src_dir)
        if warning:
            rt.note(step, step.host, warning)


def fingerprint_commands(ctx: SiteMoveContext, site_dir: str) -> list[Command]:
    """On a cluster: whether each front's files equal M's copy (Aegir's verify pushes M's with --delete)."""
    if not ctx.is_cluster or ctx.master_is_front:
        return []
    return [Command(h, fileops.files_fingerprint(site_dir), f"fingerprint of {site_dir}/files (rsync's quick check)",
                    role=Role.CHECK) for h in (ctx.master, *ctx.remote_fronts)]


async def aegir_verify_task(rt: Runtime, step: Step, task_cmd: str, site_dir: str) -> str | None:
    """Run Aegir's verify task for the site now in ``site_dir``; what stops it is returned (a warning),
    never raised: the site is whole and where it should be, only Aegir's record of it is not refreshed
    (e.g. an Aegir verify of a site whose files are a symlink fails with rsync >= 3.4, before and after
    any migration)."""
    ctx = rt.ctx
    prints = {c.host: (await run(rt, step, c, "fingerprint of the files")).stdout.split()
              for c in fingerprint_commands(ctx, site_dir)}
    unsafe = [h for h in ctx.remote_fronts if h in prints and prints[h] != prints[ctx.master]]
    uri = ctx.dst_uri if site_dir == ctx.dst_dir else ctx.src_uri
    if unsafe:
        return (f"Aegir's verify task not run: the files on {', '.join(unsafe)} differ from the hostmaster's "
                f"copy, and on a cluster every Aegir verify replaces them with it (rsync --delete): make the "
                f"copies equal (or the files shared storage) before running a verify task for {uri} in Aegir")
    async with sites_php_lock(ctx.target.publish_path if site_dir == ctx.dst_dir else ctx.source.publish_path):
        res = await rt.sh(step, step.host, task_cmd, timeout=ctx.long_timeout)
    if res.outcome is Outcome.OK:
        return None
    return (f"{step.host}: Aegir's verify task for {uri} failed ({last_line(res, res.error or 'failed')}): "
            f"Aegir's record of the "
            f"site (verified time, module list) is not refreshed; run a verify task in Aegir once fixed")


class AegirVerifyTask(Drush):
    """Aegir's own verify task, once the hostmaster has the site where it now is: the front end gets
    a task node with its log, the site's verified time and its package instances on the new platform,
    as after Aegir's migrate (whose last act is such a verify). A failure is a warning in the run's
    result, not a reason to roll back. Its undo is the record step's."""

    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("aegir_verify_task", "Record the move in Aegir (a verify task)", ctx.master,
                         "verify_task", True, long=True)
        self.bookkeeping = True

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [*fingerprint_commands(ctx, ctx.dst_dir), *super().commands(ctx)]

    async def do(self, rt: Runtime) -> None:
        warning = await aegir_verify_task(rt, self, self.drush_command(rt.ctx), rt.ctx.dst_dir)
        if warning:
            self.data["warning"] = warning
            rt.note(self, self.host, warning)

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # another verify task is harmless


class PostCheck(Drush):
    """The site answers from where it now is: ``drush @site core-status`` bootstraps it (database
    connected), from the new platform's root and the site's own dir. Last, once it is online: a failure
    rolls the run back (maintenance on again first)."""

    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("post_check", "Check the site bootstraps where it now is (drush status)", ctx.master,
                         "status", True)

    async def do(self, rt: Runtime) -> None:
        import json

        ctx = rt.ctx
        res = await run(rt, self, self.commands(ctx)[0], "drush status")
        try:
            status = json.loads(res.stdout[res.stdout.index("{"):])
        except ValueError:
            raise StepFailed(f"{self.host}: {self.name}: drush status printed no JSON") from None
        want = {"bootstrap": "Successful", "root": ctx.target.publish_path, "site": f"sites/{ctx.dst_uri}"}
        wrong = [f"{k} is {status.get(k)!r}, expected {v!r}" for k, v in want.items() if status.get(k) != v]
        if wrong:
            raise StepFailed(f"{self.host}: {self.name}: {ctx.dst_uri}: " + "; ".join(wrong))

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # it only reads: run it again


__all__ = ["AegirVerifyTask", "CacheClear", "Drush", "HostingImport", "Maintenance", "PostCheck", "ProvisionSave",
           "UpdateDb", "Verify", "aegir_verify_task", "alias_path", "guard_fronts", "record_source_in_aegir",
           "restore_dump", "restore_dump_manual"]
