"""The site-DB option file (``dbdump.option_file``): what it holds, and what the real mariadb client reads
back from it through the engine's own shell plumbing (``READ_CNF``/``OPTS``; ``--print-defaults`` needs
no server). ``migrate.db_socket`` applies to db_host 'localhost' only and wins over $MYSQL_HOME's my.cnf."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from qm_tui.engine.dbdump import OPTS, READ_CNF, CredentialError, option_file

CREDS: dict[str, object] = {"db_name": "site1", "db_user": "u1", "db_passwd": 'p\\w"d', "db_host": "localhost"}
SOCK = '/run/a dir/"q\\.sock'


def test_socket_only_for_localhost() -> None:
    text, db = option_file(CREDS, SOCK)
    assert db == "site1"
    assert text.splitlines() == ["[client]", "user=u1", 'password="p\\\\w\\"d"', "host=localhost",
                                 'socket="/run/a dir/\\"q\\\\.sock"']
    assert "socket=" in option_file({**CREDS, "db_host": ""}, SOCK)[0]  # no db_host: localhost, as Aegir's
    assert "socket=" not in option_file({**CREDS, "db_host": "127.0.0.1", "db_port": "3306"}, SOCK)[0]
    assert "socket=" not in option_file({**CREDS, "db_host": "db.example.com"}, SOCK)[0]
    assert "socket=" not in option_file(CREDS)[0]  # unset: the client's own default socket
    with pytest.raises(CredentialError, match="db_passwd contains a line break"):
        option_file({**CREDS, "db_passwd": "a\nsocket=/evil"}, SOCK)


def test_the_client_reads_socket_and_password_back(tmp_path: Path) -> None:
    cli = shutil.which("mariadb")
    if cli is None:
        pytest.skip("the mariadb client is not installed (scripts/install-system.sh installs it)")
    (tmp_path / "my.cnf").write_text("[client]\nsocket=/elsewhere/mysqld.sock\n")
    cnf, _ = option_file(CREDS, SOCK)
    env = {**os.environ, "MYSQL_HOME": str(tmp_path)}
    proc = subprocess.run(["bash", "-c", READ_CNF + f"{cli} {OPTS} --print-defaults"], input=cnf, text=True,
                          capture_output=True, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    args = proc.stdout.splitlines()[-1]
    assert "--socket=/elsewhere/mysqld.sock" in args  # $MYSQL_HOME's is read, then overridden:
    assert args.rstrip().endswith('--socket=/run/a dir/"q\\.sock')  # the last --socket is the one used
    assert '--password=p\\w"d ' in args and "--host=localhost" in args
