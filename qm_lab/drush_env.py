"""Runtime pieces of the drush stand-in: output, aliases, site bootstrap, database access.

Real drush 8 bootstraps a site in phases (root -> site -> configuration -> database -> full); each failure
has its own wording. ``Site.bootstrap()`` imitates the checks that matter for the commands we serve:
platform root with a Drupal version, the site's conf dir (``sites/<uri>`` with Drupal's fallback to
``sites/default``), ``settings.php`` present, database reachable.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from qm_tui.engine import phpfiles

# drush 8 hides 'notice' without --verbose; the stand-in shows it (pushes, imports) and keeps provision's
# per-directory 'message' lines for --verbose.
CRED_KEYS = ("db_host", "db_port", "db_name", "db_user", "db_passwd")
SHOWN_LEVELS = {"ok", "success", "warning", "error", "cancel", "notice", "failed"}


class DrushError(Exception):
    """Abort the command: each message is logged at [error]; ``code`` is the exit status."""

    def __init__(self, *messages: str, code: int = 1) -> None:
        super().__init__(messages[0] if messages else "")
        self.messages = list(messages)
        self.code = code


class Output:
    """drush 8 ``Logger::log`` layout: message padded to 69 columns, ``[level]`` right-aligned in 11,
    on stderr; command output on stdout."""

    def __init__(self, debug: bool = False, verbose: bool = False) -> None:
        self.debug = debug
        self.verbose = verbose or debug
        self.errors = 0
        self.sink: list[tuple[str, str]] | None = None  # every message, when a hosting task records its log

    def log(self, message: str, level: str = "notice") -> None:
        if level == "error":
            self.errors += 1
        if self.sink is not None:
            self.sink.append((level, message))
        if level not in SHOWN_LEVELS and not (self.verbose and level in ("message", "info")) and not (
            self.debug and level == "debug"
        ):
            return
        lines: list[str] = []
        for para in message.split("\n"):
            lines += textwrap.wrap(para, 69, break_long_words=False, break_on_hyphens=False) or [""]
        lines[0] = f"{lines[0]:<69}{'[' + level + ']':>11}"
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()

    def print(self, text: str = "") -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


@dataclass
class Env:
    aegir_root: Path
    out: Output
    options: dict[str, Any] = field(default_factory=dict)
    yes: bool = False
    record: dict[str, Any] = field(default_factory=dict)  # facts for this call's log line (what a bootstrap loaded)

    @property
    def drush_dir(self) -> Path:
        return self.aegir_root / ".drush"

    def alias_path(self, name: str) -> Path:
        return self.drush_dir / f"{name.lstrip('@')}.alias.drushrc.php"

    def alias(self, name: str) -> dict[str, Any] | None:
        path = self.alias_path(name)
        if not path.is_file():
            return None
        records = phpfiles.parse_alias(path.read_text())
        return records.get(name.lstrip("@")) or next(iter(records.values()), None)

    def require_alias(self, name: str) -> dict[str, Any]:
        rec = self.alias(name)
        if rec is None:
            raise DrushError(f"Could not find the alias {'@' + name.lstrip('@')}")
        return rec

    def opt(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


def read_drushrc(path: Path) -> dict[str, Any]:
    """A site's drushrc.php (provision's template: options, ``$_SERVER`` copies, ``@include_once``)."""
    return phpfiles.parse_drushrc(path.read_text())


def drupal_version(root: Path) -> str | None:
    """Core version from the platform code, where drush 8 looks (``drush_drupal_version``)."""
    probes = [
        (root / "core/lib/Drupal.php", r"const\s+VERSION\s*=\s*'([^']+)'"),
        (root / "includes/bootstrap.inc", r"define\(\s*'VERSION'\s*,\s*'([^']+)'"),
        (root / "modules/system/system.module", r"define\(\s*'VERSION'\s*,\s*'([^']+)'"),  # D6
    ]
    for path, pattern in probes:
        if path.is_file():
            m = re.search(pattern, path.read_text(errors="replace"))
            if m:
                return m.group(1)
    return None


def conf_path(root: Path, uri: str) -> Path:
    """Drupal's conf_path(): sites/<host>, then shorter host suffixes, then sites/default."""
    host = re.sub(r"^https?://", "", uri).split("/")[0].split(":")[0].rstrip(".")
    parts = host.split(".")
    for i in range(len(parts)):
        cand = root / "sites" / ".".join(parts[i:])
        if cand.is_dir():
            return cand
    return root / "sites/default"


_SETTINGS_DB_ARRAY = re.compile(
    r"^\s*\$databases\s*\[\s*'default'\s*\]\s*\[\s*'default'\s*\]\s*=\s*(array\s*\(.*?\)|\[.*?\])\s*;",
    re.S | re.M,
)
_SETTINGS_DB_URL = re.compile(r"^\s*\$db_url\s*=\s*'([a-z]+)://([^:@]*):([^@]*)@([^/:]+)(?::(\d+))?/([^']+)'", re.M)


def php_falsy(value: Any) -> bool:
    """PHP's idea of false for an option value (``--redirection=0``, ``''``, FALSE)."""
    return value in (None, False, "", "0", 0)


_INCLUDE = re.compile(r"if \(is_readable\('([^']+)'\)\)\s*\{\s*include(?:_once)?\('\1'\);", re.S)


def settings_sources(settings: Path) -> list[Path]:
    """settings.php and what PHP includes from it: provision's ``if (is_readable('X')) include('X');``
    (global.inc, the platform's and the site's local settings, by absolute path), readable ones only."""
    text = settings.read_text(errors="replace")
    return [settings] + [Path(m.group(1)) for m in _INCLUDE.finditer(text) if os.access(m.group(1), os.R_OK)]


def settings_credentials(text: str) -> dict[str, str] | None:
    """Literal credentials in settings.php, if any (a non-cloaked Aegir template, or a hand-made file).
    A cloaked settings.php reads ``$_SERVER['db_*']``, which drush gets from the site's drushrc.php."""
    m = _SETTINGS_DB_ARRAY.search(text)
    if m and "$_SERVER" not in m.group(1):
        try:
            arr = phpfiles.parse_assignments(f"$x['db'] = {m.group(1)};", "x")["db"]
        except phpfiles.PhpParseError:
            arr = None
        if isinstance(arr, dict) and "database" in arr:
            return {
                "db_name": str(arr.get("database", "")),
                "db_user": str(arr.get("username", "")),
                "db_passwd": str(arr.get("password", "")),
                "db_host": str(arr.get("host", "localhost")),
                "db_port": str(arr.get("port", "") or "3306"),
            }
    m2 = _SETTINGS_DB_URL.search(text)
    if m2:
        from urllib.parse import unquote

        return {
            "db_user": unquote(m2.group(2)),
            "db_passwd": unquote(m2.group(3)),
            "db_host": m2.group(4),
            "db_port": m2.group(5) or "3306",
            "db_name": m2.group(6),
        }
    return None


_SOCKETS = ("/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/tmp/mysql.sock")  # noqa: S108


def connect(creds: dict[str, Any], database: bool = True) -> pymysql.connections.Connection:
    """PyMySQL keeps the password out of argv and the environment (no mysql client process)."""
    host = str(creds.get("db_host") or "localhost")
    kwargs: dict[str, Any] = {
        # Drupal 7+ sets a strict session sql_mode: NULL into a NOT NULL column is an error, not a 0.
        "init_command": "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
        "user": str(creds.get("db_user") or ""),
        "password": str(creds.get("db_passwd") or ""),
        "connect_timeout": 10,
        "autocommit": True,
        "charset": "utf8mb4",
    }
    if database:
        kwargs["database"] = str(creds.get("db_name") or "")
    # Like php.ini's mysqli.default_socket: where 'localhost' is (a sandbox runs its own server).
    sock = os.environ.get("QM_STANDIN_MYSQL_SOCKET") or next((s for s in _SOCKETS if os.path.exists(s)), None)
    if host == "localhost" and sock:  # PHP's mysql driver uses the socket for 'localhost'
        kwargs["unix_socket"] = sock
    else:
        kwargs["host"] = host
        kwargs["port"] = int(creds.get("db_port") or 3306)
    return pymysql.connect(**kwargs)


DB_ERROR_HINT = (
    "Drush was not able to start (bootstrap) the Drupal database.\n"
    "Hint: This may occur when Drush is trying to:\n"
    " * bootstrap a site that has not been installed or does not have a configured database. In this case"
    " you can select another site with a working database setup by specifying the URI to use with the"
    " --uri parameter on the command line. See `drush topic docs-aliases` for details.\n"
    " * connect the database through a socket. The socket file may be wrong or the php-cli may have no"
    " access to it in a jailed shell. See http://drupal.org/node/1428638 for details.\n"
)


@dataclass
class Site:
    """A site selected by ``@alias`` (or --root/--uri), bootstrapped like drush 8 does."""

    env: Env
    name: str  # alias name without '@' ('' for --root/--uri)
    alias: dict[str, Any]
    root: Path
    uri: str
    site_dir: Path = Path()
    version: str = ""
    creds: dict[str, Any] = field(default_factory=dict)
    drushrc: dict[str, Any] = field(default_factory=dict)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def bootstrap(self, command: str, full: bool = True, core: str | None = None) -> None:
        """Raise DrushError with drush 8's wording if the site cannot be bootstrapped for ``command``.
        ``core``: '6,7' or '8+' (the command's 'core' requirement)."""
        errors: list[str] = []
        version = drupal_version(self.root) if self.root.is_absolute() else None  # '' root: none
        if not version:
            errors.append("A Drupal installation directory could not be found")
        else:
            self.version = version
            self.site_dir = conf_path(self.root, self.uri)
            settings = self.site_dir / "settings.php"
            if not settings.is_file():
                rel = "./" + os.path.relpath(settings, self.root)
                errors.append(f"Could not find a Drupal settings.php file at {rel}.")
            else:
                self._load_credentials(settings)
                self.env.record["settings"] = [str(p) for p in settings_sources(settings)]
                if full and not self.db_ok():
                    errors.append(DB_ERROR_HINT)
        if not errors and core:
            ok = self.major in (6, 7) if core == "6,7" else self.major >= 8
            if not ok:
                want = "6 or 7" if core == "6,7" else "8+"
                errors.append(f"Command {command} requires Drupal core version {want} to run.")
                raise DrushError(*errors, f"The drush command '{command}' could not be executed.")
        if errors:
            raise DrushError(
                f"Command {command} needs a higher bootstrap level to run - you will need to invoke drush "
                "from a more functional Drupal environment to run this command.",
                f"The drush command '{command}' could not be executed.",
                *errors,
            )

    def _load_credentials(self, settings: Path) -> None:
        rc = self.site_dir / "drushrc.php"
        self.drushrc = read_drushrc(rc) if rc.is_file() else {}
        literal = settings_credentials(settings.read_text(errors="replace"))
        self.creds = literal or {k: self.drushrc.get(k) for k in CRED_KEYS}

    def db_ok(self) -> bool:
        if not self.creds.get("db_name"):
            return False
        try:
            self.connect().close()
            return True
        except pymysql.MySQLError:
            return False

    def connect(self) -> pymysql.connections.Connection:
        return connect(self.creds)


def select_site(env: Env, alias_name: str | None) -> Site:
    """The target of a site command: ``@alias``, or ``--root``/``--uri`` (``-r``/``-l``)."""
    if alias_name:
        rec = env.require_alias(alias_name)
        root = Path(str(rec.get("root") or ""))
        uri = str(rec.get("uri") or env.opt("uri") or "default")
        return Site(env, alias_name.lstrip("@"), rec, root, uri)
    root_opt, uri_opt = env.opt("root"), env.opt("uri")
    if root_opt:
        return Site(env, "", {}, Path(str(root_opt)), str(uri_opt or "default"))
    return Site(env, "", {}, Path(), "default")


def local_hostnames(env: Env) -> set[str]:
    """Hosts provision treats as local (``provision_is_local_host``) plus the master's own remote_host.
    The DNS comparison (name resolving to 127.0.0.1) is left out: lab hosts are ssh_config aliases that
    may well resolve to 127.0.0.1, and must still be reached over ssh."""
    names = {"localhost", "127.0.0.1", socket.gethostname().lower(), socket.getfqdn().lower()}
    master = env.alias("server_master")
    if master and master.get("remote_host"):
        names.add(str(master["remote_host"]).lower())
    return names
