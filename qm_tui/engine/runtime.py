"""What steps run with: commands on hosts with their output as events, credentials, the hostmaster.

Every line of remote output becomes an ``Output`` event, goes to ``state_dir/runs/<id>/<host>.log``
and (batched) to the journal, so another terminal can follow the run. Commands flagged ``quiet``
(reading drushrc.php) produce no event and no log line: their output holds secrets.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import Config
from ..errors import QmError
from .dbdump import option_file
from .events import Event, EventSink, Output, StepChanged
from .hostmaster_db import HostmasterDB
from .journal import Journal
from .model import SiteRecord
from .operations.context import SiteMoveContext
from .phpfiles import PhpParseError, parse_drushrc
from .safety import sh_join
from .steps.base import Runtime
from .sweep import sweep_run
from .transport import CmdResult, Outcome, TransportPool

if TYPE_CHECKING:
    from .steps import Step

FLUSH_LINES = 200
FLUSH_SECONDS = 0.25


class EventHub:
    """Fans events out to subscribers, per-host log files and the journal (batched)."""

    def __init__(self, journal: Journal, run_id: str) -> None:
        self.journal, self.run_id = journal, run_id
        self.sinks: list[EventSink] = []
        self.logdir = journal.run_dir(run_id)
        self._files: dict[str, object] = {}
        self._pending: list[tuple[str, float, int | None, str | None, str, str]] = []
        self._last_flush = time.monotonic()

    def subscribe(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    def emit(self, ev: Event) -> None:
        if isinstance(ev, Output):
            self._log(ev.host, f"{'$ ' if ev.stream == 'cmd' else ''}{ev.line}")
            self._pending.append((self.run_id, time.time(), ev.seq, ev.host, ev.stream, ev.line))
            if len(self._pending) >= FLUSH_LINES or time.monotonic() - self._last_flush > FLUSH_SECONDS:
                self.flush()
        elif isinstance(ev, StepChanged):
            self.flush()
            self._log(ev.host, f"== {ev.name} [{ev.phase}] {ev.state}" + (f": {ev.detail}" if ev.detail else ""))
        for sink in self.sinks:
            sink(ev)

    def flush(self) -> None:
        if self._pending:
            self.journal.events_batch(self._pending)
            self._pending = []
        self._last_flush = time.monotonic()
        for f in self._files.values():
            f.flush()  # type: ignore[attr-defined]

    def _log(self, host: str, line: str) -> None:
        f = self._files.get(host)
        if f is None:
            path = Path(self.logdir) / f"{host}.log"
            f = self._files[host] = open(path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        f.write(f"{time.strftime('%H:%M:%S')} {line}\n")  # type: ignore[attr-defined]

    def close(self) -> None:
        self.flush()
        for f in self._files.values():
            f.close()  # type: ignore[attr-defined]
        self._files.clear()


class ExecRuntime(Runtime, Protocol):
    """What ``Execution`` runs with, besides the steps' ``Runtime``: commands outside any step (the lock,
    clean-up) and the sweep of a run's processes. Injected: ``LiveRuntime`` here, a scripted fake in the
    unit tests."""

    async def admin(self, host: str, cmd: str, timeout: float = 60) -> CmdResult: ...

    async def sweep(self, say: Callable[[str, str], None]) -> None: ...

    def bind(self, hub: EventHub, seq_of: Callable[[Step], int]) -> None: ...


class LiveRuntime:
    """The runtime of a real run: SSH (or local) transports, the site's credentials, the hostmaster DB."""

    def __init__(self, cfg: Config, ctx: SiteMoveContext, pool: TransportPool) -> None:
        self.cfg, self.ctx, self.pool = cfg, ctx, pool
        self._creds: dict[str, object] | None = None

    def bind(self, hub: EventHub, seq_of: Callable[[Step], int]) -> None:
        """Where output goes (the execution's hub) and how a step is numbered."""
        self.hub, self.journal, self.seq_of = hub, hub.journal, seq_of

    async def admin(self, host: str, cmd: str, timeout: float = 60) -> CmdResult:
        t = await self.pool.get(self.ctx.connect_name(host))
        return await t.run(cmd, timeout=timeout)

    async def sweep(self, say: Callable[[str, str], None]) -> None:
        ctx = self.ctx
        hosts: Sequence[str] = [ctx.connect_name(f) for f in ctx.fronts]
        await sweep_run(self.pool, ctx.run_id, ctx.master, hosts, say, self.pool.kill_grace)

    async def sh(self, step: Step, host: str, cmd: str, *, display: str | None = None,
                 timeout: float | None = None, quiet: bool = False,
                 input: str | bytes | None = None) -> CmdResult:
        seq = self.seq_of(step)
        transport = await self.pool.get(self.ctx.connect_name(host))
        run_id = self.ctx.run_id
        if not quiet:
            self.hub.emit(Output(run_id, seq, host, "cmd", display or cmd))

        def on_line(stream: str, line: str) -> None:
            # "@@..." lines are markers for the step (inodes, counts), not for people.
            if not quiet and not line.startswith("@@"):
                self.hub.emit(Output(run_id, seq, host, stream, line))

        def on_pgid(pgid: int) -> None:
            self.journal.set_step(run_id, seq, remote_pgid=pgid)
            self.journal.set_run(run_id, heartbeat_at=time.time())

        res = await transport.run(cmd, input=input, timeout=timeout or step.timeout(self.ctx),
                                  on_line=on_line, on_pgid=on_pgid, tag=run_id)
        if res.outcome is Outcome.UNKNOWN and res.pgid is not None and "timed out" not in (res.error or ""):
            # The connection dropped: the command may still run there. Stop its process group before
            # anyone probes, so the probe sees a settled state (bounded: the host may be frozen).
            await self._kill_orphan(transport, host, seq, res.pgid)
        if res.outcome is not Outcome.OK and not quiet:
            self.hub.emit(Output(run_id, seq, host, "info", f"-> {res.outcome.value}: {res.error or ''}"))
        return res

    def note(self, step: Step, host: str, line: str) -> None:
        """A line of the step's log that no command printed (a warning the step decided on)."""
        self.hub.emit(Output(self.ctx.run_id, self.seq_of(step), host, "info", line))

    async def _kill_orphan(self, transport: object, host: str, seq: int, pgid: int) -> None:
        limit = self.cfg.ssh.connect_timeout + 20
        try:
            gone = await asyncio.wait_for(transport.kill_group(pgid), limit)  # type: ignore[attr-defined]
            note = "stopped" if gone else "may still be running"
        except (TimeoutError, QmError, OSError) as exc:
            note = f"may still be running ({exc or 'no answer'})"
        self.hub.emit(Output(self.ctx.run_id, seq, host, "info", f"process group {pgid} {note}"))

    async def site_credentials(self, step: Step) -> dict[str, object]:
        if self._creds is None:
            path = f"{self.ctx.src_dir}/drushrc.php"
            res = await self.sh(step, self.ctx.master, sh_join(["cat", "--", path]), quiet=True)
            if res.outcome is not Outcome.OK:
                alt = f"{self.ctx.dst_dir}/drushrc.php"  # after the move the file is on the target side
                res = await self.sh(step, self.ctx.master, sh_join(["cat", "--", alt]), quiet=True)
            if res.outcome is not Outcome.OK:
                from .steps import StepFailed

                raise StepFailed(f"{self.ctx.master}: {step.name}: cannot read the site's drushrc.php")
            try:
                self._creds = parse_drushrc(res.stdout)
            except PhpParseError as exc:
                from .steps import StepFailed

                raise StepFailed(f"{self.ctx.master}: {step.name}: drushrc.php: {exc}") from None
        return self._creds

    async def with_db_credentials(self, step: Step, host: str, cmd_template: str,
                                  timeout: float | None = None, display: str | None = None) -> CmdResult:
        cnf, db = option_file(await self.site_credentials(step), self.ctx.db_socket)
        cmd = cmd_template.replace("{db}", shlex.quote(db))
        return await self.sh(step, host, cmd, timeout=timeout, input=cnf, display=display)

    async def hostmaster_record(self) -> SiteRecord | None:
        async with HostmasterDB(self.cfg.hostmaster.db) as db:
            return await db.site_record(self.ctx.site.nid)
