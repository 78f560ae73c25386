"""What steps run with: commands on hosts with their output as events, credentials, the hostmaster.

Every line of remote output becomes an ``Output`` event, goes to ``state_dir/runs/<id>/<host>.log``
and (batched) to the journal, so another terminal can follow the run. Commands flagged ``quiet``
(reading drushrc.php) produce no event and no log line: their output holds secrets.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..errors import QmError
from .dbdump import option_file
from .events import Event, EventSink, Output, StepChanged
from .hostmaster_db import HostmasterDB
from .journal import Journal
from .phpfiles import PhpParseError, parse_drushrc
from .plan import MigrationContext
from .safety import sh_join
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


class LiveRuntime:
    """The ``steps.Runtime`` used by the runner."""

    def __init__(self, cfg: Config, ctx: MigrationContext, pool: TransportPool, hub: EventHub,
                 journal: Journal, seq_of: Callable[[Step], int]) -> None:
        self.cfg, self.ctx, self.pool, self.hub, self.journal = cfg, ctx, pool, hub, journal
        self.seq_of = seq_of
        self._creds: dict[str, object] | None = None

    async def sh(self, step: Step, host: str, cmd: str, *, display: str | None = None,
                 timeout: float | None = None, quiet: bool = False,
                 input: str | bytes | None = None) -> CmdResult:
        seq = self.seq_of(step)
        transport = await self.pool.get(self.ctx.connect_name(host))
        run_id = self.ctx.run_id
        if not quiet:
            self.hub.emit(Output(run_id, seq, host, "cmd", display or cmd))

        def on_line(stream: str, line: str) -> None:
            if not quiet:
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
                                  timeout: float | None = None) -> CmdResult:
        cnf, db = option_file(await self.site_credentials(step), self.ctx.db_socket)
        cmd = cmd_template.replace("{db}", shlex.quote(db))
        return await self.sh(step, host, cmd, timeout=timeout, input=cnf)

    async def hostmaster_platform(self) -> int | None:
        async with HostmasterDB(self.cfg.hostmaster.db) as db:
            rows = await db.query("SELECT s.platform FROM node n JOIN hosting_site s ON s.vid = n.vid "
                                  "WHERE n.nid = %s", (self.ctx.site.nid,))
        return int(rows[0][0]) if rows else None
