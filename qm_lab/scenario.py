"""The lab's seed scenario (``build_lab_world``) and a large synthetic one (``build_scale_world``).

Deterministic: fixed clock, no randomness (the scale world uses a seeded RNG). ``world.cases``
(``CASES`` below) names the site/target pair behind every verdict and reason; use those handles.

Servers: ``webcluster.lab.test`` (virtual; older revision had web1-2, now web1-3),
``webpack.lab.test`` (web1 master, web2 slave), ``web4.lab.test`` (older revision: nginx),
``aegir.lab.test`` (server_master), ``db.lab.test``. Platforms (on the cluster unless noted):

* ``drupal-7.97-a``: standard, minimal, custom ``acme_intranet``; has admin_menu and features.
* ``drupal-7.98-b``: newer views/webform/entity/smtp, date 7.x-2.x-dev with a higher schema;
  no admin_menu/features; no acme_intranet. The happy-path target.
* ``drupal-7.101-c``: RENAMED (was ``drupal-7.101-staging``, the context keeps that name); older
  pathauto (schema 7005) and link (7.x-1.4); acme_intranet; no admin_menu/features.
* ``drupal-7.98-locked``, ``drupal-7.98-deleted`` (no context, no dirs), ``drupal-7.101-queued``
  (never verified: no instances), ``drupal-6.38`` (profile default), ``drupal-10.2.3-cluster``.
* web4: ``drupal-7.98-web4``, ``drupal-10.1.8``, ``drupal-10.2.3`` (+ custom acme_d10),
  ``drupal-9.5.11``; pack: ``drupal-7.98-pack`` (client access: acme); master:
  ``drupal-7.98-master`` and ``hostmaster`` (locked).

Reasons: cluster-d7 (on a) is selectable to b and hits same-platform (a), locked, deleted, queued,
error (c: pathauto 7006 > 7005), web server (web4, pack) and core 7 -> 10 (10.2.3-cluster).
intranet-d7: profile absent on b, eligible on c. legacy-d6 -> b: renamed profile default ->
standard, core 6 -> 7. verdicts-d7 -> b: missing (strict). web4-d10 -> 9.5.11: core 10 -> 9;
-> 10.2.3: selectable. aegir.lab.test: the hostmaster, never a candidate.

verdicts-d7 -> drupal-7.101-c has EVERY verdict: error pathauto, missing admin_menu,
absent-disabled features, downgrade link, upgrade by version views, upgrade by schema date, same token.

Statuses: disabled-d7, deleted-d7 (no context), queued-d7 (never installed); taskq-d7 has a queued
backup task, taskp-d7 a processing verify; moved-d7's older revision is on drupal-7.97-a;
gluster-d7 has files -> /srv/gluster; big-d7 many files; maint-d7 and offline-d6 are in maintenance;
cluster-d7 and verdicts-d7 carry a site-local module (platform = -1).
"""

from __future__ import annotations

import random
import re

from .site_db import site_files
from .world import (
    BASE_TIME,
    Backup,
    Case,
    Client,
    CodeExt,
    Platform,
    Server,
    Service,
    Site,
    SiteAlias,
    Task,
    World,
    platform_context,
    server_context,
)

MASTER = "aegir.lab.test"
_TOKEN = re.compile(r"^(\w+)(?:@([^#^]*))?(?:#(\d+))?(?:\^(\w+))?$")


def exts(spec: str, scope: str = "contrib", type_: str = "module", version: str | None = None) -> list[CodeExt]:
    """``short[@version][#update_n][^parent]`` tokens; no ``@``: ``version`` (``@`` alone: '')."""
    out = []
    for tok in spec.split():
        m = _TOKEN.match(tok)
        if not m:
            raise ValueError(f"bad extension token {tok!r}")
        short, ver, n, parent = m.groups()
        out.append(CodeExt(short, type_, short.replace("_", " ").title(), version if ver is None else ver,
                           int(n or 0), scope, parent))
    return out


# --- code catalog -------------------------------------------------------------------------------

D7_CORE = ("block#7009 color#7001 comment#7012 contextual dashboard dblog#7003 field#7004 field_sql_storage#7002 "
           "field_ui file#7002 filter#7010 help image#7005 list#7002 menu#7003 node#7016 number options overlay "
           "path rdf search#7000 shortcut#7000 taxonomy#7011 text#7000 toolbar update#7001 user#7020")


def _names(spec: str) -> set[str]:
    return {t.split("#")[0].split("@")[0] for t in spec.split()}


D7_STANDARD = _names(D7_CORE) - {"update"} | {"system", "bartik", "seven"}
D7_MINIMAL = {"block", "dblog", "field", "field_sql_storage", "filter", "node", "system", "text", "user", "bartik"}
D7_CONTRIB = {
    "a": "views@7.x-3.20#7301 views_ui@7.x-3.20^views ctools@7.x-1.15#7002 token@7.x-1.7#7001 "
         "pathauto@7.x-1.3#7006 webform@7.x-4.20#7428 entity@7.x-1.9#7003 entity_token@7.x-1.9^entity "
         "date@7.x-2.x-dev#7004 date_api@7.x-2.x-dev#7001^date link@7.x-1.6#7002 admin_menu@7.x-3.0-rc6#7304 "
         "field_group@7.x-1.6#7007 libraries@7.x-2.5#7200 features@7.x-2.11#7202 smtp@7.x-1.0-beta2#7001",
    "b": "views@7.x-3.29#7302 views_ui@7.x-3.29^views ctools@7.x-1.15#7002 token@7.x-1.7#7001 "
         "pathauto@7.x-1.3#7006 webform@7.x-4.24#7429 entity@7.x-1.10#7003 entity_token@7.x-1.10^entity "
         "date@7.x-2.x-dev#7005 date_api@7.x-2.x-dev#7001^date link@7.x-1.6#7002 field_group@7.x-1.6#7007 "
         "libraries@7.x-2.5#7200 smtp@7.x-1.0+5-dev#7001",
    "c": "views@7.x-3.29#7302 views_ui@7.x-3.29^views ctools@7.x-1.21#7003 token@7.x-1.7#7001 "
         "pathauto@7.x-1.2#7005 webform@7.x-4.26#7429 entity@7.x-1.10#7003 entity_token@7.x-1.10^entity "
         "date@7.x-2.x-dev#7005 date_api@7.x-2.x-dev#7001^date link@7.x-1.4#7002 field_group@7.x-1.6#7007 "
         "libraries@7.x-2.5#7200 smtp@7.x-1.0+5-dev#7001",
}
D7_CLEAN = {"views", "views_ui", "ctools", "token", "pathauto", "webform", "entity", "entity_token", "date",
            "date_api", "link", "field_group", "libraries", "smtp", "acme_helpers"}
D6_CORE = ("block color comment#6005 dblog#6000 filter help menu node#6001 path taxonomy#6001 "
           "upload#6000 user#6020 update#6000")
D6_DEFAULT = {"block", "color", "comment", "dblog", "filter", "help", "menu", "node", "system", "taxonomy", "user",
              "garland"}
D6_CONTRIB = ("views@6.x-2.18#6009 views_ui@6.x-2.18^views token@6.x-1.19#6001 admin_menu@6.x-1.9#6001 "
              "content@6.x-2.10#6010^cck")
D10_CORE = ("automated_cron big_pipe block#8003 block_content#10300 breakpoint ckeditor5#10100 comment#10100 config "
            "contextual datetime dblog#10100 dynamic_page_cache editor field#10100 field_ui file#10101 filter help "
            "history image#10101 link menu_ui node options page_cache path path_alias search shortcut taxonomy text "
            "toolbar user#10000 views#10101 views_ui ban syslog telephone language locale#10100")
D9_CORE = ("automated_cron big_pipe block#8003 block_content#9002 breakpoint ckeditor#8001 comment#8701 config "
           "contextual datetime dblog#8600 dynamic_page_cache editor field#8500 field_ui file#9101 filter help "
           "history image#8201 link menu_ui node options page_cache path path_alias search shortcut taxonomy text "
           "toolbar user#9301 views views_ui ban syslog telephone language locale#9301")
D10_STANDARD = _names(D10_CORE) - {"ban", "syslog", "telephone", "language", "locale"} | {"system", "olivero", "claro"}
D10_MINIMAL = {"block", "dblog", "field", "filter", "node", "system", "text", "user", "path_alias", "page_cache",
               "dynamic_page_cache", "stark"}
D9_STANDARD = _names(D9_CORE) - {"ban", "syslog", "telephone", "language", "locale"} | {"system", "bartik", "seven"}
D8_CONTRIB = {
    "9.5.11": "token@8.x-1.11#8001 pathauto@8.x-1.11#8108 webform@6.1.4#8643 admin_toolbar@3.3.0#8001 "
              "ctools@8.x-3.14 metatag@8.x-1.22#8109 redirect@8.x-1.5#8106 config_split@8.x-1.9",
    "10.1.8": "token@8.x-1.12#8001 pathauto@8.x-1.11#8108 webform@6.2.0#8644 admin_toolbar@3.4.1#8001 "
              "ctools@4.0.4 metatag@2.0.0#8110 redirect@8.x-1.9#8107 config_split@2.0.1",
    "10.2.3": "token@8.x-1.13#8001 pathauto@8.x-1.12#8108 webform@6.2.2#8644 admin_toolbar@3.4.2#8001 "
              "ctools@4.0.4 metatag@2.0.2#8110 redirect@8.x-1.9#8107 config_split@2.1.0",
}
D8_CLEAN = {"token", "pathauto", "webform", "admin_toolbar", "ctools", "metatag", "redirect", "acme_api"}
_SYSTEM_N = {"6.38": 6055, "7.97": 7084, "7.98": 7084, "7.101": 7085, "9.5.11": 9401, "10.1.8": 10101,
             "10.2.3": 10201}


def platform_code(core: str, contrib: str = "", profiles: tuple[str, ...] = ("standard", "minimal"),
                  custom: str = "") -> list[CodeExt]:
    """Core modules, themes and profiles of a release plus the given contrib/custom code."""
    major = int(core.split(".")[0])
    out = [CodeExt("system", "module", "System", core, _SYSTEM_N[core], "core")]
    core_spec, themes = {6: (D6_CORE, "garland bluemarine minnelli chameleon"),
                         7: (D7_CORE, "bartik garland seven stark"),
                         9: (D9_CORE, "bartik seven olivero claro stark")}.get(major, (D10_CORE, "olivero claro stark"))
    out += exts(core_spec, "core", version=core)
    if major == 10 and core.startswith("10.1"):  # per-release core schemas
        out = [e if e.short_name not in ("block_content", "ckeditor5") else
               CodeExt(e.short_name, "module", e.name, core, 10100, "core") for e in out]
    out += exts(themes, "core", "theme", version=core)
    for p in profiles:
        old = "default" if p == "standard" and major == 7 else ""
        langs = ("de", "fr") if p == "standard" and major == 7 else ()
        out.append(CodeExt(p, "profile", p.title(), core, 0, "core", None, old, langs))
    out += exts(contrib) + exts(custom, "custom")
    return out


def _acme_intranet() -> list[CodeExt]:
    return [CodeExt("acme_intranet", "profile", "ACME Intranet", "7.x-1.0", 0, "custom"),
            *exts("acme_core@7.x-1.0#7102", "profile:acme_intranet")]


def _hostmaster_code() -> list[CodeExt]:
    hosting = " ".join(f"{m}@7.x-3.192^hosting" for m in (
        "hosting_site hosting_platform hosting_server hosting_package hosting_task hosting_client "
        "hosting_web_server hosting_db_server hosting_migrate hosting_clone hosting_web_cluster "
        "hosting_web_pack").split())
    return [*platform_code("7.98", profiles=("standard", "minimal")),
            CodeExt("hostmaster", "profile", "Hostmaster (Aegir)", "7.x-3.192", 0, "custom"),
            *exts(f"hosting@7.x-3.192#7301 {hosting} views@7.x-3.29#7302 ctools@7.x-1.15#7002 "
                  "entity@7.x-1.10#7003 admin_menu@7.x-3.0-rc6#7304", "profile:hostmaster"),
            *exts("eldir@7.x-3.192", "profile:hostmaster", "theme")]


HOSTMASTER_ENABLED = (D7_MINIMAL | {"hosting", "hosting_site", "hosting_platform", "hosting_server", "hosting_package",
                                    "hosting_task", "hosting_client", "hosting_web_server", "hosting_db_server",
                                    "hosting_migrate", "hosting_clone", "hosting_web_cluster", "hosting_web_pack",
                                    "views", "ctools", "entity", "admin_menu", "eldir"})


# --- the lab ------------------------------------------------------------------------------------

CASES: dict[str, Case] = {
    "eligible": Case("cluster-d7.lab.test", "drupal-7.98-b", "selectable: upgrades, same, absent-disabled"),
    "same-platform": Case("cluster-d7.lab.test", "drupal-7.97-a", "the site's current platform"),
    "platform-locked": Case("cluster-d7.lab.test", "drupal-7.98-locked", "target platform locked"),
    "platform-deleted": Case("cluster-d7.lab.test", "drupal-7.98-deleted", "target platform deleted"),
    "platform-queued": Case("cluster-d7.lab.test", "drupal-7.101-queued", "target queued, never verified"),
    "profile-absent": Case("intranet-d7.lab.test", "drupal-7.98-b", "acme_intranet not on target"),
    "custom-profile-eligible": Case("intranet-d7.lab.test", "drupal-7.101-c", "custom profile present"),
    "renamed-profile-eligible": Case("legacy-d6.lab.test", "drupal-7.98-b", "default -> standard (6 -> 7)"),
    "error": Case("cluster-d7.lab.test", "drupal-7.101-c", "pathauto schema 7006 > 7005", "pathauto"),
    "error-newer-site": Case("newer-d7.lab.test", "drupal-7.97-a", "views schema 7302 > 7301", "views"),
    "missing-strict": Case("verdicts-d7.lab.test", "drupal-7.98-b", "admin_menu enabled, absent", "admin_menu"),
    "web-server": Case("cluster-d7.lab.test", "drupal-7.98-web4", "cluster -> web4"),
    "web-server-pack": Case("cluster-d7.lab.test", "drupal-7.98-pack", "cluster -> pack"),
    "core-7-to-10": Case("cluster-d7.lab.test", "drupal-10.2.3-cluster", "core 7 -> 10 (same web server)"),
    "core-10-to-9": Case("web4-d10.lab.test", "drupal-9.5.11", "core downgrade 10 -> 9"),
    "core-6-to-7": Case("legacy-d6.lab.test", "drupal-7.98-b", "core 6 -> 7 allowed"),
    "core-9-to-10": Case("web4-d9.lab.test", "drupal-10.1.8", "9 -> 10 allowed; ckeditor+bartik missing"),
    "d10-eligible": Case("web4-d10.lab.test", "drupal-10.2.3", "10.1 -> 10.2 selectable"),
    "hostmaster": Case("aegir.lab.test", None, "the hostmaster site: never a candidate"),
    "verdict-error": Case("verdicts-d7.lab.test", "drupal-7.101-c", "error", "pathauto"),
    "verdict-missing": Case("verdicts-d7.lab.test", "drupal-7.101-c", "missing", "admin_menu"),
    "verdict-absent-disabled": Case("verdicts-d7.lab.test", "drupal-7.101-c", "absent-disabled", "features"),
    "verdict-downgrade": Case("verdicts-d7.lab.test", "drupal-7.101-c", "downgrade 7.x-1.6 -> 7.x-1.4", "link"),
    "verdict-upgrade-version": Case("verdicts-d7.lab.test", "drupal-7.101-c", "upgrade by version", "views"),
    "verdict-upgrade-schema": Case("verdicts-d7.lab.test", "drupal-7.101-c", "upgrade by schema only", "date"),
    "verdict-same": Case("verdicts-d7.lab.test", "drupal-7.101-c", "same", "token"),
    "site-disabled": Case("disabled-d7.lab.test", None, "status -1"),
    "site-deleted": Case("deleted-d7.lab.test", None, "status -2, no context, no dir/DB"),
    "site-queued": Case("queued-d7.lab.test", None, "status 0, never installed"),
    "task-queued": Case("taskq-d7.lab.test", None, "a queued (0) backup task"),
    "task-processing": Case("taskp-d7.lab.test", None, "a processing (-1) verify task"),
    "multi-revision-site": Case("moved-d7.lab.test", "drupal-7.97-a", "older revision on drupal-7.97-a"),
    "renamed-platform": Case("staging-d7.lab.test", "drupal-7.101-c", "was drupal-7.101-staging"),
    "gluster": Case("gluster-d7.lab.test", None, "files -> /srv/gluster/<uri>/files on web1-3"),
    "big": Case("big-d7.lab.test", None, "many files (big_files)"),
    "maintenance": Case("maint-d7.lab.test", None, "maintenance_mode = 1"),
    "d6-offline": Case("offline-d6.lab.test", "drupal-7.98-b", "site_offline = 1; admin_menu missing"),
    "site-local-module": Case("cluster-d7.lab.test", None, "sites/<uri>/modules/custom_glue", "custom_glue"),
    "aliases": Case("aliased-d7.lab.test", None, "two hosting_site_alias rows"),
    "pack-site": Case("pack-d7.lab.test", None, "platform on webpack (web1 master, web2 slave)"),
    "master-site": Case("master-d7.lab.test", None, "platform on server_master"),
    "on-locked-platform": Case("locked-d7.lab.test", "drupal-7.98-b", "source platform locked"),
}


class _Builder:
    def __init__(self, world: World, tasks: bool = True, db_server: str = "db.lab.test") -> None:
        self.w = world
        self.tasks = tasks
        self.db_server = db_server  # every site's database server (node title)

    def server(self, title: str, services: list[Service], *, real: bool = True, ctx: str | None = None,
               ip: str | None = None, **kw: object) -> Server:
        nid, vid = self.w.alloc()
        t = self.w.tick()
        s = Server(nid=nid, vid=vid, title=title, created=t, changed=t, context=ctx or server_context(title),
                   verified=t, services=services, ips=[ip] if ip else [], real=real, **kw)  # type: ignore[arg-type]
        self.w.servers.append(s)
        self.task("verify", s)
        return s

    def client(self, title: str, uname: str, users: list[tuple[int, str]]) -> Client:
        nid, vid = self.w.alloc()
        t = self.w.tick()
        c = Client(nid=nid, vid=vid, title=title, created=t, changed=t, uname=uname, users=users)
        self.w.clients.append(c)
        return c

    def platform(self, title: str, core: str, server: Server, code: list[CodeExt], status: int = 1,
                 path: str | None = None, verify: bool = True) -> Platform:
        nid, vid = self.w.alloc()
        t = self.w.tick()
        p = Platform(nid=nid, vid=vid, title=title, created=t, changed=t, context=platform_context(title),
                     publish_path=path or f"/var/aegir/platforms/{title}", web_server=server.nid, status=status,
                     core_version=core, exts=code)
        self.w.platforms.append(p)
        if verify:
            p.verified = self.w.tick()
            self.w.verify_platform(p)
            self.task("verify", p)
        return p

    def site(self, uri: str, platform: Platform, profile: str, client: Client, enabled: set[str],
             installed: dict[str, int] | None = None, status: int = 1, local: str = "", **kw: object) -> Site:
        nid, vid = self.w.alloc()
        t = self.w.tick()
        prof = self.w.package(profile, "profile")
        db = self.w.server(self.db_server)
        s = Site(nid=nid, vid=vid, title=uri, created=t, changed=t, context=uri, client=client.nid, db_server=db.nid,
                 db_name=f"{self.w.prefix}s{nid}", platform=platform.nid, profile=prof.nid, status=1,
                 cron_key=f"ck{nid:04d}", last_cron=t + 3600, local_exts=exts(local, "site"), **kw)  # type: ignore[arg-type]
        self.w.sites.append(s)
        if status == 0:  # queued for install: no db, never verified
            s.status, s.db_name, s.last_cron = 0, "", None
            self.task("install", s, status=0)
            return s
        s.files = s.files or site_files(uri)
        s.verified = self.w.tick()
        self.w.verify_site(s, enabled, installed)
        self.task("install", s)
        if status != 1:
            s.status = status
            self.task("disable" if status == -1 else "delete", s)
            if status == -2:
                s.context = None
        return s

    def task(self, task_type: str, ref: Site | Platform | Server, status: int = 1,
             args: dict[str, str] | None = None) -> Task | None:
        if not self.tasks:
            return None
        nid, vid = self.w.alloc()
        t = self.w.tick(60)
        log = [("command", f"Running: provision-{task_type}"), ("success", f"{task_type.title()} completed")]
        task = Task(nid=nid, vid=vid, title=f"{task_type.title()}: {ref.title}", created=t, changed=t,
                    task_type=task_type, rid=ref.nid, task_status=status, arguments=dict(args or {}),
                    executed=None if status == 0 else t, delta=None if status in (0, -1) else 42,
                    log_entries=[] if status == 0 else log[: 1 if status == -1 else 2])
        self.w.tasks.append(task)
        return task


def _servers(b: _Builder, db_user: str, db_passwd: str) -> tuple[Server, Server, list[Server], Server, Server,
                                                                 Server]:
    """master, db, web1-3, web4 (nginx in its older revision), cluster (web1-2, then 1-3), pack."""
    w = b.w
    apache = [Service("http", "apache", 80, "sudo /usr/sbin/apache2ctl graceful")]
    master = b.server(MASTER, list(apache), ctx="server_master", ip="10.10.0.1", human_name="Aegir master")
    db = b.server("db.lab.test", [Service("db", "mysql", 3306)], ip="10.10.0.5", db_user=db_user, db_passwd=db_passwd)
    web = [b.server(f"web{i}.lab.test", list(apache), ip=f"10.10.0.1{i}") for i in (1, 2, 3)]
    web4 = b.server("web4.lab.test", [Service("http", "nginx", 80, "sudo /etc/init.d/nginx reload")], ip="10.10.0.14")
    w.revise(web4, "Switched to apache", services=list(apache))
    cluster = b.server("webcluster.lab.test", [Service("http", "cluster", 80)], real=False,
                       cluster_members=[web[0].nid, web[1].nid])
    w.revise(cluster, "Added web3", cluster_members=[s.nid for s in web])
    pack = b.server("webpack.lab.test", [Service("http", "pack", 80)], real=False,
                    pack_members=[(web[0].nid, "master"), (web[1].nid, "slave")])
    return master, db, web, web4, cluster, pack


def build_lab_world(prefix: str, db_server_user: str = "root", db_server_passwd: str = "",
                    big_files: int = 40, big_file_size: int = 16384) -> World:
    """The integration-test scenario (see the module docstring). ``prefix`` names site DBs (``<prefix>s<nid>``)."""
    w = World(prefix=prefix, clock=BASE_TIME, cases=dict(CASES))
    b = _Builder(w)
    master, db, web, web4, cluster, pack = _servers(b, db_server_user, db_server_passwd)
    admin = b.client("admin", "admin", [(1, "admin")])
    hm = b.platform("hostmaster", "7.98", master, _hostmaster_code(), path="/var/aegir/hostmaster-7.x-3.x")
    hsite = b.site(MASTER, hm, "hostmaster", admin, HOSTMASTER_ENABLED)
    hsite.context, hsite.db_name = "hostmaster", f"{prefix}hostmaster"
    hm.status = -1  # locked, so new sites do not land on the front end's own platform
    acme = b.client("Acme Corporation", "acme", [(2, "admin"), (3, "")])
    example = b.client("Example Org", "exampleorg", [(4, "admin")])
    legacy = b.client("Legacy Ltd", "legacyltd", [(5, "admin")])

    custom7 = "acme_helpers#7001"
    pa = b.platform("drupal-7.97-a", "7.97", cluster,
                    platform_code("7.97", D7_CONTRIB["a"], custom=custom7) + _acme_intranet())
    pb = b.platform("drupal-7.98-b", "7.98", cluster, platform_code("7.98", D7_CONTRIB["b"], custom=custom7))
    pc = b.platform("drupal-7.101-staging", "7.101", cluster,
                    platform_code("7.101", D7_CONTRIB["c"], custom=custom7 + " acme_legacy@") + _acme_intranet(),
                    path="/var/aegir/platforms/drupal-7.101-c")
    w.revise(pc, "Renamed", title="drupal-7.101-c")  # the context keeps the registered (old) name
    b7 = platform_code("7.98", D7_CONTRIB["b"], custom=custom7)
    locked = b.platform("drupal-7.98-locked", "7.98", cluster, list(b7))
    deleted = b.platform("drupal-7.98-deleted", "7.98", cluster, list(b7))
    b.platform("drupal-7.101-queued", "7.101", cluster, platform_code("7.101", D7_CONTRIB["c"], custom=custom7),
               status=0, verify=False)
    d6 = b.platform("drupal-6.38", "6.38", cluster, platform_code("6.38", D6_CONTRIB, ("default",)))
    t10 = b.platform("drupal-10.2.3-cluster", "10.2.3", cluster,
                     platform_code("10.2.3", D8_CONTRIB["10.2.3"], custom="acme_api#10001"))
    w7 = b.platform("drupal-7.98-web4", "7.98", web4, list(b7))
    d101 = b.platform("drupal-10.1.8", "10.1.8", web4, platform_code("10.1.8", D8_CONTRIB["10.1.8"],
                                                                     custom="acme_api#10001"))
    d102 = b.platform("drupal-10.2.3", "10.2.3", web4, platform_code(
        "10.2.3", D8_CONTRIB["10.2.3"], custom="acme_api#10001")
        + [CodeExt("acme_d10", "profile", "ACME D10", None, 0, "custom"),
           *exts("acme_d10_core@1.0.0#10001", "profile:acme_d10")])
    d95 = b.platform("drupal-9.5.11", "9.5.11", web4, platform_code("9.5.11", D8_CONTRIB["9.5.11"],
                                                                    custom="acme_api#9001"))
    pk = b.platform("drupal-7.98-pack", "7.98", pack, list(b7))
    pk.client_access = [acme.nid]
    m7 = b.platform("drupal-7.98-master", "7.98", master, list(b7))

    std, mini, clean = D7_STANDARD, D7_MINIMAL, D7_CLEAN
    b.site("cluster-d7.lab.test", pa, "standard", acme, std | clean | {"custom_glue"}, local="custom_glue@7.x-1.0#7001")
    vs = b.site("verdicts-d7.lab.test", pa, "standard", acme, std | clean | {"admin_menu", "custom_glue"},
                {"features": 7202}, local="custom_glue@7.x-1.0#7001")
    retry = b.task("verify", vs, status=2)  # failed once, then retried: a task node with two revisions
    assert retry is not None
    retry.log_entries = [("error", "Could not connect to the database server.")]
    w.revise(retry, "Retry", task_status=1, executed=w.clock, log_entries=[("success", "Verify completed")])
    b.site("intranet-d7.lab.test", pa, "acme_intranet", acme, mini | {"acme_core", "views", "views_ui", "ctools",
                                                                      "token", "link"}, {"pathauto": 7006})
    gl = b.site("gluster-d7.lab.test", pa, "standard", example, std | clean, files_symlink=True)
    big = b.site("big-d7.lab.test", pa, "minimal", example, mini | clean)
    big.files = site_files(big.uri, big_files, big_file_size)
    b.site("disabled-d7.lab.test", pa, "standard", example, std | clean, status=-1)
    b.site("deleted-d7.lab.test", pa, "standard", example, std | clean, status=-2)
    b.site("queued-d7.lab.test", pa, "standard", example, std, status=0)
    tq = b.site("taskq-d7.lab.test", pa, "standard", acme, std | clean)
    b.task("backup", tq, status=0, args={"description": "Nightly"})
    tp = b.site("taskp-d7.lab.test", pa, "standard", acme, std | clean)
    b.task("verify", tp, status=-1)
    b.site("maint-d7.lab.test", pa, "minimal", acme, mini | clean, maintenance=True)
    b.site("aliased-d7.lab.test", pb, "standard", example, std | clean,
           aliases=[SiteAlias(alias="www.aliased-d7.lab.test"),
                    SiteAlias(alias="aliased.example.com")])
    mv = b.site("moved-d7.lab.test", pa, "standard", acme, std | clean)
    b.task("migrate", mv, args={"target_platform": str(pb.nid), "new_uri": mv.uri, "new_db_server": str(db.nid)})
    w.backups.append(Backup(1, mv.nid, cluster.nid, "Pre-migration backup",
                            f"/var/aegir/backups/{mv.uri}-20240102.101500.tar.gz", 183_245, w.tick()))
    w.revise(mv, "Migrated to drupal-7.98-b", platform=pb.nid, verified=w.clock)
    w.verify_site(mv, std | clean)
    b.site("newer-d7.lab.test", pb, "standard", acme, std | clean)
    b.site("staging-d7.lab.test", pc, "standard", example, std | clean)
    b.site("locked-d7.lab.test", locked, "standard", legacy, std | clean)
    locked.status = -1
    deleted.status, deleted.context = -2, None
    b.site("legacy-d6.lab.test", d6, "default", legacy, D6_DEFAULT | {"views", "views_ui", "token"})
    b.site("offline-d6.lab.test", d6, "default", legacy, D6_DEFAULT | {"views", "token", "admin_menu"},
           maintenance=True)
    b.site("cluster-d10.lab.test", t10, "standard", acme, D10_STANDARD | D8_CLEAN)
    b.site("web4-d7.lab.test", w7, "standard", example, std | clean)
    b.site("web4-d10.lab.test", d101, "standard", example, D10_STANDARD | D8_CLEAN)
    b.site("minimal-d10.lab.test", d101, "minimal", example, D10_MINIMAL | {"token", "acme_api"})
    b.site("custom-d10.lab.test", d102, "acme_d10", acme, D10_MINIMAL | {"acme_d10_core", "token"})
    b.site("web4-d9.lab.test", d95, "standard", legacy, D9_STANDARD | D8_CLEAN)
    b.site("pack-d7.lab.test", pk, "standard", acme, std | clean)
    b.site("master-d7.lab.test", m7, "standard", admin, std | clean)
    w.backups.append(Backup(2, w.site("cluster-d7.lab.test").nid, cluster.nid, "Manual backup",
                            "/var/aegir/backups/cluster-d7.lab.test-20240105.020000.tar.gz", 201_311, w.tick()))
    assert gl.files_symlink and not w.rid_collisions(), "lab ids must not make profile iids look like nids"
    return w


# --- the scale world (benchmark) ----------------------------------------------------------------

_SCALE_CORES = {7: ("7.97", "7.98", "7.101"), 10: ("10.1.8", "10.2.3")}


def scale_instance_count(n_sites: int, n_platforms: int, modules_per_site: int) -> int:
    """Rows ``build_scale_world`` makes in hosting_package_instance: per platform its base set plus
    two profile sets (``modules_per_site + 1`` rows each: both profiles, no status), per site
    ``modules_per_site`` rows."""
    return 3 * n_platforms * (modules_per_site + 1) + n_sites * modules_per_site


def build_scale_world(n_sites: int = 10_000, n_platforms: int = 200, modules_per_site: int = 150,
                      seed: int = 1, prefix: str = "qmtscale_") -> World:
    """A big hostmaster for the performance benchmark (default: ~1.6M package instance rows).

    Platforms: 80% D7 / 20% D10 on the cluster, web4, the pack or the master, every tenth locked;
    each carries core + sampled contrib so that every site's system table has exactly
    ``modules_per_site`` rows (``scale_instance_count``). Sites: ~70% of modules enabled, every
    twentieth site has a second revision (it moved from another platform).
    """
    rng = random.Random(seed)
    w = World(prefix=prefix, clock=BASE_TIME, iid_base=10 * (n_sites + 4 * n_platforms + 100))
    b = _Builder(w, tasks=False)  # no task nodes: only the rows that matter for the benchmark
    master, _db, _web, web4, cluster, pack = _servers(b, "root", "")
    admin = b.client("admin", "admin", [(1, "admin")])
    pool = [f"contrib_{k:03d}" for k in range(400)]
    platforms: list[Platform] = []
    for i in range(n_platforms):
        major = 10 if i % 5 == 4 else 7
        core = rng.choice(_SCALE_CORES[major])
        code = platform_code(core)
        n_core = sum(1 for e in code if e.type in ("module", "theme"))
        want = modules_per_site - 2 - n_core  # + drupal + profile
        if want < 0:
            raise ValueError(f"modules_per_site must be at least {n_core + 2}")
        pfx = "7.x-" if major == 7 else "8.x-" if i % 2 else ""
        for name in rng.sample(pool, want):
            minor = rng.randrange(0, 30)
            code.append(CodeExt(name, "module", name, f"{pfx}{rng.choice((1, 2, 3))}.{minor}",
                                (major * 1000 if major == 7 else 8000) + rng.randrange(0, 12)))
        server = (cluster, web4, pack, master)[i % 4]
        platforms.append(b.platform(f"scale-{core}-{i:03d}", core, server, code, status=-1 if i % 10 == 9 else 1))
    for j in range(n_sites):
        p = platforms[j % n_platforms]
        mods = [e.short_name for e in p.exts if e.type in ("module", "theme")]
        enabled = {m for m in mods if rng.random() < 0.7} | {"system"}
        profile = "standard" if j % 3 else "minimal"
        if j % 20 == 19:  # an older revision on another platform of the same core
            other = next(q for q in platforms if q.core_version == p.core_version and q is not p)
            s = b.site(f"site{j:05d}.scale.test", other, profile, admin, {"system"})
            w.revise(s, "Migrated", platform=p.nid)
            w.verify_site(s, enabled)
        else:
            b.site(f"site{j:05d}.scale.test", p, profile, admin, enabled)
    return w
