"""A web server stand-in per lab front: Apache (or nginx) plus Drupal's front page, in a few lines.

Each lab host runs one, inside its mount namespace as ``aegir``, on 127.0.0.1 and a port of its own.
Like the real one it reads only its own server's vhosts (``/var/aegir/config/<server>/{apache,nginx}/
vhost.d/*``, as provision writes and pushes them): the vhost whose ServerName/ServerAlias (nginx:
server_name) is the request's Host gives the platform root; then Drupal: the site dir (``sites/<host>``,
``sites/sites.php`` aliases, shorter host suffixes), its settings.php, its database (credentials from
the site's drushrc.php, as drush reads them), its maintenance flag. Answers:

  200  ``<title>HOST | PLATFORM</title>`` and "Drupal VERSION" in the body
  404  no vhost for that name, 500 no settings.php or no database, 503 maintenance mode

Fault injection: ``/var/aegir/http-front.fail`` on the front, one rule a line, ``<host> [status]``: that
site answers ``status`` (default 500) there. ``HttpFronts`` starts and stops them for a lab; each logs
to ``<host dir>/http-front.log`` (opened by the lab: the demo's host dirs are out of aegir's reach).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hosts import LabHost

_APACHE = re.compile(r"^\s*(ServerName|ServerAlias|DocumentRoot)\s+(\S+)", re.M)
_NGINX = re.compile(r"^\s*(server_name|root)\s+([^;]+);", re.M)
_SITES_PHP = re.compile(r"\$sites\[\s*'([^']+)'\s*\]\s*=\s*'([^']+)'\s*;")


def vhost_root(aegir_root: Path, server: str, host: str) -> Path | None:
    """The DocumentRoot of the vhost serving ``host`` among the server's own vhosts."""
    for kind in ("apache", "nginx"):
        d = aegir_root / "config" / server / kind / "vhost.d"
        for vhost in sorted(d.iterdir()) if d.is_dir() else ():
            text = vhost.read_text(errors="replace")
            names: list[str] = []
            root = None
            for key, value in (_APACHE if kind == "apache" else _NGINX).findall(text):
                if key in ("DocumentRoot", "root"):
                    root = value.strip()
                else:
                    names += value.lower().split()
            if root and host in names:
                return Path(root)
    return None


def site_dir(root: Path, host: str) -> Path | None:
    """Drupal's conf_path(): sites.php aliases first, then sites/<host> and its shorter suffixes."""
    sites_php = root / "sites" / "sites.php"
    if sites_php.is_file():
        aliases = dict(_SITES_PHP.findall(sites_php.read_text(errors="replace")))
        if host in aliases and (root / "sites" / aliases[host]).is_dir():
            return root / "sites" / aliases[host]
    parts = host.split(".")
    for i in range(len(parts)):
        cand = root / "sites" / ".".join(parts[i:])
        if (cand / "settings.php").is_file():
            return cand
    return None


def maintenance_on(site: Path, major: int) -> bool:
    """The site's maintenance flag, read from its database (raises pymysql errors: no database)."""
    from .drush_env import connect, read_drushrc
    from .drush_phpser import unserialize

    rc = read_drushrc(site / "drushrc.php")
    conn = connect({k: rc.get(k) for k in ("db_host", "db_port", "db_name", "db_user", "db_passwd")})
    with conn, conn.cursor() as cur:
        if major >= 8:
            cur.execute("SELECT value FROM key_value WHERE collection = 'state' "
                        "AND name = 'system.maintenance_mode'")
        else:
            cur.execute("SELECT value FROM variable WHERE name = %s",
                        ("maintenance_mode" if major == 7 else "site_offline",))
        row = cur.fetchone()
    return bool(row) and str(unserialize(row[0])).strip().lower() in ("1", "true")


FAULTS = "http-front.fail"


def injected(aegir_root: Path, host: str) -> int | None:
    try:
        lines = (aegir_root / FAULTS).read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        words = line.split()
        if words and words[0].lower() == host:
            return int(words[1]) if len(words) > 1 else 500
    return None


def answer(aegir_root: Path, server: str, front: str, host: str) -> tuple[int, str]:
    from .drush_env import drupal_version

    forced = injected(aegir_root, host)
    if forced is not None:
        return forced, f"injected failure of {host} on {front}\n"
    root = vhost_root(aegir_root, server, host)
    if root is None:
        return 404, f"no virtual host for {host} on {front}\n"
    version = drupal_version(root) or "?"
    site = site_dir(root, host)
    if site is None:
        return 500, f"{host}: no settings.php under {root}/sites\n"
    try:
        offline = maintenance_on(site, int(version.split(".")[0]) if version[0].isdigit() else 7)
    except Exception as exc:  # noqa: BLE001 -- Drupal shows any database failure as an error page
        return 500, f"{host}: cannot reach the database: {exc}\n"
    title = f"<title>{host} | {root.name}</title>"
    if offline:
        return 503, f"<html><head>{title}</head><body>Site under maintenance</body></html>\n"
    return 200, (f"<html><head>{title}</head><body><h1>{host}</h1>\n<p>Drupal {version}, "
                 f"served by {front} from {site}</p></body></html>\n")


def serve(aegir_root: Path, server: str, front: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 -- http.server's name
            host = (self.headers.get("Host") or "").split(":")[0].strip().lower().rstrip(".")
            status, body = answer(aegir_root, server, front, host)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"@@PORT {httpd.server_address[1]}", flush=True)  # known once bound: no race for a free port
    httpd.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--aegir-root", default="/var/aegir")
    p.add_argument("--server", required=True, help="this host's server context (its vhosts)")
    p.add_argument("--front", required=True)
    a = p.parse_args(argv)
    serve(Path(a.aegir_root), a.server, a.front)


@dataclass
class HttpFronts:
    """One stand-in per lab host; ``urls`` is what ``migrate.http_check.servers`` names."""

    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    logs: dict[str, tuple[Path, int]] = field(default_factory=dict)  # host -> (log, its size at start)
    roots: dict[str, Path] = field(default_factory=dict)

    def start(self, host: LabHost, server: str) -> None:
        from .drush_standin import standin_python

        python, paths = standin_python()
        log = host.dir / "http-front.log"
        self.logs[host.name] = (log, log.stat().st_size if log.exists() else 0)
        self.roots[host.name] = host.root
        code = f"import sys; sys.path[:0] = {paths!r}; from qm_lab.http_front import main; main()"
        self.procs[host.name] = host.spawn_in([python, "-c", code, "--server", server, "--front", host.name], log)

    def wait(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        for name, proc in self.procs.items():
            log, offset = self.logs[name]
            while not (m := re.search(r"^@@PORT (\d+)$", log.read_bytes()[offset:].decode(errors="replace"), re.M)):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_bytes()[offset:].decode(errors="replace")[-600:]
                    raise RuntimeError(f"the web server stand-in of {name} did not start: {tail}")
                time.sleep(0.02)
            self.ports[name] = int(m.group(1))

    @property
    def urls(self) -> dict[str, str]:
        return {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}

    def fail(self, host: str, rules: str) -> None:
        """Write ``host``'s fault file (``<site> [status]`` lines); "" removes it."""
        path = self.roots[host] / FAULTS
        if rules:
            path.write_text(rules)
        else:
            path.unlink(missing_ok=True)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.procs.clear()


if __name__ == "__main__":
    main()
