"""What every step is: *do*, *probe* and *undo*, and the typed commands it runs.

``do`` may be re-run after a crash (it checks where things are first); ``probe`` looks at the hosts
and answers done / not done / partial; ``undo`` is idempotent and tolerates half-done work. Steps
never decide from the journal alone: an unknown outcome is settled by ``probe``.

The plan is data: ``Step.commands(ctx)`` lists every command *do* runs, guards and checks included,
each with the host it runs on and the line people read (the plan, the run's log); the script itself
may be longer (a rename with its safety checks).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from ..fileops import q
from ..transport import CmdResult, Outcome

if TYPE_CHECKING:
    from ..model import SiteRecord
    from ..operations.context import SiteMoveContext

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


class Role(StrEnum):
    DO = "do"  # changes something
    GUARD = "guard"  # refuses (fails the step) when going on would be unsafe
    CHECK = "check"  # reads, and decides what the step does next


@dataclass(frozen=True)
class Command:
    """One command a step runs: where, what people read, what really runs, what goes on stdin."""

    host: str
    script: str
    display: str = ""  # the readable form (plan, log); "" = the script itself
    stdin: str = ""  # what is written to its stdin, described (never the content: it may be a secret)
    role: Role = Role.DO

    @property
    def shown(self) -> str:
        return self.display or self.script

    def as_json(self) -> dict[str, str]:
        return {"host": self.host, "role": self.role.value, "display": self.shown, "script": self.script,
                "stdin": self.stdin}


CREDENTIALS_STDIN = "the site's DB credentials from its drushrc.php (a [client] option file)"


class Runtime(Protocol):
    """What steps run with (``runtime.LiveRuntime``; a scripted fake in the unit tests)."""

    ctx: SiteMoveContext

    async def sh(self, step: Step, host: str, cmd: str, *, display: str | None = None,
                 timeout: float | None = None, quiet: bool = False,
                 input: str | bytes | None = None) -> CmdResult: ...

    async def hostmaster_record(self) -> SiteRecord | None: ...

    def note(self, step: Step, host: str, line: str) -> None: ...

    async def with_db_credentials(self, step: Step, host: str, cmd_template: str,
                                  timeout: float | None = None, display: str | None = None) -> CmdResult: ...


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

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        """Every command *do* runs, in order (guards and checks included)."""
        return []

    def timeout(self, ctx: SiteMoveContext) -> float:
        return ctx.long_timeout if self.long else ctx.step_timeout

    async def do(self, rt: Runtime) -> None:
        for cmd in self.commands(rt.ctx):
            await run(rt, self, cmd)

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE

    async def undo(self, rt: Runtime) -> None:
        return None

    def undo_commands(self, ctx: SiteMoveContext) -> list[tuple[str, str]]:
        """What an operator types to undo the step by hand (host, command)."""
        return []


async def run(rt: Runtime, step: Step, cmd: Command, what: str = "", timeout: float | None = None) -> CmdResult:
    """Run one of the step's commands; a failure raises (StepFailed, or StepUnknown: probe it)."""
    res = await rt.sh(step, cmd.host, cmd.script, display=cmd.display or None,
                      timeout=timeout or step.timeout(rt.ctx))
    return expect_ok(step, cmd.host, res, what or ("guard" if cmd.role is Role.GUARD else ""))


async def run_sh(rt: Runtime, step: Step, host: str, script: str, what: str = "", display: str = "",
                 timeout: float | None = None) -> CmdResult:
    return await run(rt, step, Command(host, script, display), what, timeout)


_SITES_PHP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


def sites_php_lock(platform_root: str) -> asyncio.Lock:
    """One at a time in this process for what rewrites a platform's ``sites/sites.php`` (provision-verify,
    the alias removal): the runs of a batch share platforms, and a read-modify-write of that file by one
    would drop another's records."""
    locks = _SITES_PHP.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(platform_root, asyncio.Lock())


def truthy(text: str) -> bool:
    """drush prints a variable as JSON (``{"maintenance_mode":1}``, ``1``, ``"1"``, ``true``)."""
    try:
        value = json.loads(text.strip() or "null")
    except ValueError:
        value = text.strip()
    if isinstance(value, dict):
        value = next(iter(value.values()), None)
    return str(value).strip().lower() in ("1", "true")


def manual_mv(src: str, dst: str, clear: bool = True) -> str:
    """A move an operator can read and type: an empty leftover dir is removed first, never merged."""
    pre = f"rmdir {q(dst)} 2>/dev/null; " if clear else ""
    return f"{pre}mv -T {q(src)} {q(dst)}"


def manual_rm(site_dir: str) -> str:
    return (f"ls -A {q(site_dir + '/files')} {q(site_dir + '/private/files')}  "
            f"# both empty or absent? then: rm -rf {q(site_dir)}")
