"""Quick rename: the site gets a new name on its own platform (Aegir's migrate task with a new URI and
the same platform). Its files directory is renamed with the site dir, never copied, on every host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ...errors import QmError
from ..fileops import q
from ..hostmaster_db import HostmasterDB
from ..safety import UnsafeValue, check_uri
from ..steps import (
    CacheClear,
    DeleteOldAlias,
    FixDbPaths,
    MoveSiteDir,
    ProvisionSave,
    RemoveOldVhosts,
    RenameRecord,
    Step,
    Verify,
)
from ..steps.rename import record_problem
from ..steps.site import alias_path
from ..transport import Outcome
from .base import Operation, Prepared, Summary, closing_steps, put_back_steps, register, set_aside_steps, site_facts
from .context import SiteMoveContext, build_context

if TYPE_CHECKING:
    from ...config import Config
    from ..journal import Journal
    from ..model import SiteRecord
    from ..transport import TransportPool


@dataclass(frozen=True)
class RenameContext(SiteMoveContext):
    kind: ClassVar[str] = "rename"


def build_steps(ctx: SiteMoveContext) -> list[Step]:
    steps = [*set_aside_steps(ctx), MoveSiteDir(ctx), ProvisionSave(ctx)]
    if ctx.src_major is not None and ctx.src_major < 8:  # D8+ keeps no sites/<uri> path in its database
        steps.append(FixDbPaths(ctx))
    # The old name's vhosts go before the verify under the new name: its web server reload then stops
    # serving the old name.
    steps += [RemoveOldVhosts(ctx, h) for h in (ctx.master, *ctx.remote_fronts)]
    steps += [Verify(ctx), CacheClear(ctx), *put_back_steps(ctx), DeleteOldAlias(ctx)]
    return [*steps, *closing_steps(ctx, RenameRecord(ctx))]


@register
class Rename(Operation):
    kind = "rename"
    context = RenameContext
    noun = "rename"
    verb = "Rename"

    @classmethod
    async def prepare(cls, cfg: Config, uri: str, arg: str, strict: bool, run_id: str) -> Prepared:
        from .. import service

        new_uri = arg.strip().lower().rstrip(".")
        try:
            check_uri(new_uri)
        except UnsafeValue:
            raise QmError(f"new name {arg!r} is not a valid host name") from None
        st = await service.targets(cfg, uri, strict=strict, only=service.OWN)
        if new_uri == st.site.uri:
            raise QmError(f"{st.site.uri} already has that name")
        async with HostmasterDB(cfg.hostmaster.db) as db:
            aliases = await db.site_aliases(st.site.nid)
        ctx = build_context(RenameContext, cfg, run_id, st.site, st.source, st.source, aliases=aliases,
                            new_uri=new_uri, **site_facts(cfg, st))
        return Prepared(cls, ctx, build_steps(ctx))

    @classmethod
    def steps(cls, ctx: SiteMoveContext) -> list[Step]:
        return build_steps(ctx)

    @classmethod
    async def preflight(cls, prep: Prepared, pool: TransportPool, journal: Journal, cfg: Config) -> list[str]:
        ctx = prep.ctx
        problems = await super().preflight(prep, pool, journal, cfg)
        try:
            async with HostmasterDB(cfg.hostmaster.db) as db:
                uses = await db.name_uses(ctx.dst_uri)
        except QmError as exc:
            return [*problems, str(exc)]
        problems += [f"{ctx.dst_uri} is already used in the hostmaster: {u}" for u in uses]
        try:
            m = await pool.get(ctx.connect_name(ctx.master))
        except QmError:
            return problems  # the generic preflight said why
        alias = alias_path(ctx, ctx.dst_uri)
        res = await m.run(f"[ -e {q(alias)} ] && echo yes || echo no", timeout=60)
        if res.outcome is Outcome.OK and res.stdout.strip() == "yes":
            problems.append(f"{ctx.master}: the drush alias {alias} already exists")
        return problems

    @classmethod
    def summary(cls, ctx: SiteMoveContext) -> Summary:
        return Summary(cls.kind, ctx.src_uri, ctx.src_uri, ctx.dst_uri)

    @classmethod
    def done_problem(cls, ctx: SiteMoveContext, rec: SiteRecord | None) -> str | None:
        return record_problem(ctx, rec, ctx.dst_uri)

    @classmethod
    def success(cls, ctx: SiteMoveContext) -> str:
        return f"{ctx.src_uri} is now {ctx.dst_uri} (on {ctx.target.title})"

    @classmethod
    def confirm_token(cls, ctx: SiteMoveContext) -> str:
        return ctx.dst_uri

    @classmethod
    def describe(cls, ctx: SiteMoveContext) -> str:
        return (f"Rename {ctx.src_uri} to {ctx.dst_uri} on {ctx.source.title} ({', '.join(ctx.fronts)}); "
                "its aliases and redirection are kept.")
