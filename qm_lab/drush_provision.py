"""provision-save and provision-verify (site contexts) for the drush stand-in.

Follows provision 7.x-3.x: ``provision-save`` rebuilds the site context (``root`` is always the
platform's root, ``site_path`` = root/sites/uri, ``server`` = @server_master) and rewrites the alias;
``provision-verify`` re-saves, writes settings.php, pushes platform and site dir to the web servers
(``provision_drupal_push_site``), needs the database, creates the site directories, writes and pushes
the vhosts, clears caches and rewrites drushrc.php. Templates live in ``drush_templates``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from qm_tui.engine import phpfiles

from .drush_env import (
    CRED_KEYS,
    DB_ERROR_HINT,
    DrushError,
    Env,
    Site,
    drupal_version,
    local_hostnames,
    php_falsy,
    read_drushrc,
)
from .drush_site import clear_cache_tables
from .drush_templates import render_settings, render_vhost

SITE_PROPS = (
    "context_type", "platform", "server", "db_server", "uri", "root", "site_path", "site_enabled",
    "language", "client_name", "aliases", "redirection", "cron_key", "drush_aliases", "profile",
    "install_method",
)
ARRAY_PROPS = {"aliases", "drush_aliases", "cluster_web_servers", "master_web_servers", "slave_web_servers",
               "ip_addresses"}
GLOBAL_OPTS = {"yes", "no", "verbose", "debug", "quiet", "nocolor", "format", "ssh-options", "uri", "y",
               "provision_db_cloaking", "override_slave_authority", "backend", "strict", "delete"}
# drush_version_control_reserved_files(): built-in list, then the bzr and svn engines' files.
VCS_FILES = (".git", ".gitignore", ".hg", ".hgignore", ".hgrags", ".bzr", ".bzrignore", ".bzrtags", ".svn")


def aname(name: str) -> str:
    return "@" + name.lstrip("@")


def as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [v for v in str(value or "").split(",") if v]


def write_file(env: Env, path: Path, text: str, mode: int | None, description: str,
               group: str | None = None) -> None:
    """Provision_Config::write(): make it writable, write, chmod back, chgrp. Written to a temp name and
    renamed, so a killed process leaves the old file or the new one, never half of one."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        env.out.log(f"Created directory {path.parent}.", "notice")
    if mode is not None and path.exists() and not mode & 0o200:
        os.chmod(path, mode | 0o200)
    tmp = path.with_name(f".{path.name}.standin-{os.getpid()}")
    try:
        tmp.write_text(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DrushError(f"Could not generate in write(): {description} ({path}): {e.strerror}") from e
    env.out.log(f"Generated config in write(): {description} ({path})", "success")
    if mode is not None:
        env.out.log(f"Changed permissions of {path} to {mode:o}", "notice")
    if group:
        chgrp(env, path, group)


def chgrp(env: Env, path: Path, group: str, level: str = "notice") -> None:
    try:
        shutil.chown(path, group=group)
        env.out.log(f"Changed group ownership of {path} to {group}", level)
    except (OSError, LookupError):
        env.out.log(f"Could not change group ownership of {path} to {group}", "warning")


def save_alias(env: Env, name: str, cli: dict[str, Any]) -> dict[str, Any]:
    """drush_provision_save(): the context rebuilt from its alias plus command-line options, written back.
    A missing platform is reported, yet the alias is still written (with root NULL), as provision does."""
    name = aname(name)
    rec = dict(env.alias(name) or {})
    ctype = str(rec.get("context_type") or cli.get("context_type") or "server")
    for key, value in cli.items():
        # --uri is drush's global option, and a site context's property too (provision-save @new --uri=...)
        site_uri = ctype == "site" and key == "uri"
        if (key in GLOBAL_OPTS and not site_uri) or (ctype == "site" and key not in SITE_PROPS):
            continue
        if value == "null":
            rec.pop(key, None)
        elif key in ARRAY_PROPS and not isinstance(value, list):
            rec[key] = as_list(value)
        else:
            rec[key] = value
    rec["context_type"] = ctype
    missing: str | None = None
    if ctype == "site":
        rec["server"] = "@server_master"  # Provision_Context::init(): always the master
        plat = env.alias(str(rec.get("platform") or "")) if rec.get("platform") else None
        if plat is None:
            missing = f"Could not find provision alias named: {aname(str(rec.get('platform') or ''))}"
            rec["root"] = None
        else:
            rec["root"] = plat.get("root")
        rec["site_path"] = f"{rec['root'] or ''}/sites/{rec.get('uri', '')}"
        for key, default in (("site_enabled", True), ("language", "en"), ("aliases", []),
                             ("redirection", False), ("profile", "standard")):
            rec.setdefault(key, default)
    path = env.alias_path(name)
    write_file(env, path, phpfiles.render_alias(name.lstrip("@"), rec), 0o440, "Drush configuration file")
    if missing:
        raise DrushError(missing)
    return rec


def cmd_provision_save(env: Env, alias: str | None, args: list[str]) -> int:
    name = args[0] if args else alias
    if not name:
        raise DrushError("provision-save: no context named")
    if env.opt("delete"):
        env.alias_path(name).unlink(missing_ok=True)
        return 0
    save_alias(env, name, env.options)
    return 0


class WebServers:
    """The platform's web server as provision's http service sees it (cluster / pack / single)."""

    def __init__(self, env: Env, platform: dict[str, Any]) -> None:
        ws_name = aname(str(platform.get("web_server") or "@server_master"))
        ws = env.alias(ws_name)
        if ws is None:
            raise DrushError(f"Could not find provision alias named: {ws_name}")
        self.type = str(ws.get("http_service_type") or "apache")

        def load(names: list[str]) -> list[tuple[str, dict[str, Any]]]:
            out = []
            for n in names:
                rec = env.alias(n)
                if rec is None:
                    raise DrushError(f"Could not find provision alias named: {aname(n)}")
                out.append((aname(n), rec))
            return out

        if self.type == "cluster":
            self.config = self.sync = load(as_list(ws.get("cluster_web_servers")))
        elif self.type == "pack":
            masters = load(as_list(ws.get("master_web_servers")))
            self.config = masters + load(as_list(ws.get("slave_web_servers")))
            self.sync = masters  # pack: slaves see code and files over NFS
        else:
            self.config = self.sync = [(ws_name, ws)]


class Pusher:
    """Provision_Context_server::sync(): rsync to script_user@remote_host:/ unless the host is local."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.local = local_hostnames(env)
        master = env.alias("server_master") or {}
        self.default_user = str(master.get("script_user") or "aegir")
        self.errors: list[str] = []

    def sync(self, server: dict[str, Any], path: Path, excludes: tuple[str, ...] = (),
             exclude_sites: bool = False) -> None:
        host = str(server.get("remote_host") or "localhost")
        if host.lower() in self.local or not path.exists() and not path.is_symlink():
            return
        user = str(server.get("script_user") or self.default_user)
        rsh = os.environ.get("QM_STANDIN_RSYNC_RSH") or (
            "ssh " + str(self.env.opt("ssh-options", "-o PasswordAuthentication=no")))
        opts = [f"--exclude={f}" for f in VCS_FILES] + [f"--exclude={p}" for p in excludes]
        if exclude_sites:
            opts += ["--include=sites/all", "--exclude=sites/*"]
        dest = f"{user}@{host}:/"
        argv = ["rsync", "-e", rsh, "-akz", *opts, "--relative", "--keep-dirlinks", "--omit-dir-times",
                "--delete", str(path), dest]
        shown = " ".join(shlex.quote(a) for a in argv)
        self.env.out.log(f"Running: {shown}", "notice")
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
        if proc.returncode == 0:
            self.env.out.log(f"{path} has been synced to remote server {host}.", "notice")
            return
        msg = (proc.stdout + proc.stderr).decode(errors="replace").strip()
        self.errors += [
            f"Could not rsync from '{path}' to '{dest}'",
            f"{path} could not be synced to remote server {host}. Changes might not be available until "
            f"this has been done. (error: {msg} [rsync exit {proc.returncode}])",
        ]

    def check(self) -> None:
        if self.errors:
            errors, self.errors = self.errors, []
            raise DrushError(*errors)


def push_site(env: Env, rec: dict[str, Any], servers: WebServers, pusher: Pusher) -> None:
    """provision_drupal_push_site(): the platform (only sites/all of sites/), then the site dir. Clusters
    exclude nothing from the site dir, so rsync --delete removes on every member whatever the master's
    copy lacks (a front's live files/); other web servers keep files/* and private/* (front authoritative)."""
    root, site_path = Path(str(rec["root"])), Path(str(rec["site_path"]))
    override = bool(env.opt("override_slave_authority"))
    excludes = () if servers.type == "cluster" or override else ("files/*", "private/*")
    for _, server in servers.sync:
        pusher.sync(server, root, exclude_sites=True)
    for _, server in servers.sync:
        pusher.sync(server, site_path, excludes=excludes)
    pusher.check()


SITE_DIRS: tuple[tuple[str, int, bool], ...] = (  # (path, mode, chgrp to the web group)
    ("", 0o755, False), ("themes", 0o2775, False), ("modules", 0o2775, False), ("libraries", 0o2775, False),
    ("files", 0o2770, True), ("files/tmp", 0o2770, True), ("files/images", 0o2770, True),
    ("files/pictures", 0o2770, True), ("files/css", 0o2770, True), ("files/js", 0o2770, True),
    ("files/ctools", 0o2770, True), ("files/imagecache", 0o2770, True), ("files/locations", 0o2770, True),
    ("private", 0o2770, True), ("private/files", 0o2770, True), ("private/temp", 0o2770, True),
    ("files/styles", 0o2770, True), ("private/config", 0o2770, True), ("private/config/sync", 0o2770, True),
)


_SITES_LINE = re.compile(r"^\$sites\['([^']+)'\]\s*=\s*'([^']+)';\s*$", re.M)


def maintain_aliases(env: Env, rec: dict[str, Any], major: int, servers: WebServers, pusher: Pusher) -> None:
    """_provision_drupal_maintain_aliases(): D7+ keep ``<root>/sites/sites.php`` holding
    ``$sites['<alias>'] = '<uri>';`` for each alias (none when the site redirects), other sites'
    records kept; D6 a ``sites/<alias> -> <uri>`` symlink each. Pushed to every web server."""
    root, uri = Path(str(rec["root"])), str(rec["uri"])
    redirects = not php_falsy(rec.get("redirection"))
    aliases = [] if redirects else [a.strip() for a in as_list(rec.get("aliases")) if a.strip()]
    if major >= 7:
        path = root / "sites" / "sites.php"
        records = dict(_SITES_LINE.findall(path.read_text())) if path.is_file() else {}
        records = {a: u for a, u in records.items() if u != uri} | {a: uri for a in aliases}
        text = "<?php\n" + "".join(f"$sites['{a}'] = '{u}';\n" for a, u in records.items())
        write_file(env, path, text, 0o644, "Drupal sites.php file")
        synced = [path]
    else:
        synced = []
        for link in (root / "sites").iterdir():
            if link.is_symlink() and os.readlink(link) == uri:
                link.unlink()
        for a in aliases:
            (root / "sites" / a).symlink_to(uri)
            env.out.log(f"Created symlink for alias {root / 'sites' / a}", "message")
            synced.append(root / "sites" / a)
    for _, server in servers.sync:
        for f in synced:
            pusher.sync(server, f)
    pusher.check()


def create_directories(env: Env, site_path: Path, group: str) -> None:
    """_provision_drupal_create_directories(): note it re-creates an empty files/ when the master's copy
    has none, and fails on a dangling files symlink (mkdir over an existing name)."""
    errors = []
    for rel, mode, grp in SITE_DIRS:
        p = site_path / rel if rel else site_path
        if not p.is_dir():
            try:
                p.mkdir()
                env.out.log(f"Created {p}", "message")
            except OSError:
                errors.append(f"Could not create {p}")
                continue
        if grp:
            chgrp(env, p, group, "message")
        try:
            os.chmod(p, mode)
            env.out.log(f"Changed permissions of {p} to {mode:o}", "message")
        except OSError:
            env.out.log(f"Could not change permissions {p} to {mode:o}", "warning")
    if errors:
        raise DrushError(*errors)


def cmd_provision_verify(env: Env, alias: str | None, args: list[str]) -> int:
    name = args[0] if args else alias
    if not name:
        raise DrushError("provision-verify: no context named")
    ctx = env.require_alias(name)
    if ctx.get("context_type") != "site":
        raise DrushError(f"standin: provision-verify supports site contexts only, not {ctx.get('context_type')}")
    rec = save_alias(env, name, {})  # drush_provision_verify() re-saves the context first
    root, site_path, uri = Path(str(rec["root"])), Path(str(rec["site_path"])), str(rec["uri"])
    version = drupal_version(root)
    if not version:
        raise DrushError("A Drupal installation directory could not be found")
    if not site_path.is_dir():
        raise DrushError(f"Could not find a Drupal settings.php file at ./sites/{uri}/settings.php.",
                         f"The site directory {site_path} does not exist.")
    platform = env.require_alias(str(rec["platform"]))
    servers = WebServers(env, platform)
    pusher = Pusher(env)
    master = env.alias("server_master") or {}
    group = str(master.get("web_group") or "www-data")
    rc_path = site_path / "drushrc.php"
    drushrc = read_drushrc(rc_path) if rc_path.is_file() else {}
    cloaked = str(env.opt("provision_db_cloaking", "1")) not in ("0", "false", "FALSE")
    settings = site_path / "settings.php"

    def write_settings() -> None:
        major = int(version.split(".")[0])
        text = render_settings(major, rec, drushrc, cloaked, str(master.get("aegir_root") or env.aegir_root))
        write_file(env, settings, text, 0o440, "Drupal settings.php file", group)
        local = site_path / "local.settings.php"
        if not local.exists():
            write_file(env, local, "<?php # local settings.php \n", 0o440, "Drupal local.settings.php file", group)

    # validate: settings.php, push, then the full bootstrap (needs the database).
    write_settings()
    push_site(env, rec, servers, pusher)
    site = Site(env, name.lstrip("@"), rec, root, uri, site_dir=site_path, version=version,
                creds={k: drushrc.get(k) for k in CRED_KEYS},
                drushrc=drushrc)
    if not site.db_ok():
        raise DrushError(DB_ERROR_HINT)
    # pre: directories, settings.php again, push again.
    create_directories(env, site_path, group)
    write_settings()
    push_site(env, rec, servers, pusher)
    # command (http service): one vhost per config server, each pushed to its host.
    for sname, server in servers.config:
        kind = "nginx" if "nginx" in str(server.get("http_service_type") or "") else "apache"
        aegir_root = Path(str(server.get("aegir_root") or master.get("aegir_root") or env.aegir_root))
        vhost = aegir_root / "config" / sname.lstrip("@") / kind / "vhost.d" / uri
        write_file(env, vhost, render_vhost(kind, rec, drushrc, server), 0o640, "virtual host configuration file")
        pusher.sync(server, vhost)
    pusher.check()
    # post: aliases (sites.php), caches, drushrc.php, client symlink.
    maintain_aliases(env, rec, int(version.split(".")[0]), servers, pusher)
    clear_cache_tables(site)
    drushrc["installed"] = True
    write_file(env, rc_path, phpfiles.render_drushrc(drushrc), 0o440, "Site Drush configuration file", group)
    client = rec.get("client_name")
    if client:
        link = env.aegir_root / "clients" / str(client) / uri
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(site_path)
    return 0
