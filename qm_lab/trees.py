"""Write the Aegir file trees of a ``World`` (docs/lab.md "Directories on each host").

``roots`` maps a real host name to the controller-side directory that host sees as /var/aegir
(``aegir_root``: another in-host root, e.g. a local single-server sandbox where both are one path);
``shared_roots`` maps an in-host shared mount (``/srv/gluster``) to its controller directory. Paths
written INTO files (publish_path, site_path, aliases, symlink targets) are in-host absolute paths;
writes go under ``roots[host]``.

* The master gets every (non-deleted) platform and installed site dir, every alias in ``~/.drush``,
  the vhosts of every front, ``~/clients/<client>/<uri>`` symlinks and the hostmaster site dir.
  Its site ``files`` equal the fronts' on a cluster (provision's master copy is authoritative there
  and every verify pushes it); elsewhere they are a stale copy (``SiteFile.new`` absent, ``changed``
  with old content) unless the master itself serves the platform.
* Each real front of a platform's web server (cluster members, pack masters and slaves, a
  standalone server, the master for server_master) gets the platform code and live site dirs.
* A ``files_symlink`` site has ``files -> /srv/gluster/<uri>/files`` on its fronts and on the master
  (which mounts the shared storage too); the live files go to the shared root.

Modes follow provision: settings.php 0440 and files/private 2770 with group www-data (``web_gid``),
drushrc.php 0440. Ownership is applied only when running as root and ``owner`` is given.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qm_tui.engine.phpfiles import render_alias, render_drushrc

from .world import CodeExt, DbCreds, Platform, Site, World, ext_dir, ext_file

AEGIR_ROOT = "/var/aegir"
GLUSTER = "/srv/gluster"
UPLOADED = 1_700_000_000  # the mtime of every site file (2023-11-14), a day less for a stale copy's
_CORE_INDEX = "<?php\n/**\n * @file\n * The PHP page that serves all page requests on a Drupal installation.\n */\n"


@dataclass
class TreeManifest:
    """What was written, as in-host absolute paths (``os.fsdecode``: non-UTF-8 bytes survive)."""

    files: dict[str, list[str]] = field(default_factory=dict)  # host -> regular files and symlinks
    site_dirs: dict[str, list[str]] = field(default_factory=dict)
    platform_dirs: dict[str, list[str]] = field(default_factory=dict)
    shared: dict[str, list[str]] = field(default_factory=dict)  # shared mount -> files written there


class _Tree:
    """Writes in-host paths under a controller directory, records them, chowns at the end."""

    def __init__(self, key: str, mount: str, root: Path, out: list[str], owner: tuple[int, int] | None,
                 web_gid: int | None) -> None:
        self.key, self.mount, self.root, self.out = key, os.fsencode(mount), os.fsencode(root), out
        self.base = mount  # the in-host root as text (aliases and vhosts name it)
        self.owner, self.web_gid = owner, web_gid
        self.chown: list[tuple[bytes, bool]] = []  # (controller path, web group)

    def real(self, path: str | bytes) -> bytes:
        p = os.fsencode(path)
        if not (p == self.mount or p.startswith(self.mount + b"/")):
            raise ValueError(f"{os.fsdecode(p)} is outside {os.fsdecode(self.mount)} on {self.key}")
        return self.root + p[len(self.mount):]

    def mkdir(self, path: str | bytes, mode: int = 0o755, web: bool = False) -> None:
        real = self.real(path)
        parent = os.path.dirname(real)
        if not os.path.isdir(parent) and os.fsencode(path) != self.mount:
            self.mkdir(os.path.dirname(os.fsencode(path)))
        os.makedirs(real, exist_ok=True)
        os.chmod(real, mode)
        self.chown.append((real, web))

    def write(self, path: str | bytes, data: str | bytes, mode: int = 0o644, web: bool = False,
              mtime: int | None = None) -> None:
        real = self.real(path)
        if not os.path.isdir(os.path.dirname(real)):
            self.mkdir(os.path.dirname(os.fsencode(path)))
        if os.path.lexists(real):  # read-only files (0440) are replaced, not opened for writing
            os.unlink(real)
        fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(real, mode)
        if mtime is not None:
            os.utime(real, (mtime, mtime))
        self.chown.append((real, web))
        self.out.append(os.fsdecode(path))

    def symlink(self, path: str | bytes, target: str) -> None:
        real = self.real(path)
        if os.path.islink(real) or os.path.isfile(real):
            os.unlink(real)
        elif os.path.isdir(real):  # a rebuild turning a real files/ dir into the gluster link
            shutil.rmtree(real)
        os.symlink(target, real)
        self.chown.append((real, False))
        self.out.append(os.fsdecode(path))

    def apply_owner(self) -> None:
        if self.owner is None or os.geteuid() != 0:
            return
        uid, gid = self.owner
        for real, web in self.chown:
            os.lchown(real, uid, self.web_gid if web and self.web_gid is not None else gid)


# --- file contents ------------------------------------------------------------------------------


def _info(platform: Platform, ext: CodeExt) -> tuple[str, str]:
    """(file name, text) of an extension's .info / .info.yml."""
    major, core = platform.major, platform.core_version
    project = "drupal" if ext.scope == "core" else ext.parent or ext.short_name
    if major >= 8:
        version = "VERSION" if ext.scope == "core" else (None if ext.version is None else f"'{ext.version}'")
        lines = [f"name: '{ext.name}'", f"type: {ext.type}", f"description: '{ext.name} (lab)'",
                 "core_version_requirement: ^9 || ^10", "package: Core" if ext.scope == "core" else "package: Other"]
        if version is not None:
            lines += ["# Information added by Drupal.org packaging script", f"version: {version}",
                      f"project: '{project}'"]
        return f"{ext.short_name}.info.yml", "\n".join(lines) + "\n"
    lines = [f"name = {ext.name}", f"description = {ext.name} (lab)", f"core = {major}.x"]
    if ext.type == "theme":
        lines.append("engine = phptemplate")
    if ext.version is not None:
        lines += ["", "; Information added by Drupal.org packaging script", f'version = "{ext.version}"',
                  f'project = "{project}"', f'datestamp = "{1_700_000_000 + sum(map(ord, core))}"']
    return f"{ext.short_name}.info", "\n".join(lines) + "\n"


def _install(short: str, n: int) -> str:
    """hook_update_N functions whose highest N is ``n`` (what provision's regex reads as schema)."""
    ns = sorted({max(n - k, (n // 100) * 100) for k in range(3)})
    body = "".join(f"\n/**\n * Update {m}.\n */\nfunction {short}_update_{m}() {{\n}}\n" for m in ns)
    return f"<?php\n\n/**\n * @file\n * Install, update and uninstall functions for {short}.\n */\n{body}"


def _platform_code(t: _Tree, world: World, p: Platform) -> None:
    root, major = p.publish_path, p.major
    t.write(f"{root}/index.php", _CORE_INDEX + "define('DRUPAL_ROOT', getcwd());\n")
    if major >= 8:
        t.write(f"{root}/core/lib/Drupal.php",
                f"<?php\n\nclass Drupal {{\n\n  const VERSION = '{p.core_version}';\n\n}}\n")
        t.write(f"{root}/autoload.php", "<?php\nreturn require __DIR__ . '/vendor/autoload.php';\n")
    else:
        t.write(f"{root}/includes/bootstrap.inc", f"<?php\n\ndefine('VERSION', '{p.core_version}');\n")
    t.write(f"{root}/sites/default/default.settings.php", "<?php\n// Default settings (lab).\n")
    t.mkdir(f"{root}/sites/all/modules")
    aliases = [(a.alias, s.uri) for s in world.sites if s.platform == p.nid and s.installed for a in s.aliases]
    if aliases and major >= 7:
        t.write(f"{root}/sites/sites.php", "<?php\n" + "".join(f"$sites['{a}'] = '{u}';\n" for a, u in aliases))
    for e in p.exts:
        d = f"{root}/{ext_dir(e, major)}"
        name, text = _info(p, e)
        t.write(f"{d}/{name}", text)
        if e.type == "module":
            t.write(f"{d}/{e.short_name}.module", f"<?php\n\n/**\n * @file\n * {e.name}.\n */\n")
        elif e.type == "profile":
            t.write(f"{root}/{ext_file(e, major)}" if major < 8 else f"{d}/{e.short_name}.profile",
                    f"<?php\n\n/**\n * @file\n * {e.name} install profile.\n */\n")
        if e.type == "module" and e.update_n:  # D8+ without one: provision still says major*1000
            t.write(f"{d}/{e.short_name}.install", _install(e.short_name, e.update_n))


def _settings(world: World, p: Platform, s: Site) -> str:
    """A cloaked settings.php like provision's: credentials come from $_SERVER (the vhost)."""
    site_path = f"{p.publish_path}/sites/{s.uri}"
    db = "\n".join(f"    '{k}' => $_SERVER['db_{v}']," for k, v in (("driver", "type"), ("database", "name"),
                   ("username", "user"), ("password", "passwd"), ("host", "host"), ("port", "port")))
    extra = (f"  $settings['hash_salt'] = 'lab-{s.nid}';\n  $settings['file_private_path'] = "
             f"'sites/{s.uri}/private/files';\n" if p.major >= 8 else
             f"  $conf['file_private_path'] = 'sites/{s.uri}/private/files';\n")
    return ("<?php\n/**\n * @file Drupal's settings.php file\n *\n * This file was automatically generated by "
            "Aegir 7.x-3.192.\n */\n\nif (isset($_SERVER['db_name'])) {\n  $databases['default']['default'] = "
            f"array(\n{db}\n  );\n}}\n\n{extra}\n  # Additional site configuration settings.\n"
            f"  if (is_readable('{site_path}/local.settings.php')) {{\n"
            f"    include_once('{site_path}/local.settings.php');\n  }}\n")


def _drushrc(world: World, p: Platform, s: Site, creds: DbCreds | None) -> str:
    profile = next(k.short_name for k in world.packages if k.nid == s.profile)
    return render_drushrc({
        "db_type": "mysql", "db_host": creds.host if creds else "127.0.0.1",
        "db_port": str(creds.port if creds else 3306), "db_name": creds.name if creds else s.db_name or "",
        "db_user": creds.user if creds else "", "db_passwd": creds.password if creds else "",
        "installed": True, "uri": s.uri, "site_path": f"{p.publish_path}/sites/{s.uri}",
        "platform": f"@{p.context}", "profile": profile, "language": s.language,
    })


def _site_dir(t: _Tree, world: World, p: Platform, s: Site, creds: DbCreds | None, live: bool,
              symlink_files: bool, shared: _Tree | None) -> None:
    sp = f"{p.publish_path}/sites/{s.uri}"
    t.mkdir(sp)
    t.write(f"{sp}/settings.php", _settings(world, p, s), 0o440, web=True)
    t.write(f"{sp}/drushrc.php", _drushrc(world, p, s, creds), 0o440)
    t.write(f"{sp}/local.settings.php", "<?php # local settings.php \n$conf['lab_marker'] = 'local';\n", 0o440,
            web=True)
    for d in ("private", "private/files", "private/temp"):
        t.mkdir(f"{sp}/{d}", 0o2770, web=True)
    if symlink_files:
        t.symlink(f"{sp}/files", f"{GLUSTER}/{s.uri}/files")
    else:
        t.mkdir(f"{sp}/files", 0o2770, web=True)
    for f in s.files:
        in_files = f.rel.startswith(b"files/")
        if not live and f.new:
            continue
        if in_files and symlink_files:
            if shared is not None and live:
                shared.write(b"%s/%s/%s" % (GLUSTER.encode(), s.uri.encode(), f.rel), f.content(s.uri), 0o664,
                             web=True, mtime=UPLOADED)
            continue
        stale = not live and f.changed
        # One upload time on every host (rsync -a keeps it): equal copies look equal to rsync's quick check.
        t.write(os.fsencode(sp) + b"/" + f.rel, f.content(s.uri, stale=stale), 0o664, web=True,
                mtime=UPLOADED - (86400 if stale else 0))
    for e in s.local_exts:
        d = f"{p.publish_path}/{ext_dir(e, p.major, s.uri)}"
        name, text = _info(p, e)
        t.write(f"{d}/{name}", text)
        t.write(f"{d}/{e.short_name}.module", f"<?php\n\n/**\n * @file\n * {e.name} (site-local).\n */\n")
        if e.update_n:
            t.write(f"{d}/{e.short_name}.install", _install(e.short_name, e.update_n))


def _alias(t: _Tree, name: str, values: dict[str, object]) -> None:
    t.write(f"{t.base}/.drush/{name}.alias.drushrc.php", render_alias(name, values), 0o440)


def _aliases(t: _Tree, world: World, sites: list[Site]) -> None:
    """~/.drush on the master: every server, live platform, installed site and hostmaster."""
    for srv in world.servers:
        http, db = srv.service_type("http"), srv.service_type("db")
        vals: dict[str, object] = {"context_type": "server", "remote_host": srv.title, "script_user": "aegir",
                                   "aegir_root": t.base, "master_url": f"http://{world.master_host}"}
        if http:
            vals["http_service_type"] = http
            vals["http_port"] = 80
        if srv.cluster_members:
            vals["cluster_web_servers"] = [f"@{world.context_of(n)}" for n in srv.cluster_members]
        if srv.pack_members:
            for kind in ("master", "slave"):
                vals[f"{kind}_web_servers"] = [f"@{world.context_of(n)}" for n, k in srv.pack_members if k == kind]
        if db:
            vals |= {"db_service_type": db, "db_port": 3306,
                     "master_db": f"mysql://{srv.db_user or ''}:{srv.db_passwd or ''}@127.0.0.1:3306"}
        _alias(t, srv.context, vals)
    for p in world.platforms:
        if p.status == -2 or not p.context:
            continue
        _alias(t, p.context, {"context_type": "platform", "server": "@server_master",
                              "web_server": f"@{world.context_of(p.web_server)}", "root": p.publish_path,
                              "makefile": ""})
    clients = {c.nid: c.uname for c in world.clients}
    for s in sites:
        p = world.platform_of(s)
        profile = next(k.short_name for k in world.packages if k.nid == s.profile)
        vals = {"context_type": "site", "platform": f"@{p.context}", "server": "@server_master",
                "db_server": f"@{world.context_of(s.db_server)}", "uri": s.uri, "root": p.publish_path,
                "site_path": f"{p.publish_path}/sites/{s.uri}", "site_enabled": s.status == 1,
                "language": s.language, "client_name": clients.get(s.client, ""), "profile": profile,
                "aliases": [a.alias for a in s.aliases], "redirection": False}
        _alias(t, s.context or s.uri, vals)


def _vhost(s: Site, p: Platform, server_ctx: str, root: str = AEGIR_ROOT) -> str:
    site_path = f"{p.publish_path}/sites/{s.uri}"
    aliases = "".join(f"  ServerAlias {a.alias}\n" for a in s.aliases)
    return (f"<VirtualHost *:80>\n  # Generated by Aegir for {server_ctx}\n  ServerName {s.uri}\n{aliases}"
            f"  DocumentRoot {p.publish_path}\n  SetEnv db_type mysql\n  SetEnv db_name {s.db_name}\n"
            f"  Include {root}/config/includes/fastcgi_params.conf\n"
            f"  # Site path {site_path}\n</VirtualHost>\n")


def build_trees(world: World, roots: Mapping[str, Path], *, shared_roots: Mapping[str, Path] | None = None,
                site_creds: Mapping[int, DbCreds] | None = None, hostmaster_creds: DbCreds | None = None,
                owner: tuple[int, int] | None = None, web_gid: int | None = None,
                aegir_root: str = AEGIR_ROOT) -> TreeManifest:
    """Write every host's /var/aegir (and the shared gluster dir); see the module docstring.

    ``site_creds``: what ``site_db.create_site_dbs`` returned (drushrc.php gets them; a site without
    entry gets empty credentials). ``hostmaster_creds``: the read-write hostmaster account.
    Raises ValueError when a host a platform needs has no root.
    """
    shared_roots = dict(shared_roots or {})
    creds = dict(site_creds or {})
    master = world.master_host
    live_platforms = [p for p in world.platforms if p.status != -2]
    needed = {master} | {h for p in live_platforms for h in world.fronts(p.web_server)}
    missing = sorted(needed - set(roots))
    if missing:
        raise ValueError(f"no tree root for host(s) {', '.join(missing)}")
    man = TreeManifest()
    trees = {h: _Tree(h, aegir_root, Path(r), man.files.setdefault(h, []), owner, web_gid) for h, r in roots.items()}
    shared = None
    if GLUSTER in shared_roots:
        shared = _Tree(GLUSTER, GLUSTER, Path(shared_roots[GLUSTER]), man.shared.setdefault(GLUSTER, []), owner,
                       web_gid)
        shared.mkdir(GLUSTER, 0o755)
    for h, t in trees.items():
        t.mkdir(aegir_root, 0o755)
        for d in ("platforms", ".drush", "bin", "backups", "config", "clients"):
            t.mkdir(f"{aegir_root}/{d}", 0o755)
        t.mkdir(f"{aegir_root}/.ssh", 0o700)
        man.site_dirs.setdefault(h, [])
        man.platform_dirs.setdefault(h, [])
    sites = [s for s in world.sites if s.installed]
    for p in live_platforms:
        fronts = world.fronts(p.web_server)
        for h in dict.fromkeys([master, *fronts]):
            _platform_code(trees[h], world, p)
            man.platform_dirs[h].append(p.publish_path)
        # On a cluster provision's master copy is authoritative: every verify pushes it to the members
        # with --delete, so it equals theirs. A single server or pack front is authoritative instead,
        # and the master keeps what it last fetched (stale).
        master_live = bool(next(v for v in world.servers if v.nid == p.web_server).cluster_members)
        for s in (s for s in sites if s.platform == p.nid):
            sc = hostmaster_creds if s.context == "hostmaster" else creds.get(s.nid)
            for h in dict.fromkeys([master, *fronts]):
                live = h in fronts or master_live
                # the shared storage is written once, through the first front
                _site_dir(trees[h], world, p, s, sc, live, s.files_symlink, shared if h == fronts[0] else None)
                man.site_dirs[h].append(f"{p.publish_path}/sites/{s.uri}")
                srv_ctxs = [world.context_of(n) for n in _front_nids(world, p.web_server)]
                for ctx in srv_ctxs if h == master else [c for c in srv_ctxs if _ctx_host(world, c) == h]:
                    trees[h].write(f"{aegir_root}/config/{ctx}/apache/vhost.d/{s.uri}", _vhost(s, p, ctx, aegir_root))
    m = trees[master]
    _aliases(m, world, [s for s in sites if s.context != "hostmaster"])
    hm = next((s for s in sites if s.context == "hostmaster"), None)
    if hm is not None:
        hp = world.platform_of(hm)
        _alias(m, "hostmaster", {"context_type": "site", "uri": hm.uri, "root": hp.publish_path,
                                 "site_path": f"{hp.publish_path}/sites/{hm.uri}", "profile": "hostmaster",
                                 "platform": f"@{hp.context}", "server": "@server_master",
                                 "db_server": f"@{world.context_of(hm.db_server)}", "site_enabled": True})
    clients = {c.nid: c.uname for c in world.clients}
    for s in sites:
        if s.context != "hostmaster" and s.client in clients:
            p = world.platform_of(s)
            m.mkdir(f"{aegir_root}/clients/{clients[s.client]}", 0o750)
            m.symlink(f"{aegir_root}/clients/{clients[s.client]}/{s.uri}", f"{p.publish_path}/sites/{s.uri}")
    for t in [*trees.values(), *([shared] if shared else [])]:
        t.apply_owner()
    return man


def _front_nids(world: World, server_nid: int) -> list[int]:
    names = set(world.fronts(server_nid))
    return [s.nid for s in world.servers if s.title in names]


def _ctx_host(world: World, ctx: str) -> str:
    return next(s.title for s in world.servers if s.context == ctx)
