"""Hostile data from the hostmaster is refused; secrets never reach argv, logs or the journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostmaster_fixture import admin_query
from lab_support import REPO, Lab, cli, make_lab, run_id_of, standin, tree_fingerprint

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from make_lab(tmp_path_factory)


def hm(lab: Lab, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    return admin_query(sql, args, database=lab.accounts.database, admin=lab.admin)


def test_hostile_site_name_is_refused_before_any_command(lab: Lab) -> None:
    canary = lab.base / "pwned"
    evil = f"evil$(touch {canary}).lab.test"
    # A copy of a real site's rows under a hostile title: node, current revision, hosting_site.
    nid, vid = 990001, 990001
    src = lab.world.site("cluster-d7.lab.test").nid
    hm(lab, "INSERT INTO node (nid, vid, type, language, title, uid, status, created, changed, comment, promote,"
            " sticky, tnid, translate) SELECT %s, %s, type, language, %s, uid, status, created, changed, comment,"
            " promote, sticky, tnid, translate FROM node WHERE nid = %s", (nid, vid, evil, src))
    hm(lab, "INSERT INTO hosting_site (vid, nid, client, db_server, db_name, platform, profile, language,"
            " last_cron, cron_key, verified, status) SELECT %s, %s, s.client, s.db_server, s.db_name, s.platform,"
            " s.profile, s.language, s.last_cron, s.cron_key, s.verified, s.status FROM hosting_site s"
            " JOIN node n ON n.vid = s.vid WHERE n.nid = %s", (vid, nid, src))
    before = tree_fingerprint(lab)
    for cmd in (("migrate", evil, "drupal-7.98-b", "--yes"), ("plan", evil, "drupal-7.98-b")):
        proc = cli(lab, *cmd)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "is not a valid host name; refusing to use it" in proc.stderr
    assert not canary.exists()
    assert tree_fingerprint(lab) == before


def test_hostile_platform_path_is_refused(lab: Lab) -> None:
    target = lab.world.platform("drupal-7.98-b")
    (path,) = hm(lab, "SELECT p.publish_path FROM hosting_platform p JOIN node n ON n.vid = p.vid"
                      " WHERE n.nid = %s", (target.nid,))[0]
    hm(lab, "UPDATE hosting_platform p JOIN node n ON n.vid = p.vid SET p.publish_path = %s WHERE n.nid = %s",
       ("/var/aegir/platforms/../../../etc", target.nid))
    try:
        proc = cli(lab, "migrate", "maint-d7.lab.test", "drupal-7.98-b", "--yes")
        assert proc.returncode == 2
        assert "is not a normalised path" in proc.stderr or "is not under /var/aegir" in proc.stderr
    finally:
        hm(lab, "UPDATE hosting_platform p JOIN node n ON n.vid = p.vid SET p.publish_path = %s WHERE n.nid = %s",
           (path, target.nid))


def test_no_secret_in_any_argv_log_or_journal_during_a_run(lab: Lab) -> None:
    uri = "big-d7.lab.test"
    secrets = {lab.site_creds[lab.world.site(uri).nid].password, lab.accounts.ro.password, lab.accounts.rw.password}
    # Slow the drush steps down so the sampler sees every phase: dump, updatedb (+ restore), verify.
    standin(lab, "sleep", "updatedb 1\nprovision-verify 1\n")
    seen: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        seen.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8",
                                                                                                         "replace"))
                    except OSError:
                        pass

    t = threading.Thread(target=sample)
    t.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "qm_tui", "migrate", uri, "drupal-7.98-b", "--yes",
                               "--json-events", "--config", str(lab.config_path)],
                              capture_output=True, text=True, timeout=300, cwd=REPO)
    finally:
        stop.set()
        t.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = run_id_of(proc)
    assert any("mariadb-dump" in c for c in seen), "the sampler never saw the dump: it proves nothing"
    leaks = [c for c in seen if any(s in c for s in secrets)]
    assert leaks == []
    texts = [proc.stdout, proc.stderr, (lab.state_dir / "journal.sqlite").read_bytes().decode("latin-1")]
    for log in (lab.state_dir / "runs" / run_id).iterdir():
        texts.append(log.read_text(errors="replace"))
    texts.append((lab.root("aegir.lab.test") / "drush-standin.log").read_text())
    for text in texts:
        for s in secrets:
            assert s not in text
    # Every event line is valid JSON, and the run's commands were shown (with no secret).
    events = [json.loads(line) for line in proc.stdout.splitlines()[1:]]
    assert any(e["event"] == "Output" and e["stream"] == "cmd" and "mariadb-dump" in e["line"] for e in events)
