"""What an operation is, and the registry the CLI, the TUI and recovery find operations in.

An operation is one module: its context type (frozen, JSON round-trip), ``prepare`` (the hostmaster's
facts, validated), ``preflight``, the pure list of ``steps``, a ``summary`` for the journal and the
UI, and the checks of the hostmaster's record after a run ended done or undone. The lock keys are the
context's (every name the run holds). Everything else (journal, abort, rollback, recovery, sweep) is
the engine's and the same for every operation.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..model import SiteRecord
from .context import SiteMoveContext

if TYPE_CHECKING:
    from ...config import Config
    from ..eligibility import TargetVerdict
    from ..journal import Journal
    from ..runtime import ExecRuntime
    from ..service import SiteTargets
    from ..steps import Step
    from ..transport import TransportPool

q = shlex.quote


@dataclass(frozen=True)
class Summary:
    """One run in a line: what (``kind``), on what (``subject``), from where to where."""

    kind: str
    subject: str
    source: str
    target: str

    def as_json(self) -> dict[str, str]:
        return {"operation": self.kind, "subject": self.subject, "from": self.source, "to": self.target}


@dataclass
class Prepared:
    op: type[Operation]
    ctx: SiteMoveContext
    steps: list[Step]
    verdict: TargetVerdict | None = None  # a migrate's target verdict (comparison, reasons)

    @property
    def summary(self) -> Summary:
        return self.op.summary(self.ctx)

    def plan_record(self) -> dict[str, Any]:
        """What the journal keeps of the plan: enough to rebuild the same steps on recovery."""
        ctx = self.ctx
        return {"operation": self.op.kind, "summary": self.summary.as_json(), "context": ctx.to_json(),
                "master_hosts": list(dict.fromkeys([ctx.master, ctx.master_title])),
                "steps": [[s.name, s.host, s.title] for s in self.steps]}


OPERATIONS: dict[str, type[Operation]] = {}


def register(cls: type[Operation]) -> type[Operation]:
    OPERATIONS[cls.kind] = cls
    return cls


def get_operation(kind: str) -> type[Operation]:
    from ...errors import QmError

    try:
        return OPERATIONS[kind]
    except KeyError:
        raise QmError(f"unknown operation {kind!r} (known: {', '.join(sorted(OPERATIONS))})") from None


class Operation:
    kind: ClassVar[str]
    context: ClassVar[type[SiteMoveContext]]
    verb: ClassVar[str]  # for people: "Migrate", "Rename"
    noun: ClassVar[str] = "operation"  # for people: "migration", "rename"

    @classmethod
    async def prepare(cls, cfg: Config, uri: str, arg: str, strict: bool, run_id: str) -> Prepared:
        raise NotImplementedError

    @classmethod
    def steps(cls, ctx: SiteMoveContext) -> list[Step]:
        raise NotImplementedError

    @classmethod
    async def preflight(cls, prep: Prepared, pool: TransportPool, journal: Journal, cfg: Config) -> list[str]:
        from ..preflight import preflight

        return await preflight(prep.ctx, prep.verdict, pool, journal, cfg.hostmaster.db)

    @classmethod
    def summary(cls, ctx: SiteMoveContext) -> Summary:
        raise NotImplementedError

    @classmethod
    def done_problem(cls, ctx: SiteMoveContext, rec: SiteRecord | None) -> str | None:
        """Why the hostmaster's record is not what a finished run leaves (None: it is)."""
        raise NotImplementedError

    @classmethod
    def undone_problem(cls, ctx: SiteMoveContext, rec: SiteRecord | None) -> str | None:
        """Why the hostmaster's record is not what it was before the run (None: it is)."""
        if rec is None:
            return f"the hostmaster has no site node {ctx.site.nid}"
        if rec.platform != ctx.source.nid:
            return (f"the hostmaster has the site on platform node {rec.platform}, not {ctx.source.nid} "
                    f"({ctx.source.title})")
        if rec.context is not None and rec.context != ctx.src_uri:
            return f"the hostmaster has the site's context as {rec.context!r}, not {ctx.src_uri}"
        return None

    @classmethod
    def success(cls, ctx: SiteMoveContext) -> str:
        raise NotImplementedError

    @classmethod
    def confirm_token(cls, ctx: SiteMoveContext) -> str:
        """What the operator types to confirm (the CLI's prompt, the TUI's confirm)."""
        return ctx.src_uri

    @classmethod
    def describe(cls, ctx: SiteMoveContext) -> str:
        s = cls.summary(ctx)
        return f"{cls.verb} {s.subject} from {s.source} to {s.target} on {', '.join(ctx.fronts)}."

    @classmethod
    async def cleanup(cls, rt: ExecRuntime, dump_retention_days: int) -> None:
        """After success: drop old dumps (the files moved with the site: nothing else to remove)."""
        ctx = rt.ctx
        dump_dir = ctx.dump_path.rsplit("/", 1)[0]
        await rt.admin(ctx.master, f"find {q(dump_dir)} -maxdepth 1 -name '*.sql' -type f "
                                   f"-mtime +{int(dump_retention_days)} -delete", timeout=600)


def set_aside_steps(ctx: SiteMoveContext) -> list[Step]:
    """How every site move starts: maintenance on, the dump a rollback restores, the files renamed aside on
    every host, and (a single remote web server) the site's code fetched from its authoritative front."""
    from ..steps import DumpDb, FetchCode, Maintenance, ParkFiles

    steps: list[Step] = [Maintenance(ctx, True), DumpDb(ctx)]
    steps += [ParkFiles(ctx, h) for h in ctx.files_hosts]
    if ctx.authoritative_front:
        steps.append(FetchCode(ctx))
    return steps


def put_back_steps(ctx: SiteMoveContext) -> list[Step]:
    """After the site dir is in its new place and verified: the push to every front, the files renamed
    into it on every host, the old site dir and alias records removed."""
    from ..steps import PushSite, RemoveOldAliases, RemoveOldSiteDir, RestoreFiles

    steps: list[Step] = [PushSite(ctx, f) for f in ctx.remote_fronts]
    steps += [RestoreFiles(ctx, h) for h in ctx.files_hosts]
    steps += [RemoveOldSiteDir(ctx, f) for f in ctx.remote_fronts]
    steps += [RemoveOldAliases(ctx, h) for h in (ctx.master, *ctx.remote_fronts)]
    return steps


def closing_steps(ctx: SiteMoveContext, record: Step) -> list[Step]:
    """The hostmaster's record (bookkeeping), Aegir's own verify task when configured, maintenance off,
    then the checks that roll the run back when the site does not answer where it now is (drush status,
    HTTP on every front), each when configured."""
    from ..steps import AegirVerifyTask, Maintenance, PostCheck, http_check_steps

    return [record, *([AegirVerifyTask(ctx)] if ctx.aegir_verify_task else []), Maintenance(ctx, False),
            *([PostCheck(ctx)] if ctx.post_check else []), *http_check_steps(ctx)]


def site_facts(cfg: Config, st: SiteTargets) -> dict[str, Any]:
    """What every site operation's context takes from one hostmaster snapshot."""
    servers = st.snapshot.servers
    web = servers.get(st.source.web_server)
    master_title = next((s.title for s in servers.values() if s.context == "server_master"), cfg.hostmaster.server)
    masters = [servers[m].title for m, kind in st.snapshot.members.get(st.source.web_server, [])
               if kind == "master" and m in servers]
    return {"master_title": master_title, "web_type": web.http_type if web else None, "pack_masters": masters}
