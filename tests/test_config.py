"""Configuration lookup and validation: every error is one line naming the file and key, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qm_tui.config import ConfigError, find_config, load_config

GOOD = """\
hostmaster:
  db: {host: 127.0.0.1, port: 3306, user: aegir_ro, password_file: db.pw, name: hostmaster}
  server: aegir.example.com
aegir_root: /var/aegir
ssh:
  config_file: ssh_config
  known_hosts: known_hosts
  client_keys: [id_ed25519]
  user: aegir
state_dir: state
"""


@pytest.fixture
def cfgdir(tmp_path: Path) -> Path:
    (tmp_path / "db.pw").write_text("s3cret\n")
    (tmp_path / "db.pw").chmod(0o600)
    (tmp_path / "config.yaml").write_text(GOOD)
    return tmp_path


def test_good_config_is_typed(cfgdir: Path) -> None:
    cfg = load_config(cfgdir / "config.yaml")
    assert cfg.hostmaster.db.port == 3306
    assert cfg.hostmaster.db.password_file == cfgdir / "db.pw"
    assert cfg.hostmaster.db.secret() == "s3cret"
    assert cfg.ssh.client_keys == (cfgdir / "id_ed25519",)
    assert cfg.state_dir == cfgdir / "state"
    assert cfg.aegir_root == Path("/var/aegir")
    assert "s3cret" not in repr(cfg)


def test_lookup_order(cfgdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QM_TUI_CONFIG", str(cfgdir / "env.yaml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cfgdir / "xdg"))
    assert find_config("explicit.yaml") == Path("explicit.yaml")
    assert find_config() == cfgdir / "env.yaml"
    monkeypatch.delenv("QM_TUI_CONFIG")
    assert find_config() == cfgdir / "xdg" / "qm-tui" / "config.yaml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hostmaster: [", "invalid YAML at line"),
        (GOOD + "colour: blue\n", "colour: unknown key"),
        (GOOD.replace("port: 3306", "port: '3306'"), "hostmaster.db.port: expected an integer"),
        (GOOD.replace("port: 3306", "port: 70000"), "hostmaster.db.port: 70000 is not a TCP port"),
        (GOOD.replace("  server: aegir.example.com\n", ""), "hostmaster.server: required key is missing"),
        (GOOD.replace("user: aegir\n", "user: [a]\n"), "ssh.user: expected a string, got a list"),
        (GOOD.replace("client_keys: [id_ed25519]", "client_keys: id"), "ssh.client_keys: expected a list"),
        (GOOD.replace("aegir_root: /var/aegir", "aegir_root: 5"), "aegir_root: expected a path"),
        (GOOD.replace("name: hostmaster}", "name: hostmaster, pasword: x}"),
         "hostmaster.db.pasword: unknown"),
        (GOOD.replace("password_file: db.pw", "password_file: nope.pw"), "nope.pw does not exist"),
        ("- a\n- b\n", "(top level): expected a mapping"),
        (GOOD + "migrate: {db_socket: run/mysqld.sock}\n", "migrate.db_socket: expected an absolute path"),
        (GOOD + 'migrate: {db_socket: "/run/a\\nb"}\n', "migrate.db_socket: expected an absolute path"),
        (GOOD + "migrate: {db_socket: /" + "s" * 107 + "}\n", "is longer than 107 bytes"),
        (GOOD + "migrate: {db_socket: 3}\n", "migrate.db_socket: expected a string"),
        *((GOOD + "migrate: {http_check: " + check + "}\n", message) for check, message in [
            ("{expect_status: 700}", "migrate.http_check.expect_status: 700 is not an HTTP status"),
            ("{expect_status: ok}", "migrate.http_check.expect_status: expected an integer"),
            ("{timeout: -1}", "migrate.http_check.timeout: expected seconds, more than 0"),
            ("{url: 'ftp://127.0.0.1'}", "migrate.http_check.url: expected an http:// or https:// URL"),
            ("{url: 'http://127.0.0.1/x'}", "migrate.http_check.url: expected scheme://address[:port] only"),
            ("{url: 'http://u:pw@10.0.0.1'}", "migrate.http_check.url: no user or password in the URL"),
            ("{url: 'http://127.0.0.1:99999'}", "migrate.http_check.url: not a URL"),
            ("{url: 'http://a b'}", "migrate.http_check.url: expected a URL without spaces"),
            ("{url: 'http://{host}'}", "other than {front}"),
            ("{servers: {web1: 'http://;rm'}}", "migrate.http_check.servers.web1: expected an address"),
            ("{servers: {'web 1': 'http://10.0.0.1'}}", "migrate.http_check.servers: 'web 1' is not a server"),
            ("{path: 'index.php'}", "migrate.http_check.path: expected a path starting with /"),
            ("{path: '/a b'}", "migrate.http_check.path: expected a path starting with /"),
            ("{marker: ''}", "migrate.http_check.marker: expected one line of text"),
            ('{marker: "a\\nb"}', "migrate.http_check.marker: expected one line of text"),
            ("{enabled: yes please}", "migrate.http_check.enabled: expected true or false"),
            ("{colour: red}", "migrate.http_check.colour: unknown key"),
        ]),
    ],
)
def test_errors_name_file_and_key(cfgdir: Path, text: str, message: str) -> None:
    path = cfgdir / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(f"{path}: ")
    assert message in line


def test_password_file_readable_by_others_is_refused(cfgdir: Path) -> None:
    (cfgdir / "db.pw").chmod(0o644)
    with pytest.raises(ConfigError, match=r"hostmaster.db.password_file: .*readable by others.*chmod 600"):
        load_config(cfgdir / "config.yaml")


def test_inline_password_needs_private_config(cfgdir: Path) -> None:
    path = cfgdir / "config.yaml"
    path.write_text(GOOD.replace("password_file: db.pw", "password: hunter2"))
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"hostmaster.db.password: .*config.yaml is readable by others"):
        load_config(path)
    path.chmod(0o600)
    assert load_config(path).hostmaster.db.secret() == "hunter2"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qm_tui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_cli_reports_config_error_in_one_line_exit_2(cfgdir: Path) -> None:
    path = cfgdir / "config.yaml"
    path.write_text(GOOD + "bogus: 1\n")
    proc = _cli("check-config", "--config", str(path))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"{path}: bogus: unknown key" in proc.stderr


def test_cli_uses_env_config(cfgdir: Path) -> None:
    proc = _cli("check-config", env={"QM_TUI_CONFIG": str(cfgdir / "config.yaml")})
    assert proc.returncode == 0, proc.stderr
    assert "s3cret" not in proc.stdout
    assert f"{cfgdir / 'config.yaml'}: ok" in proc.stdout


def test_db_socket_is_kept_as_written_and_shown(cfgdir: Path) -> None:
    """A path on the hostmaster: neither made relative to the config file nor expanded here."""
    path = cfgdir / "config.yaml"
    assert load_config(path).migrate.db_socket is None
    path.write_text(GOOD + "migrate: {db_socket: /run/mysqld/mysqld.sock}\n")
    assert load_config(path).migrate.db_socket == "/run/mysqld/mysqld.sock"
    proc = _cli("check-config", "--config", str(path))
    assert proc.returncode == 0 and "site db socket /run/mysqld/mysqld.sock" in proc.stdout, proc.stderr


def test_cli_help_and_version() -> None:
    help_out = _cli("--help").stdout
    assert "check-config" in help_out
    assert _cli("--version").stdout.strip().startswith("qm-tui ")


def test_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "config.example.yaml"
    text = example.read_text().replace("password_file: ~/.qm-tui/db.pw", f"password_file: {tmp_path}/pw")
    (tmp_path / "pw").write_text("x")
    (tmp_path / "pw").chmod(0o600)
    (tmp_path / "c.yaml").write_text(text)
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.hostmaster.server == "aegir.example.com"


def test_http_check_is_off_by_default_and_typed(cfgdir: Path) -> None:
    path = cfgdir / "config.yaml"
    check = load_config(path).migrate.http_check
    assert not check.enabled and check.url_for("web1") == "http://127.0.0.1" and check.expect_status == 200
    path.write_text(GOOD + "migrate: {http_check: {enabled: true, url: 'https://{front}:8443', timeout: 5, "
                           "marker: Welcome, path: '/user?x=1', servers: {web2: 'http://10.0.0.2:8080'}}}\n")
    check = load_config(path).migrate.http_check
    assert check.enabled and check.timeout == 5.0 and check.marker == "Welcome" and check.path == "/user?x=1"
    assert check.url_for("web1.example.com") == "https://web1.example.com:8443"
    assert check.url_for("web2") == "http://10.0.0.2:8080"

