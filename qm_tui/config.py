"""Configuration: lookup order, typed model, validation with one-line errors.

Every problem is reported as a single ``ConfigError`` line naming the file and the dotted key, so the
CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import QmError

ENV_VAR = "QM_TUI_CONFIG"
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the NUL


class ConfigError(QmError):
    """A configuration problem; ``str()`` is the one line shown to the user."""


@dataclass(frozen=True)
class DbConfig:
    name: str
    user: str
    host: str = "127.0.0.1"
    port: int = 3306
    unix_socket: str | None = None
    password_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def __repr__(self) -> str:  # never show the secret, even in debug output
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"DbConfig({self.user}@{where}/{self.name})"

    @property
    def where(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"

    def secret(self) -> str:
        """The password, read from ``password_file`` at the time of use."""
        if self.password is not None:
            return self.password
        if self.password_file is None:
            return ""
        return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")


@dataclass(frozen=True)
class HostmasterConfig:
    db: DbConfig
    server: str


@dataclass(frozen=True)
class SshConfig:
    config_file: Path | None
    known_hosts: Path
    client_keys: tuple[Path, ...] = ()
    user: str = "aegir"
    connect_timeout: float = 15.0
    keepalive_interval: float = 15.0
    keepalive_count_max: int = 3


@dataclass(frozen=True)
class HttpCheckConfig:
    """After the run, on every front: its web server answers for the site's (new) name."""

    enabled: bool = False
    # Where a front's web server answers, as seen from that front (curl runs there): scheme, address,
    # optional port; "{front}" stands for the front's server name. ``servers`` overrides it per front.
    url: str = "http://127.0.0.1"
    path: str = "/"
    expect_status: int = 200
    marker: str | None = None  # text the response body must contain
    timeout: float = 10.0
    servers: dict[str, str] = field(default_factory=dict)

    def url_for(self, front: str) -> str:
        return self.servers.get(front, self.url).replace("{front}", front)


@dataclass(frozen=True)
class MigrateConfig:
    drush: str = "drush"  # the drush command on the hostmaster (a path or a name on its PATH)
    templates: dict[str, dict[str, str]] = field(default_factory=dict)  # overrides of drush.DEFAULT_TEMPLATES
    parking_dir: str = "qm-tui-parking"  # under aegir_root on every front
    dump_dir: str = "backups/qm-tui"  # under aegir_root on the hostmaster
    dump_retention_days: int = 14
    step_timeout: float = 900.0
    long_step_timeout: float = 7200.0  # dump, updatedb, pushes
    on_hangup: str = "finish"  # foreground migrate on SIGHUP: "finish" the run or "stop" at a safe point
    undo_retry_seconds: float = 120.0  # a rollback waits this long for an unreachable host to return
    # The unix socket the hostmaster's mariadb/mariadb-dump use for a site whose db_host is 'localhost'
    # (None: the client's default from its my.cnf). A path on the hostmaster, so never made relative here.
    db_socket: str | None = None
    # Record the move as Aegir would, once the site is on its new platform: Aegir's own verify task
    # (a task node with its log, the site's verified time, its package instances on the new platform).
    aegir_verify_task: bool = True
    # After the run: `drush @site core-status` must bootstrap the site from its new place (root and site
    # dir), else the run rolls back. On by default in a batch (`qm-tui batch --no-post-check`).
    post_check: bool = False
    http_check: HttpCheckConfig = field(default_factory=HttpCheckConfig)


@dataclass(frozen=True)
class Config:
    path: Path
    hostmaster: HostmasterConfig
    aegir_root: Path
    ssh: SshConfig
    state_dir: Path
    strict: bool = False
    title: str | None = None  # shown in the UI title (the demo sandbox names itself here)
    migrate: MigrateConfig = field(default_factory=MigrateConfig)


# --- schema -------------------------------------------------------------------------------------

_PATH = "path"
_SPEC: dict[str, Any] = {
    "hostmaster": {
        "db": {
            "host": str, "port": int, "user": str, "password_file": _PATH, "password": str,
            "name": str, "unix_socket": _PATH, "connect_timeout": float, "read_timeout": float,
        },
        "server": str,
    },
    "aegir_root": _PATH,
    "ssh": {
        "config_file": _PATH, "known_hosts": _PATH, "client_keys": [_PATH], "user": str,
        "connect_timeout": float, "keepalive_interval": float, "keepalive_count_max": int,
    },
    "state_dir": _PATH,
    "strict": bool,
    "title": str,
    "migrate": {
        "drush": str, "templates": {"*": {"*": str}}, "parking_dir": str, "dump_dir": str,
        "dump_retention_days": int, "step_timeout": float, "long_step_timeout": float, "on_hangup": str,
        "undo_retry_seconds": float, "db_socket": str, "aegir_verify_task": bool, "post_check": bool,
        "http_check": {"enabled": bool, "url": str, "path": str, "expect_status": int, "marker": str,
                       "timeout": float, "servers": {"*": str}},
    },
}
_REQUIRED = {"hostmaster", "hostmaster.db", "hostmaster.db.user", "hostmaster.db.name", "hostmaster.server"}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               _PATH: "a path"}


def default_path() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "qm-tui" / "config.yaml"


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config PATH``, then ``$QM_TUI_CONFIG``, then ``$XDG_CONFIG_HOME/qm-tui/config.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return default_path()


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (use --config PATH or ${ENV_VAR})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    return parse_config(data, path)


def parse_config(data: Any, path: Path) -> Config:
    clean = _check(data, _SPEC, path, "")
    for key in sorted(_REQUIRED):
        node: Any = clean
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            raise ConfigError(f"{path}: {key}: required key is missing")
    hm = clean["hostmaster"]
    db = hm["db"]
    if "password" in db and "password_file" in db:
        raise ConfigError(f"{path}: hostmaster.db: give password or password_file, not both")
    if db.get("password_file") is not None:
        _check_secret_file(db["password_file"], path, "hostmaster.db.password_file")
    if db.get("password") is not None:
        # An inline password makes the config file itself a secret.
        _check_secret_file(path, path, "hostmaster.db.password")
    if db.get("port") is not None and not 0 < db["port"] < 65536:
        raise ConfigError(f"{path}: hostmaster.db.port: {db['port']} is not a TCP port")
    ssh = clean.get("ssh", {})
    home = Path.home()
    return Config(
        path=path,
        hostmaster=HostmasterConfig(
            db=DbConfig(
                name=db["name"], user=db["user"], host=db.get("host", "127.0.0.1"),
                port=db.get("port", 3306),
                unix_socket=str(db["unix_socket"]) if db.get("unix_socket") else None,
                password_file=db.get("password_file"), password=db.get("password"),
                connect_timeout=db.get("connect_timeout", 10.0),
                read_timeout=db.get("read_timeout", 60.0),
            ),
            server=hm["server"],
        ),
        aegir_root=clean.get("aegir_root", Path("/var/aegir")),
        ssh=SshConfig(
            config_file=ssh.get("config_file", _existing(home / ".ssh" / "config")),
            known_hosts=ssh.get("known_hosts", home / ".ssh" / "known_hosts"),
            client_keys=tuple(ssh.get("client_keys", ())),
            user=ssh.get("user", "aegir"),
            connect_timeout=ssh.get("connect_timeout", 15.0),
            keepalive_interval=ssh.get("keepalive_interval", 15.0),
            keepalive_count_max=ssh.get("keepalive_count_max", 3),
        ),
        state_dir=clean.get("state_dir", home / ".local" / "state" / "qm-tui"),
        strict=clean.get("strict", False),
        title=clean.get("title"),
        migrate=_migrate(clean.get("migrate", {}), path),
    )


def _migrate(m: dict[str, Any], path: Path) -> MigrateConfig:
    from .engine.drush import TemplateError, merge_templates

    try:
        merge_templates(m.get("templates"))
    except TemplateError as exc:
        raise ConfigError(f"{path}: migrate.templates: {exc}") from None
    for key in ("parking_dir", "dump_dir"):
        v = m.get(key)
        if v is not None and (v.startswith("/") or ".." in v.split("/") or not v.strip("/")):
            raise ConfigError(f"{path}: migrate.{key}: must be a relative path under aegir_root")
    if m.get("on_hangup", "finish") not in ("finish", "stop"):
        raise ConfigError(f"{path}: migrate.on_hangup: expected finish or stop")
    sock = m.get("db_socket")
    if sock is not None:
        # It goes into the client's option file as one line, and sun_path holds 107 bytes.
        if not sock.startswith("/") or any(ord(c) < 32 or c == "\x7f" for c in sock):
            raise ConfigError(f"{path}: migrate.db_socket: expected an absolute path on the hostmaster, "
                              f"without control characters, got {sock!r}")
        if len(sock.encode()) > SOCKET_PATH_MAX:
            raise ConfigError(f"{path}: migrate.db_socket: {sock} is longer than {SOCKET_PATH_MAX} bytes "
                              "(the limit of a unix socket path)")
    defaults = MigrateConfig()
    values = {k: m.get(k, getattr(defaults, k)) for k in defaults.__dataclass_fields__}
    values["http_check"] = _http_check(m.get("http_check", {}), path)
    return MigrateConfig(**values)


_SERVER_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _http_check(h: dict[str, Any], path: Path) -> HttpCheckConfig:
    """Every value reaches curl's command line on the fronts: one plain URL, path and marker each."""
    key = "migrate.http_check"
    for sub, url in [("url", h.get("url")), *((f"servers.{k}", v) for k, v in h.get("servers", {}).items())]:
        if url is not None and (why := _url_problem(url)):
            raise ConfigError(f"{path}: {key}.{sub}: {why}, got {url!r}")
    for name in h.get("servers", {}):
        if not _SERVER_NAME.fullmatch(name):
            raise ConfigError(f"{path}: {key}.servers: {name!r} is not a server name")
    req = h.get("path", "/")
    if not req.startswith("/") or "#" in req or _unprintable(req, space=True):
        raise ConfigError(f"{path}: {key}.path: expected a path starting with / (a query allowed), "
                          f"without spaces or #, got {req!r}")
    status = h.get("expect_status", 200)
    if not 100 <= status <= 599:
        raise ConfigError(f"{path}: {key}.expect_status: {status} is not an HTTP status (100 to 599)")
    marker = h.get("marker")
    if marker is not None and (not marker.strip() or _unprintable(marker) or len(marker) > 200):
        raise ConfigError(f"{path}: {key}.marker: expected one line of text (up to 200 characters), "
                          f"got {marker!r}")
    timeout = h.get("timeout", 10.0)
    if not 0 < timeout <= 600:
        raise ConfigError(f"{path}: {key}.timeout: expected seconds, more than 0 and at most 600, got {timeout:g}")
    defaults = HttpCheckConfig()
    return HttpCheckConfig(**{k: h.get(k, getattr(defaults, k)) for k in defaults.__dataclass_fields__})


def _unprintable(text: str, space: bool = False) -> bool:
    return any(ord(c) < 32 or c == "\x7f" or (space and c.isspace()) for c in text)


def _url_problem(url: str) -> str | None:
    """Why ``url`` is not scheme://address[:port][/] (None: it is); "{front}" stands for a server name."""
    from urllib.parse import urlsplit

    sample = url.replace("{front}", "front.example")
    if _unprintable(sample, space=True) or "{" in sample or "}" in sample:
        return "expected a URL without spaces or braces (other than {front})"
    try:
        parts = urlsplit(sample)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "expected an http:// or https:// URL"
    if "@" in parts.netloc:
        return "no user or password in the URL (it would show in the plan and in ps)"
    if not re.fullmatch(r"[a-z0-9._-]+|[0-9a-f:.]*:[0-9a-f:.]*", parts.hostname or ""):  # a name, IPv4 or IPv6
        return "expected an address (a name or an IP)"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "expected scheme://address[:port] only (the request path is migrate.http_check.path)"
    return None


def _existing(p: Path) -> Path | None:
    return p if p.exists() else None


def _check(value: Any, spec: Any, path: Path, key: str) -> Any:
    where = key or "(top level)"
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {where}: expected a mapping, got {_kind(value)}")
        out: dict[str, Any] = {}
        for k, v in value.items():
            sub = f"{key}.{k}" if key else str(k)
            if "*" in spec:
                out[str(k)] = _check(v, spec["*"], path, sub)
                continue
            if k not in spec:
                known = ", ".join(sorted(spec))
                raise ConfigError(f"{path}: {sub}: unknown key (expected one of: {known})")
            out[k] = None if v is None and spec[k] is not _PATH and not isinstance(spec[k], dict) \
                else _check(v, spec[k], path, sub)
            if out[k] is None:
                del out[k]
        return out
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise ConfigError(f"{path}: {where}: expected a list, got {_kind(value)}")
        return [_check(v, spec[0], path, f"{key}[{i}]") for i, v in enumerate(value)]
    if value is None:
        return None
    if spec is _PATH:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: {where}: expected a path, got {_kind(value)}")
        p = Path(os.path.expandvars(value)).expanduser()
        return p if p.is_absolute() else (path.parent / p)
    if spec is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if spec is int and isinstance(value, bool) or not isinstance(value, spec):
        raise ConfigError(f"{path}: {where}: expected {_TYPE_NAMES[spec]}, got {_kind(value)}")
    return value


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: f"the string {v!r}", bool: f"{v}".lower(),
            int: f"the number {v}", float: f"the number {v}"}.get(type(v), type(v).__name__)


def _check_secret_file(p: Path, path: Path, key: str) -> None:
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {key}: {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {key}: cannot stat {p}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path}: {key}: {p} is not a regular file")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: {key}: {p} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run: chmod 600 {p}"
        )
    if not os.access(p, os.R_OK):
        raise ConfigError(f"{path}: {key}: {p} is not readable by this user")
