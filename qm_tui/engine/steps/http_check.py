"""The HTTP check: once the site is online, each front's web server answers for the site's (new) name
with the expected status, and the body holds the marker text when one is configured. curl runs on the
front itself, against the address its web server listens on there (``migrate.http_check``)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..fileops import q
from .base import Command, Probe, Role, Runtime, Step, StepFailed, last_line, run

if TYPE_CHECKING:
    from ..operations.context import SiteMoveContext

# Only "@@" lines come out (the log keeps no page body): curl's exit status, the last status line, and
# whether any other line holds the marker ($M: from the environment, so awk reads it verbatim).
_SCAN = ("awk '/^@@(HTTP|CURL) /{print; next} ENVIRON[\"M\"] != \"\" && index($0, ENVIRON[\"M\"]) {f=1} "
         "END{print \"@@MARKER \" (f ? 1 : 0)}'")


def curl_words(uri: str, url: str, path: str, timeout: float) -> list[str]:
    """curl's options and URL for ``uri`` on the web server at ``url`` (``scheme://address[:port]``).
    Over https it connects to that address while asking for the site's own name (SNI and certificate
    checked against it), as a browser would; over http a Host header is enough."""
    parts = urlsplit(url)
    common = ["curl", "-q", "--silent", "--show-error", "--noproxy", "*", "--max-time", f"{timeout:g}"]
    if parts.scheme == "https":
        address = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        return [*common, "--connect-to", f"{uri}:443:{address}:{parts.port or 443}", "--", f"https://{uri}{path}"]
    return [*common, "-H", f"Host: {uri}", "--", url.rstrip("/") + path]


class HttpCheck(Step):
    """One front: its web server serves the site under its new name (status, and marker if any). It only
    reads, so it can run again and has nothing to undo; a failure rolls the whole run back."""

    def __init__(self, ctx: SiteMoveContext, front: str) -> None:
        super().__init__("http_check", front, f"Check {front} serves the site over HTTP", group="http_check")

    def commands(self, ctx: SiteMoveContext) -> list[Command]:
        h = ctx.http_check
        words = curl_words(ctx.dst_uri, h["urls"][self.host], h["path"], h["timeout"])
        out = ["-o", "-", "-w", "\\n@@HTTP %{http_code}\\n"]  # the body to the scan, then the status
        curl = " ".join(q(w) for w in [*words[:-2], *out, *words[-2:]])  # options before "--"
        script = f"{{ {curl}; echo \"@@CURL $?\"; }} | M={q(h['marker'] or '')} {_SCAN}"
        marker = f", body containing {h['marker']!r}" if h["marker"] else ""
        shown = " ".join(q(w) for w in words if w not in ("-q", "--silent", "--show-error", "--noproxy", "*"))
        return [Command(self.host, script, f"{shown}  # expect HTTP {h['expect_status']}{marker}", role=Role.CHECK)]

    def timeout(self, ctx: SiteMoveContext) -> float:
        return float(ctx.http_check["timeout"]) + 30  # curl's own limit, plus the SSH round trip

    async def do(self, rt: Runtime) -> None:
        ctx = rt.ctx
        h = ctx.http_check
        res = await run(rt, self, self.commands(ctx)[0], "curl")
        marks = dict(line[2:].split(" ", 1) for line in res.stdout.splitlines()
                     if line.startswith("@@") and " " in line)
        where = f"{self.host}: {self.name}: {ctx.dst_uri}"
        if marks.get("CURL", "").strip() != "0":
            raise StepFailed(f"{where}: curl failed (exit {marks.get('CURL', '?').strip()}): "
                             f"{last_line(res, 'no output')}")
        status = marks.get("HTTP", "").strip()
        self.data["status"] = status
        if status != str(h["expect_status"]):
            raise StepFailed(f"{where}: HTTP {status or '?'}, expected {h['expect_status']}")
        if h["marker"] and marks.get("MARKER", "").strip() != "1":
            raise StepFailed(f"{where}: marker {h['marker']!r} not in the response (HTTP {status})")

    async def probe(self, rt: Runtime) -> Probe:
        return Probe.NOT_DONE  # it only reads: run it again


def http_check_steps(ctx: SiteMoveContext) -> list[Step]:
    """One check per web front, in parallel (none when migrate.http_check is off for the run)."""
    return [HttpCheck(ctx, f) for f in ctx.fronts] if ctx.http_check else []
