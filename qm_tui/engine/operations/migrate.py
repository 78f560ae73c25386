"""Quick migrate: the site to another platform, same name. Its files never move off their filesystem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..hostmaster_db import HostmasterDB
from ..steps import CacheClear, HostingImport, MoveSiteDir, ProvisionSave, Step, UpdateDb, Verify
from .base import Operation, Prepared, Summary, closing_steps, put_back_steps, register, set_aside_steps, site_facts
from .context import SiteMoveContext, build_context

if TYPE_CHECKING:
    from ...config import Config
    from ..model import SiteRecord


@dataclass(frozen=True)
class MigrationContext(SiteMoveContext):
    kind: ClassVar[str] = "migrate"


def build_steps(ctx: SiteMoveContext) -> list[Step]:
    # Verify before updatedb, as provision's deploy rewrites settings.php first: the old settings.php
    # includes the source platform's settings and the site's local.settings.php by absolute path,
    # gone with the move, so updates would run without the site's own overrides.
    return [*set_aside_steps(ctx), MoveSiteDir(ctx), ProvisionSave(ctx), Verify(ctx), UpdateDb(ctx), CacheClear(ctx),
            *put_back_steps(ctx), *closing_steps(ctx, HostingImport(ctx))]


@register
class Migrate(Operation):
    kind = "migrate"
    context = MigrationContext
    noun = "migration"
    verb = "Migrate"

    @classmethod
    async def prepare(cls, cfg: Config, uri: str, arg: str, strict: bool, run_id: str) -> Prepared:
        from .. import service

        st = await service.targets(cfg, uri, strict=strict, only=arg)
        verdict = st.verdicts[0]
        async with HostmasterDB(cfg.hostmaster.db) as db:
            aliases = await db.site_aliases(st.site.nid)
        ctx = build_context(MigrationContext, cfg, run_id, st.site, st.source, verdict.platform,
                            target_profile=verdict.profile.short_name if verdict.profile else None,
                            aliases=aliases, **site_facts(cfg, st))
        return Prepared(cls, ctx, build_steps(ctx), verdict)

    @classmethod
    def steps(cls, ctx: SiteMoveContext) -> list[Step]:
        return build_steps(ctx)

    @classmethod
    def summary(cls, ctx: SiteMoveContext) -> Summary:
        return Summary(cls.kind, ctx.uri, ctx.source.title, ctx.target.title)

    @classmethod
    def done_problem(cls, ctx: SiteMoveContext, rec: SiteRecord | None) -> str | None:
        if rec is None or rec.platform != ctx.target.nid:
            return (f"the hostmaster has the site on platform node {rec.platform if rec else None}, expected "
                    f"{ctx.target.nid} ({ctx.target.title})")
        return None

    @classmethod
    def success(cls, ctx: SiteMoveContext) -> str:
        return f"{ctx.uri} is on {ctx.target.title}"
