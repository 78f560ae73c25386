"""Find and stop every process a run left on its hosts, before anyone probes or undoes anything.

A runner killed with ``kill -9`` (or whose machine died) leaves its remote commands running: sshd keeps
a command without a pty alive when the connection drops, and a local command runs in its own session.
An orphaned ``provision-verify`` that wakes up after a rollback restored the files would push the
hostmaster's stale copy over them with ``rsync --delete``. So recovery first sweeps every host.

How a run's processes are found: every command qm-tui starts for a run exports ``QM_TUI_RUN=<run id>``
(transport ``tag``), and every process it starts inherits it, whatever process group or session it
moves to; ``/proc/<pid>/environ`` keeps a process's initial environment, readable by its own user. The
sweep signals each tagged process and its whole group (TERM, then KILL), and repeats until none is
left. The one way out is a program that clears its environment *and* leaves its group (``env -i``
with ``setsid``): nothing qm-tui or drush runs does that. On the fronts it then waits (bounded) for
rsync receivers that were already running: they belong to a sender on the hostmaster, which the sweep
there has just killed, and they exit once their connection closes.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import QmError
from .transport import Outcome, Transport, TransportPool
from .transport_base import KILL_WAIT, TAG_VAR, check_tag

RECEIVER_WAIT = 30.0  # seconds to wait for pre-existing rsync receivers on a front
RC_LEFT = 3

_SCRIPT = r"""run={run}; term={term}; total={total}; rwait={rwait}
stat_of() {{ local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; echo "${{s##*) }}"; }}
cmd_of() {{ tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline" | cut -c1-200; }}
set -- $(stat_of $$); self_pg=$3; now=${{20}}
tagged() {{
  local f pid
  for f in $(grep -lzxF -- "{var}=$run" /proc/[0-9]*/environ 2>/dev/null); do
    pid=${{f#/proc/}}; pid=${{pid%/environ}}
    [ "$pid" = "$$" ] && continue
    set -- $(stat_of "$pid") || continue
    case "$1" in Z|X|"") continue;; esac
    echo "$pid $3"
  done
}}
i=0; seen=" "
while list=$(tagged); [ -n "$list" ]; do
  if [ "$i" -ge "$total" ]; then
    while read -r pid pg; do echo "@@LEFT $pid $(cmd_of "$pid")"; done <<< "$list"
    exit {rc_left}
  fi
  sig=TERM; [ "$i" -ge "$term" ] && sig=KILL
  while read -r pid pg; do
    case "$seen" in *" $pid "*) ;; *) seen="$seen$pid "; echo "@@KILL $pid $pg $(cmd_of "$pid")";; esac
    if [ "$pg" -gt 1 ] && [ "$pg" != "$self_pg" ]; then kill -s "$sig" -- "-$pg" 2>/dev/null; fi
    kill -s "$sig" "$pid" 2>/dev/null
  done <<< "$list"
  sleep 0.1; i=$((i + 1))
done
receivers() {{
  local p c
  for p in $(pgrep -u "$(id -u)" -f '^rsync --server' 2>/dev/null); do
    c=$(cmd_of "$p"); case "$c" in ""|*" --sender "*) continue;; esac
    set -- $(stat_of "$p") || continue
    case "$1" in Z|X|"") continue;; esac
    [ "${{20}}" -le "$now" ] && echo "$p $c"
  done
}}
j=0
while [ "$rwait" -gt 0 ] && r=$(receivers) && [ -n "$r" ]; do
  [ "$j" -eq 0 ] && sed 's/^/@@WAIT /' <<< "$r"
  if [ "$j" -ge "$rwait" ]; then sed 's/^/@@BUSY /' <<< "$r"; break; fi
  sleep 0.1; j=$((j + 1))
done
exit 0
"""


class SweepRefused(QmError):
    """A host could not be checked or cleared: recovery must not touch anything yet."""


@dataclass
class SweepReport:
    host: str
    killed: list[str] = field(default_factory=list)  # "pid N (group G): command"
    waited: list[str] = field(default_factory=list)  # rsync receivers that were still running
    busy: list[str] = field(default_factory=list)  # receivers still running after the wait


def sweep_script(run_id: str, grace: float, kill_wait: float = KILL_WAIT, receivers: float = 0.0) -> str:
    tag = check_tag(run_id)
    assert tag is not None
    ticks = int(grace * 10) + 1
    return _SCRIPT.format(run=shlex.quote(tag), var=TAG_VAR, term=ticks, total=ticks + int(kill_wait * 10) + 1,
                          rwait=int(receivers * 10), rc_left=RC_LEFT)


def parse_report(host: str, stdout: str) -> tuple[SweepReport, list[str]]:
    rep, left = SweepReport(host), []
    for line in stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "@@KILL":
            pid, pg, cmd = (rest.split(" ", 2) + ["", ""])[:3]
            rep.killed.append(f"pid {pid} (group {pg}): {cmd.strip()}")
        elif kind in ("@@WAIT", "@@BUSY"):
            pid, _, cmd = rest.partition(" ")
            (rep.waited if kind == "@@WAIT" else rep.busy).append(f"pid {pid}: {cmd.strip()}")
        elif kind == "@@LEFT":
            left.append(rest.strip())
    return rep, left


async def sweep_host(t: Transport, run_id: str, grace: float, receivers: float = 0.0) -> SweepReport:
    script = sweep_script(run_id, grace, receivers=receivers)
    res = await t.run(script, timeout=grace + KILL_WAIT + receivers + 60)  # untagged: it must not find itself
    rep, left = parse_report(t.host, res.stdout)
    if res.outcome is Outcome.OK:
        return rep
    if left:
        raise SweepRefused(f"{t.host}: processes of run {run_id} survived TERM and KILL: {'; '.join(left)}")
    tail = (res.stderr.strip().splitlines() or [""])[-1]
    raise SweepRefused(f"{t.host}: cannot check for processes of run {run_id}: {res.error or 'failed'}"
                       + (f": {tail}" if tail else ""))


async def sweep_run(pool: TransportPool, run_id: str, master: str, others: Sequence[str],
                    say: Callable[[str, str], None], grace: float) -> list[SweepReport]:
    """Sweep the hostmaster first (its processes start the fronts' receivers), then every other host
    in parallel. Raises SweepRefused naming the host when one cannot be reached or cleared."""

    async def one(host: str, receivers: float) -> SweepReport:
        try:
            t = await pool.get(host)
        except QmError as exc:
            raise SweepRefused(f"{exc}; cannot check it for processes of run {run_id}") from None
        rep = await sweep_host(t, run_id, grace, receivers)
        for line in rep.killed:
            say(host, f"stopped a process of run {run_id} left running: {line}")
        for line in rep.waited:
            say(host, f"waiting for an rsync receiver to exit: {line}")
        for line in rep.busy:
            say(host, f"an rsync receiver is still running (not this run's, or stuck): {line}")
        if not rep.killed:
            say(host, f"no process of run {run_id} is running here")
        return rep

    reports = [await one(master, 0.0)]
    rest = [h for h in dict.fromkeys(others) if h != master]
    results = await asyncio.gather(*(one(h, RECEIVER_WAIT) for h in rest), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        refused = [e for e in errors if isinstance(e, SweepRefused)]
        if len(refused) < len(errors):
            raise next(e for e in errors if not isinstance(e, SweepRefused))
        raise SweepRefused("; ".join(str(e) for e in refused))
    return reports + [r for r in results if isinstance(r, SweepReport)]
