"""The single-server scenario: one machine is the hostmaster and the only web server (``qm-tui demo``).

Built from ``scenario.py``'s code catalog and helpers, so its platforms carry the same modules and
versions as the lab's. Every platform path is under ``root`` (the sandbox's aegir_root).

Servers: ``server_master`` (title ``master``, default ``localhost``: http apache and db mysql, as a
default Aegir install makes it) and ``web2.local.test``, a remote web server known only to the
hostmaster (no tree, no sites): its platform shows the "served by web server" reason.

Platforms on the master: ``drupal-7.97-a`` (source of most D7 sites), ``drupal-7.98-b`` (the happy-path
target), ``drupal-7.101-c`` (renamed from ``drupal-7.101-staging``; every verdict), ``drupal-7.98-locked``,
``drupal-7.98-deleted``, ``drupal-7.101-queued``, ``drupal-6.38``, ``drupal-10.1.8`` -> ``drupal-10.2.3``
(the D10 pair), ``drupal-9.5.11``, ``hostmaster`` (locked). ``LOCAL_CASES`` names the site/target pair
behind every verdict and reason.
"""

from __future__ import annotations

from .scenario import (
    D6_CONTRIB,
    D6_DEFAULT,
    D7_CLEAN,
    D7_CONTRIB,
    D7_MINIMAL,
    D7_STANDARD,
    D8_CLEAN,
    D8_CONTRIB,
    D9_STANDARD,
    D10_MINIMAL,
    D10_STANDARD,
    HOSTMASTER_ENABLED,
    _acme_intranet,
    _Builder,
    _hostmaster_code,
    exts,
    platform_code,
)
from .site_db import site_files
from .world import BASE_TIME, Case, CodeExt, Platform, Server, Service, SiteAlias, World

HOSTMASTER_URI = "aegir.local.test"
BIG_SITE = "big-d7.local.test"
BIG_FILE_SIZE = 1 << 20  # the big site's bulk files: 1 MiB each

LOCAL_CASES: dict[str, Case] = {
    "eligible": Case("shop-d7.local.test", "drupal-7.98-b", "selectable: upgrades, same, absent-disabled"),
    "rollback": Case("blog-d7.local.test", "drupal-7.98-b", "selectable; the test fails its updatedb"),
    "d10-eligible": Case("portal-d10.local.test", "drupal-10.2.3", "10.1 -> 10.2 selectable"),
    "same-platform": Case("shop-d7.local.test", "drupal-7.97-a", "the site's current platform"),
    "platform-locked": Case("shop-d7.local.test", "drupal-7.98-locked", "target platform locked"),
    "platform-deleted": Case("shop-d7.local.test", "drupal-7.98-deleted", "target platform deleted"),
    "platform-queued": Case("shop-d7.local.test", "drupal-7.101-queued", "target queued, never verified"),
    "profile-absent": Case("intranet-d7.local.test", "drupal-7.98-b", "acme_intranet not on target"),
    "custom-profile-eligible": Case("intranet-d7.local.test", "drupal-7.101-c", "custom profile present"),
    "error": Case("shop-d7.local.test", "drupal-7.101-c", "pathauto schema 7006 > 7005", "pathauto"),
    "error-newer-site": Case("newer-d7.local.test", "drupal-7.97-a", "views schema 7302 > 7301", "views"),
    "missing-strict": Case("verdicts-d7.local.test", "drupal-7.98-b", "admin_menu enabled, absent", "admin_menu"),
    "web-server": Case("shop-d7.local.test", "drupal-7.98-web2", "master -> web2"),
    "core-7-to-10": Case("shop-d7.local.test", "drupal-10.2.3", "core 7 -> 10"),
    "core-10-to-9": Case("portal-d10.local.test", "drupal-9.5.11", "core downgrade 10 -> 9"),
    "core-6-to-7": Case("legacy-d6.local.test", "drupal-7.98-b", "core 6 -> 7 allowed, renamed profile"),
    "core-9-to-10": Case("docs-d9.local.test", "drupal-10.1.8", "9 -> 10 allowed"),
    "hostmaster": Case(HOSTMASTER_URI, None, "the hostmaster site: never a candidate"),
    "verdict-error": Case("verdicts-d7.local.test", "drupal-7.101-c", "error", "pathauto"),
    "verdict-missing": Case("verdicts-d7.local.test", "drupal-7.101-c", "missing", "admin_menu"),
    "verdict-absent-disabled": Case("verdicts-d7.local.test", "drupal-7.101-c", "absent-disabled", "features"),
    "verdict-downgrade": Case("verdicts-d7.local.test", "drupal-7.101-c", "downgrade 7.x-1.6 -> 7.x-1.4", "link"),
    "verdict-upgrade-version": Case("verdicts-d7.local.test", "drupal-7.101-c", "upgrade by version", "views"),
    "verdict-upgrade-schema": Case("verdicts-d7.local.test", "drupal-7.101-c", "upgrade by schema only", "date"),
    "verdict-same": Case("verdicts-d7.local.test", "drupal-7.101-c", "same", "token"),
    "site-disabled": Case("disabled-d7.local.test", None, "status -1"),
    "site-deleted": Case("deleted-d7.local.test", None, "status -2, no context, no dir/DB"),
    "site-queued": Case("queued-d7.local.test", None, "status 0, never installed"),
    "task-queued": Case("taskq-d7.local.test", None, "a queued (0) backup task"),
    "task-processing": Case("taskp-d7.local.test", None, "a processing (-1) verify task"),
    "multi-revision-site": Case("moved-d7.local.test", "drupal-7.97-a", "older revision on drupal-7.97-a"),
    "renamed-platform": Case("staging-d7.local.test", "drupal-7.101-c", "was drupal-7.101-staging"),
    "big": Case(BIG_SITE, "drupal-7.98-b", "big_site_mb of files: the rename is instant"),
    "maintenance": Case("maint-d7.local.test", None, "maintenance_mode = 1"),
    "d6-offline": Case("offline-d6.local.test", "drupal-7.98-b", "site_offline = 1; admin_menu missing"),
    "site-local-module": Case("shop-d7.local.test", None, "sites/<uri>/modules/custom_glue", "custom_glue"),
    "aliases": Case("aliased-d7.local.test", None, "two hosting_site_alias rows"),
    "on-locked-platform": Case("locked-d7.local.test", "drupal-7.98-b", "source platform locked"),
}


def build_local_world(prefix: str, root: str, *, master: str = "localhost", big_site_mb: int = 0,
                      db_server_user: str = "root", db_server_passwd: str = "") -> World:
    """The single-server scenario (module docstring); ``root`` is the aegir_root every path is under."""
    root = root.rstrip("/")
    w = World(prefix=prefix, clock=BASE_TIME, cases=dict(LOCAL_CASES), master_host=master)
    apache = [Service("http", "apache", 80, "sudo /usr/sbin/apache2ctl graceful")]
    stub = _Builder(w)
    m = stub.server(master, [*apache, Service("db", "mysql", 3306)], ctx="server_master", ip="127.0.0.1",
                    human_name="Aegir master (this machine)", db_user=db_server_user, db_passwd=db_server_passwd)
    web2 = stub.server("web2.local.test", list(apache), real=False, ip="10.10.0.12")  # registered, no tree
    b = _Builder(w, db_server=m.title)  # the master is every site's db server

    def plat(title: str, core: str, code: list[CodeExt], server: Server = m, **kw: object) -> Platform:
        path = f"{root}/platforms/{kw.pop('dir', title)}"
        return b.platform(title, core, server, code, path=path, **kw)  # type: ignore[arg-type]

    admin = b.client("admin", "admin", [(1, "admin")])
    hm = b.platform("hostmaster", "7.98", m, _hostmaster_code(), path=f"{root}/hostmaster-7.x-3.x")
    hsite = b.site(HOSTMASTER_URI, hm, "hostmaster", admin, HOSTMASTER_ENABLED)
    hsite.context, hsite.db_name = "hostmaster", f"{prefix}hostmaster"
    hm.status = -1
    acme = b.client("Acme Corporation", "acme", [(2, "admin"), (3, "")])
    example = b.client("Example Org", "exampleorg", [(4, "admin")])
    legacy = b.client("Legacy Ltd", "legacyltd", [(5, "admin")])

    custom7 = "acme_helpers#7001"
    b7 = platform_code("7.98", D7_CONTRIB["b"], custom=custom7)
    pa = plat("drupal-7.97-a", "7.97", platform_code("7.97", D7_CONTRIB["a"], custom=custom7) + _acme_intranet())
    pb = plat("drupal-7.98-b", "7.98", list(b7))
    pc = plat("drupal-7.101-staging", "7.101", platform_code("7.101", D7_CONTRIB["c"], custom=custom7 + " acme_legacy@")
              + _acme_intranet(), dir="drupal-7.101-c")
    w.revise(pc, "Renamed", title="drupal-7.101-c")  # the context keeps the registered (old) name
    locked = plat("drupal-7.98-locked", "7.98", list(b7))
    deleted = plat("drupal-7.98-deleted", "7.98", list(b7))
    plat("drupal-7.101-queued", "7.101", platform_code("7.101", D7_CONTRIB["c"], custom=custom7), status=0,
         verify=False)
    plat("drupal-7.98-web2", "7.98", list(b7), server=web2)
    d6 = plat("drupal-6.38", "6.38", platform_code("6.38", D6_CONTRIB, ("default",)))
    d101 = plat("drupal-10.1.8", "10.1.8", platform_code("10.1.8", D8_CONTRIB["10.1.8"], custom="acme_api#10001"))
    d102 = plat("drupal-10.2.3", "10.2.3", platform_code("10.2.3", D8_CONTRIB["10.2.3"], custom="acme_api#10001")
                + [CodeExt("acme_d10", "profile", "ACME D10", None, 0, "custom"),
                   *exts("acme_d10_core@1.0.0#10001", "profile:acme_d10")])
    d95 = plat("drupal-9.5.11", "9.5.11", platform_code("9.5.11", D8_CONTRIB["9.5.11"], custom="acme_api#9001"))

    std, mini = D7_STANDARD | D7_CLEAN, D7_MINIMAL | D7_CLEAN
    glue = "custom_glue@7.x-1.0#7001"
    b.site("shop-d7.local.test", pa, "standard", acme, std | {"custom_glue"}, local=glue)
    b.site("verdicts-d7.local.test", pa, "standard", acme, std | {"admin_menu", "custom_glue"}, {"features": 7202},
           local=glue)
    b.site("intranet-d7.local.test", pa, "acme_intranet", acme,
           D7_MINIMAL | {"acme_core", "views", "views_ui", "ctools", "token", "link"}, {"pathauto": 7006})
    for uri, client in (("blog-d7.local.test", example), ("news-d7.local.test", acme),
                        ("events-d7.local.test", example), ("wiki-d7.local.test", legacy),
                        ("jobs-d7.local.test", acme), ("press-d7.local.test", example)):
        b.site(uri, pa, "standard", client, std)
    big = b.site(BIG_SITE, pa, "minimal", example, mini)
    if big_site_mb > 0:
        big.files = site_files(big.uri, big_site_mb, BIG_FILE_SIZE)
    b.site("disabled-d7.local.test", pa, "standard", example, std, status=-1)
    b.site("deleted-d7.local.test", pa, "standard", example, std, status=-2)
    b.site("queued-d7.local.test", pa, "standard", example, D7_STANDARD, status=0)
    tq = b.site("taskq-d7.local.test", pa, "standard", acme, std)
    b.task("backup", tq, status=0, args={"description": "Nightly"})
    tp = b.site("taskp-d7.local.test", pa, "standard", acme, std)
    b.task("verify", tp, status=-1)
    b.site("maint-d7.local.test", pa, "minimal", acme, mini, maintenance=True)
    b.site("aliased-d7.local.test", pb, "standard", example, std,
           aliases=[SiteAlias(alias="www.aliased-d7.local.test"),
                    SiteAlias(alias="aliased.example.com")])
    mv = b.site("moved-d7.local.test", pa, "standard", acme, std)
    b.task("migrate", mv, args={"target_platform": str(pb.nid), "new_uri": mv.uri, "new_db_server": str(m.nid)})
    w.revise(mv, "Migrated to drupal-7.98-b", platform=pb.nid, verified=w.clock)
    w.verify_site(mv, std)
    b.site("newer-d7.local.test", pb, "standard", acme, std)
    b.site("archive-d7.local.test", pb, "minimal", legacy, mini)
    b.site("staging-d7.local.test", pc, "standard", example, std)
    b.site("locked-d7.local.test", locked, "standard", legacy, std)
    locked.status = -1
    deleted.status, deleted.context = -2, None
    b.site("legacy-d6.local.test", d6, "default", legacy, D6_DEFAULT | {"views", "views_ui", "token"})
    b.site("offline-d6.local.test", d6, "default", legacy, D6_DEFAULT | {"views", "token", "admin_menu"},
           maintenance=True)
    b.site("portal-d10.local.test", d101, "standard", acme, D10_STANDARD | D8_CLEAN)
    b.site("minimal-d10.local.test", d101, "minimal", example, D10_MINIMAL | {"token", "acme_api"})
    b.site("intranet-d10.local.test", d101, "standard", acme, D10_STANDARD | D8_CLEAN)
    b.site("custom-d10.local.test", d102, "acme_d10", acme, D10_MINIMAL | {"acme_d10_core", "token"})
    b.site("store-d10.local.test", d102, "standard", example, D10_STANDARD | D8_CLEAN)
    b.site("docs-d9.local.test", d95, "standard", legacy, D9_STANDARD | D8_CLEAN)
    assert not w.rid_collisions(), "ids must not make profile iids look like nids"
    return w
