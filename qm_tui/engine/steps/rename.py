"""Steps only a rename needs: the hostmaster's record of the site under its new name, and the old
name's drush alias removed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..fileops import q
from .base import Command, Probe, Runtime, Step, StepFailed, run_sh
from .files import source_context_commands
from .site import alias_path, record_source_in_aegir

if TYPE_CHECKING:
    from ..model import SiteRecord
    from ..operations.context import SiteMoveContext


def record_problem(ctx: SiteMoveContext, rec: SiteRecord | None, uri: str) -> str | None:
    """Why the hostmaster's record is not the site under ``uri`` on its platform (None: it is)."""
    if rec is None:
        return f"the hostmaster has no site node {ctx.site.nid}"
    if rec.title != uri or rec.context != uri:
        return f"the hostmaster has site node {ctx.site.nid} as {rec.title!r} (context {rec.context!r}), expected {uri}"
    if rec.platform != ctx.target.nid:
        return f"the hostmaster has the site on platform node {rec.platform}, expected {ctx.target.nid}"
    return None


class RenameRecord(Step):
    """The site node's title and context become the new name (as ``hosting_migrate``'s post-task hook
    does for a rename), then hosting-import refreshes it from the new alias (aliases, redirection and
    profile kept). Importing the new alias first would create a second site node, queued for install."""

    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("hosting_rename", ctx.master, f"Rename the site in the hostmaster ({ctx.dst_uri})")
        self.bookkeeping = True

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        return [Command(self.host, ctx.drush_dst("rename_record")), Command(self.host, ctx.drush_dst("import"))]

    async def do(self, rt: Runtime) -> None:
        await super().do(rt)
        problem = record_problem(rt.ctx, await rt.hostmaster_record(), rt.ctx.dst_uri)
        if problem:
            raise StepFailed(f"{self.host}: {self.name}: {problem}")

    async def probe(self, rt: Runtime) -> Probe:
        rec = await rt.hostmaster_record()
        return Probe.DONE if rec and rec.context == rt.ctx.dst_uri else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        if record_problem(ctx, await rt.hostmaster_record(), ctx.src_uri) is None:
            return  # never renamed there (or already taken back)
        for _host, cmd in self.undo_commands(ctx):
            await run_sh(rt, self, self.host, cmd)
        problem = record_problem(ctx, await rt.hostmaster_record(), ctx.src_uri)
        if problem:
            raise StepFailed(f"{self.host}: {self.name}: {problem}")
        await record_source_in_aegir(rt, self)

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, ctx.drush_src("rename_record")), (self.host, source_context_commands(ctx)[2])]


def aside_alias_path(ctx: SiteMoveContext) -> str:
    return f"{ctx.aegir_root}/.qm-tui/aliases/{ctx.src_uri}.alias.drushrc.php.{ctx.run_id}"


class DeleteOldAlias(Step):
    """The old name's drush alias goes, once the site is whole under its new name (provision-save @old
    --delete), by a rename aside: its undo puts that same file back, with every option the site's context
    had (db server, client, language), which a provision-save from scratch would not know."""

    def __init__(self, ctx: SiteMoveContext) -> None:
        super().__init__("delete_old_alias", ctx.master, f"Delete the drush alias @{ctx.src_uri}")

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        a, b = q(alias_path(ctx, ctx.src_uri)), q(aside_alias_path(ctx))
        return [Command(self.host, f"mkdir -p -m 0700 -- {q(aside_alias_path(ctx).rsplit('/', 1)[0])} && "
                                   f"if [ -e {a} ]; then mv -f -- {a} {b}; fi",
                        f"mv {a} {b}  # the alias, kept aside (as provision-save @{ctx.src_uri} --delete)")]

    async def probe(self, rt: Runtime) -> Probe:
        alias = q(alias_path(rt.ctx, rt.ctx.src_uri))
        res = await run_sh(rt, self, self.host, f"[ -e {alias} ] && echo yes || echo no")
        return Probe.DONE if res.stdout.strip() == "no" else Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        ctx = rt.ctx
        a, b = q(alias_path(ctx, ctx.src_uri)), q(aside_alias_path(ctx))
        res = await run_sh(rt, self, self.host, f"if [ ! -e {a} ] && [ -e {b} ]; then mv -- {b} {a}; fi; "
                                                f"[ -e {a} ] && echo yes || echo no", display=f"mv {b} {a}")
        if res.stdout.strip().endswith("no"):  # neither: saved again (its extra options are lost)
            await run_sh(rt, self, self.host, source_context_commands(ctx)[0])

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        return [(self.host, f"mv {q(aside_alias_path(ctx))} {q(alias_path(ctx, ctx.src_uri))}")]
