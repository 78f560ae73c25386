"""The HTTP check on the lab: after the run, curl on every front asks that front's web server stand-in
(qm_lab/http_front: vhosts, settings.php, database, maintenance flag) for the site under its new name. A
pass leaves the site migrated; a wrong status on one front or a missing marker rolls the run back whole."""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from lab_support import (
    Lab,
    assert_files_at,
    cli,
    fronts_of,
    hostmaster_platform,
    no_leftovers,
    run_id_of,
    site_state,
    source_of,
)

A, B = "drupal-7.97-a", "drupal-7.98-b"
# The lab tests; the script tests at the end need only bash, awk and curl here.
on_lab = pytest.mark.usefixtures("lab", "lab_faults", "no_http_faults")


@pytest.fixture
def no_http_faults(lab: Lab) -> Iterator[None]:
    yield
    for host in lab.hosts.hosts:
        lab.http.fail(host, "")


def checked(lab: Lab, name: str, **check: object) -> Path:
    """The lab's config with the HTTP check on (each front's stand-in is already in ``servers``)."""
    cfg = yaml.safe_load(lab.config_path.read_text())
    cfg["migrate"]["http_check"].update(enabled=True, **check)
    path = lab.base / "client" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path


def steps_named(lab: Lab, run_id: str, name: str) -> list[dict]:
    run = json.loads(cli(lab, "run", "show", run_id, "--json").stdout)
    return [s for s in run["steps"] if s["name"] == name]


@pytest.mark.lab
@on_lab
def test_a_passing_check_on_every_front_and_the_plan_shows_each_curl(lab: Lab) -> None:
    uri = "cluster-d7.lab.test"
    fronts = fronts_of(lab, uri)
    config = checked(lab, "http-pass", marker="Drupal 7.98")  # the target platform's code answers
    plan = json.loads(cli(lab, "plan", uri, B, "--json", config=config).stdout)
    checks = [s for s in plan["steps"] if s["name"] == "http_check"]
    assert [s["host"] for s in checks] == fronts and {s["parallel_group"] for s in checks} == {"http_check"}
    assert plan["steps"][-len(fronts) - 1]["name"] == "maintenance_off"  # last, once the site is online
    for step in checks:
        (cmd,) = step["commands"]
        url = lab.http.urls[step["host"]]
        assert cmd["host"] == step["host"] and cmd["role"] == "check"
        assert f"-H 'Host: {uri}' -- {url}/" in cmd["display"] and "expect HTTP 200" in cmd["display"]
        assert "'Drupal 7.98'" in cmd["display"]
    text = cli(lab, "plan", uri, B, config=config).stdout
    assert text.count(f"(check) curl --max-time 10 -H 'Host: {uri}'") == len(fronts), text

    before = site_state(lab, uri, fronts)
    proc = cli(lab, "migrate", uri, B, "--yes", config=config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_files_at(lab, uri, B, before, site_state(lab, uri, fronts))
    done = steps_named(lab, run_id_of(proc), "http_check")
    assert [(s["host"], s["state"]) for s in done] == [(f, "ok") for f in fronts]


def rolled_back(lab: Lab, uri: str, config: Path, error: str) -> str:
    """Migrate ``uri`` to B with ``config``: it fails with ``error`` and the site is whole on A again (its
    files renamed back: same inode, one place per host); the run's id."""
    fronts = fronts_of(lab, uri)
    before = site_state(lab, uri, fronts)
    proc = cli(lab, "migrate", uri, B, "--yes", config=config)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert error in out
    assert hostmaster_platform(lab, uri) == A == source_of(lab, uri)
    assert_files_at(lab, uri, A, before, site_state(lab, uri, fronts))
    for host in [*fronts, "aegir.lab.test"]:
        assert (lab.site_dir(host, uri, A) / "settings.php").exists(), f"{host}: site dir not back"
        assert not lab.site_dir(host, uri, B).exists(), f"{host}: new site dir left"
    no_leftovers(lab, uri)
    return run_id_of(proc)


@pytest.mark.lab
@on_lab
def test_a_front_answering_500_rolls_the_site_back_whole(lab: Lab) -> None:
    uri = "big-d7.lab.test"
    lab.http.fail("web2.lab.test", f"{uri} 500\n")
    run_id = rolled_back(lab, uri, checked(lab, "http-500"),
                         f"web2.lab.test: http_check: {uri}: HTTP 500, expected 200")
    states = {s["host"]: s["state"] for s in steps_named(lab, run_id, "http_check")}
    assert states["web2.lab.test"] in ("failed", "undone"), states


@pytest.mark.lab
@on_lab
def test_a_missing_marker_rolls_the_site_back(lab: Lab) -> None:
    uri = "verdicts-d7.lab.test"
    rolled_back(lab, uri, checked(lab, "http-marker", marker="Welcome to Mars"),
                f"http_check: {uri}: marker 'Welcome to Mars' not in the response (HTTP 200)")


@pytest.mark.lab
@on_lab
def test_a_rename_is_checked_under_the_new_name(lab: Lab) -> None:
    uri, new = "web4-d7.lab.test", "renamed-web4.lab.test"
    config = checked(lab, "http-rename", marker=f"<title>{new} |")
    plan = cli(lab, "plan", uri, "--rename", new, config=config).stdout
    assert f"-H 'Host: {new}' -- {lab.http.urls['web4.lab.test']}/" in plan, plan
    proc = cli(lab, "rename", uri, new, "--yes", config=config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [s["state"] for s in steps_named(lab, run_id_of(proc), "http_check")] == ["ok"]


@pytest.mark.lab
@on_lab
def test_in_a_batch_a_site_failing_its_check_rolls_back_and_the_next_migrates(lab: Lab) -> None:
    bad, good = "maint-d7.lab.test", "gluster-d7.lab.test"
    lab.http.fail("web1.lab.test", f"{bad} 502\n")
    config = checked(lab, "http-batch")
    before = {s: site_state(lab, s, fronts_of(lab, s)) for s in (bad, good)}
    proc = cli(lab, "batch", A, B, "--sites", bad, good, "--canary", "0", "--on-failure", "continue", "--yes",
               config=config)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    batch_id = next(ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("batch b"))
    rec = json.loads(cli(lab, "batch", "show", batch_id, "--json", config=config).stdout)
    assert {s["site"]: s["verdict"] for s in rec["sites"]} == {bad: "rolled_back", good: "migrated"}
    assert hostmaster_platform(lab, bad) == A and hostmaster_platform(lab, good) == B
    assert_files_at(lab, bad, A, before[bad], site_state(lab, bad, fronts_of(lab, bad)))
    assert_files_at(lab, good, B, before[good], site_state(lab, good, fronts_of(lab, good)))
    run_id = next(s["run_id"] for s in rec["sites"] if s["site"] == bad)
    failed = {s["host"]: s for s in steps_named(lab, run_id, "http_check")}["web1.lab.test"]
    assert "HTTP 502, expected 200" in (failed["detail"] or ""), failed


BODY = "<html>\n@@HTTP 200\n<p>It's \"ok\" $HOME `x`</p>\n</html>"  # a forged status line, shell characters


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, list[str]]]:
    """A local web server answering 503 for any Host but www.example.com; the Host headers it saw."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Host", ""))
            data = BODY.encode()
            self.send_response(200 if self.headers.get("Host") == "www.example.com" else 503)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()


def scripted(url: str, uri: str = "www.example.com", marker: str | None = None, status: int = 200) -> str:
    from qm_tui.engine.steps.http_check import HttpCheck

    check = {"urls": {"web1": url}, "path": "/", "expect_status": status, "marker": marker, "timeout": 5}
    ctx = SimpleNamespace(http_check=check, dst_uri=uri)  # all commands() reads
    (cmd,) = HttpCheck(ctx, "web1").commands(ctx)  # type: ignore[arg-type]
    assert cmd.host == "web1" and cmd.role == "check" and f"-H {shlex.quote('Host: ' + uri)}" in cmd.shown
    res = subprocess.run(["bash", "-c", cmd.script], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert all(line.startswith("@@") for line in res.stdout.splitlines()), res.stdout  # no body in the log
    return res.stdout


def test_the_script_reports_status_and_marker_without_the_body(web: tuple[str, list[str]]) -> None:
    url, seen = web
    out = scripted(url, marker='It\'s "ok" $HOME `x`').splitlines()
    assert out[-3:] == ["@@HTTP 200", "@@CURL 0", "@@MARKER 1"] and seen[-1] == "www.example.com"
    assert scripted(url, marker="$(touch /tmp/qm-http-pwned)").splitlines()[-1] == "@@MARKER 0"
    assert not Path("/tmp/qm-http-pwned").exists()  # noqa: S108
    assert scripted(url, uri="other.example.com").splitlines()[-3:-1] == ["@@HTTP 503", "@@CURL 0"]
    refused = scripted("http://127.0.0.1:1").splitlines()
    assert refused[-2] == "@@CURL 7"  # connection refused: curl's exit status, not a status line
