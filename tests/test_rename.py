"""Quick rename on the lab: same platform, new name; the files are renamed with the site dir, never copied.

Through the README's commands (``qm-tui plan --rename``, ``qm-tui rename --yes``) on the cluster of three
fronts, the single remote web server, the shared-storage symlink site and a Drupal 6 site; preflight
refusals; a failure that rolls the old name back whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab_support import Lab, cli, fronts_of, run_id_of, site_db, standin

from qm_lab.lab import files_state

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_faults")]

MASTER = "aegir.lab.test"


def hostmaster(lab: Lab, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = lab.admin.connect(lab.accounts.database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def record(lab: Lab, nid: int) -> tuple[object, ...]:
    """(title, context, platform title, status) of a site node as the hostmaster has it."""
    return hostmaster(lab, "SELECT n.title, c.name, pn.title, s.status FROM node n "
                           "JOIN hosting_site s ON s.vid = n.vid LEFT JOIN hosting_context c ON c.nid = n.nid "
                           "JOIN node pn ON pn.nid = s.platform WHERE n.nid = %s", nid)[0]


def files_of(lab: Lab, uri: str, hosts: list[str]) -> dict[str, tuple[object, ...]]:
    out = {}
    for host in hosts:
        f, p = files_state(lab, host, uri, "files"), files_state(lab, host, uri, "private")
        out[host] = (f.places, f.inode, f.digest, p.places, p.inode, p.digest)
    return out


def hosts_of(lab: Lab, uri: str) -> list[str]:
    return list(dict.fromkeys([*fronts_of(lab, uri), MASTER]))


def vhosts(lab: Lab, host: str, uri: str) -> list[str]:
    return sorted(str(p.relative_to(lab.root(host))) for p in (lab.root(host) / "config").glob(f"*/*/vhost.d/{uri}"))


def rename_ok(lab: Lab, old: str, new: str) -> str:
    site = lab.world.site(old)
    platform = lab.world.platform_of(site).title
    hosts = hosts_of(lab, old)
    before = files_of(lab, old, hosts)
    nodes = hostmaster(lab, "SELECT COUNT(*) FROM node WHERE type = 'site'")
    proc = cli(lab, "rename", old, new, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"succeeded: {old} is now {new}" in proc.stdout
    after = files_of(lab, new, hosts)
    pub = lab.world.platform(platform).publish_path
    for host in hosts:
        places, inode, digest, pplaces, pinode, pdigest = after[host]
        assert places == (str(lab.path(host, f"{pub}/sites/{new}/files")),), f"{host}: {places}"
        assert pplaces == (str(lab.path(host, f"{pub}/sites/{new}/private/files")),), f"{host}: {pplaces}"
        # Same inode, same content: renamed, never copied.
        assert (inode, digest, pinode, pdigest) == (before[host][1], before[host][2], before[host][4],
                                                    before[host][5]), host
        assert not lab.site_dir(host, old, platform).exists(), f"{host}: old site dir left"
        assert (lab.site_dir(host, new, platform) / "settings.php").exists(), f"{host}: no new site dir"
        assert vhosts(lab, host, old) == [], f"{host}: old vhost left"
    assert vhosts(lab, MASTER, new), "no vhost for the new name"
    # The same site node, renamed (title and context), on the same platform; no second node.
    assert record(lab, site.nid)[:3] == (new, new, platform)
    assert hostmaster(lab, "SELECT COUNT(*) FROM node WHERE type = 'site'") == nodes
    drush = lab.root(MASTER) / ".drush"
    assert not (drush / f"{old}.alias.drushrc.php").exists()
    assert f"'{pub}'" in (drush / f"{new}.alias.drushrc.php").read_text()
    for host in hosts:
        park = lab.root(host) / "qm-tui-parking"
        assert not park.is_dir() or not [p for p in park.iterdir() if p.name.startswith(old + ".")]
    for name in (old, new):
        assert not (lab.root(MASTER) / ".qm-tui" / "locks" / name).exists(), f"lock {name} left"
    return run_id_of(proc)


def test_plan_shows_every_command_and_changes_nothing(lab: Lab) -> None:
    from lab_support import tree_fingerprint

    before = tree_fingerprint(lab)
    proc = cli(lab, "plan", "cluster-d7.lab.test", "--rename", "plan-only.lab.test", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["operation"] == "rename" and plan["new_uri"] == "plan-only.lab.test" and plan["ok"] is True
    names = [s["name"] for s in plan["steps"]]
    assert names[:2] == ["maintenance_on", "dump_db"] and names[-1] == "maintenance_off"
    assert names.index("park_files") < names.index("move_site_dir") < names.index("fix_db_paths") \
        < names.index("verify") < names.index("restore_files") < names.index("hosting_rename")
    shown = [c["display"] for s in plan["steps"] for c in s["commands"]]
    assert any("php-eval" in c and "plan-only.lab.test" in c for c in shown)
    assert any(c.startswith("mv -T ") and "/sites/plan-only.lab.test" in c for c in shown)
    # Guards are part of the plan, on the host they run on.
    push = next(s for s in plan["steps"] if s["name"] == "push_site")
    assert push["commands"][0]["role"] == "guard" and push["commands"][0]["host"] != push["host"]
    text = cli(lab, "plan", "cluster-d7.lab.test", "--rename", "plan-only.lab.test")
    assert text.returncode == 0 and "rename cluster-d7.lab.test: cluster-d7.lab.test → plan-only.lab.test" \
        in text.stdout
    assert "set -e; NC=" not in text.stdout  # the readable commands, not the scripts
    assert tree_fingerprint(lab) == before


def test_cluster_of_three_fronts(lab: Lab) -> None:
    old, new = "cluster-d7.lab.test", "cluster-renamed.lab.test"
    # A path in the database that names the site dir: the site-local module's file name.
    local = site_db(lab, old, "SELECT filename FROM system WHERE name = 'custom_glue'")
    assert local and f"sites/{old}/" in str(local[0][0])
    rename_ok(lab, old, new)
    assert site_db(lab, old, "SELECT filename FROM system WHERE name = 'custom_glue'") == \
        [(str(local[0][0]).replace(f"sites/{old}/", f"sites/{new}/"),)]
    public = site_db(lab, old, "SELECT value FROM variable WHERE name = 'file_public_path'")[0][0]
    path = f"sites/{new}/files".encode()
    assert public == b's:%d:"%s";' % (len(path), path)
    assert site_db(lab, old, "SELECT COUNT(*) FROM variable WHERE value LIKE '%%sites/cluster-d7.lab.test/%%'") \
        == [(0,)]
    assert site_db(lab, old, "SELECT value FROM variable WHERE name = 'maintenance_mode'") == [(b"i:0;",)]
    # drush answers under the new name, from the moved site dir.
    log = (lab.root(MASTER) / "drush-standin.log").read_text().splitlines()
    assert any(f'"@{new}"' in line and "maintenance_mode" in line for line in log)


def test_single_remote_web_server(lab: Lab) -> None:
    rename_ok(lab, "web4-d7.lab.test", "web4-renamed.lab.test")


def test_files_symlink_to_shared_storage_stays_a_link(lab: Lab) -> None:
    old, new = "gluster-d7.lab.test", "gluster-renamed.lab.test"
    shared = lab.hosts.shared["gluster"] / old / "files"
    content = sorted(p.name for p in shared.rglob("*"))
    rename_ok(lab, old, new)
    platform = lab.world.platform_of(lab.world.site(old)).title
    for front in fronts_of(lab, old):
        link = lab.site_dir(front, new, platform) / "files"
        assert link.is_symlink() and str(link.readlink()) == f"/srv/gluster/{old}/files"
    assert sorted(p.name for p in shared.rglob("*")) == content


def test_drupal_6_paths_and_aliases_kept(lab: Lab) -> None:
    old, new = "legacy-d6.lab.test", "legacy-renamed.lab.test"
    rename_ok(lab, old, new)
    path = f"sites/{new}/files".encode()
    assert site_db(lab, old, "SELECT value FROM variable WHERE name = 'file_directory_path'") == \
        [(b's:%d:"%s";' % (len(path), path),)]


def test_aliases_and_redirection_are_kept(lab: Lab) -> None:
    old, new = "aliased-d7.lab.test", "aliased-renamed.lab.test"
    nid = lab.world.site(old).nid
    before = hostmaster(lab, "SELECT a.alias, a.redirection FROM hosting_site_alias a JOIN node n ON n.vid = a.vid "
                             "WHERE n.nid = %s ORDER BY a.alias", nid)
    assert before
    rename_ok(lab, old, new)
    assert hostmaster(lab, "SELECT a.alias, a.redirection FROM hosting_site_alias a JOIN node n ON n.vid = a.vid "
                           "WHERE n.nid = %s ORDER BY a.alias", nid) == before


@pytest.mark.parametrize(("new", "why"), [
    ("verdicts-d7.lab.test", "already used in the hostmaster: site node"),
    ("hostmaster", "already used in the hostmaster: the context of node"),
    ("bad name!", "is not a valid host name"),
    ("intranet-d7.lab.test", "already has that name"),
])
def test_preflight_refuses_a_name_in_use_or_invalid(lab: Lab, new: str, why: str) -> None:
    from lab_support import tree_fingerprint

    before = tree_fingerprint(lab)
    proc = cli(lab, "rename", "intranet-d7.lab.test", new, "--yes")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert why in proc.stderr
    assert tree_fingerprint(lab) == before


def test_preflight_refuses_an_alias_of_another_site(lab: Lab) -> None:
    alias = hostmaster(lab, "SELECT a.alias FROM hosting_site_alias a JOIN node n ON n.vid = a.vid "
                            "WHERE n.nid = %s LIMIT 1", lab.world.site("aliased-d7.lab.test").nid)[0][0]
    proc = cli(lab, "rename", "intranet-d7.lab.test", str(alias), "--yes")
    assert proc.returncode == 2 and "already used in the hostmaster: an alias of site node" in proc.stderr


def test_detached_rename_is_followed_to_its_end(lab: Lab) -> None:
    old, new = "master-d7.lab.test", "master-renamed.lab.test"
    proc = cli(lab, "rename", old, new, "--yes", "--detach")
    assert proc.returncode == 0 and "detached: runner pid" in proc.stdout, proc.stdout + proc.stderr
    watched = cli(lab, "watch", run_id_of(proc))
    assert watched.returncode == 0 and "succeeded" in watched.stdout.splitlines()[-1], watched.stdout
    assert record(lab, lab.world.site(old).nid)[:2] == (new, new)


def test_a_failed_verify_rolls_the_old_name_back_whole(lab: Lab) -> None:
    old, new = "big-d7.lab.test", "big-renamed.lab.test"
    site = lab.world.site(old)
    platform = lab.world.platform_of(site).title
    hosts = hosts_of(lab, old)
    before = files_of(lab, old, hosts)
    vhosts_before = {h: vhosts(lab, h, old) for h in hosts}
    rec = record(lab, site.nid)
    public = site_db(lab, old, "SELECT value FROM variable WHERE name = 'file_public_path'")
    standin(lab, "fail", f"provision-verify @{new}\n")
    proc = cli(lab, "rename", old, new, "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rolled_back" in proc.stdout
    assert files_of(lab, old, hosts) == before
    assert {h: vhosts(lab, h, old) for h in hosts} == vhosts_before
    for host in hosts:
        assert vhosts(lab, host, new) == [], f"{host}: the new name's vhost is left"
        assert not lab.site_dir(host, new, platform).exists(), f"{host}: new site dir left"
    assert record(lab, site.nid) == rec
    assert site_db(lab, old, "SELECT value FROM variable WHERE name = 'file_public_path'") == public
    drush = lab.root(MASTER) / ".drush"
    assert (drush / f"{old}.alias.drushrc.php").exists() and not (drush / f"{new}.alias.drushrc.php").exists()
    assert site_db(lab, old, "SELECT value FROM variable WHERE name = 'maintenance_mode'") == [(b"i:0;",)]


def test_a_crashed_rename_resumes_or_rolls_back(lab: Lab) -> None:
    """The runner killed right after the site dir moved: ``rollback`` brings the old name back whole; killed
    after the files came back under the new name: ``resume`` finishes it."""
    old, new = "staging-d7.lab.test", "staging-renamed.lab.test"
    site = lab.world.site(old)
    hosts = hosts_of(lab, old)
    before = files_of(lab, old, hosts)
    rec = record(lab, site.nid)
    crashed = cli(lab, "rename", old, new, "--yes", env={"QM_TUI_CRASH_AT": "move_site_dir:after_journal"})
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    run_id = run_id_of(crashed)
    back = cli(lab, "rollback", run_id)
    assert back.returncode == 1, back.stdout + back.stderr
    assert files_of(lab, old, hosts) == before and record(lab, site.nid) == rec
    crashed = cli(lab, "rename", old, new, "--yes", env={"QM_TUI_CRASH_AT": "restore_files:after_remote"})
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    done = cli(lab, "resume", run_id_of(crashed))
    assert done.returncode == 0, done.stdout + done.stderr
    assert record(lab, site.nid)[:2] == (new, new)
    after = files_of(lab, new, hosts)
    assert {h: (a[1], a[2], a[4], a[5]) for h, a in after.items()} == \
        {h: (b[1], b[2], b[4], b[5]) for h, b in before.items()}
    assert Path(after[MASTER][0][0]).parent.name == new
