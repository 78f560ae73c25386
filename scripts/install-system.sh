#!/usr/bin/env bash
# Install the Debian packages qm-tui and its test lab use, and make sure MariaDB answers.
# Idempotent; installs only what is missing. Needs root (apt-get), as on a fresh Debian 12 machine.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
have ssh || need+=(openssh-client)
have rsync || need+=(rsync)
have curl || need+=(curl)  # the HTTP check runs curl on each web front (the lab's hosts are this machine)
have tmux || need+=(tmux)
have unshare || need+=(util-linux)
have nsenter || need+=(util-linux)
have setpriv || need+=(util-linux)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
db_answers() {
  have mariadb-admin && mariadb-admin --connect-timeout=2 -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1 && return 0
  have mariadb-admin && mariadb-admin --connect-timeout=2 -uroot ping >/dev/null 2>&1 && return 0
  return 1
}
if ! db_answers; then
  [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
fi
# qm-tui demo runs its own private server (mariadb-install-db + mariadbd as the current user): it needs
# the server binaries even when another server answers. mariadb-server-core has them and no service.
if [ ! -x /usr/sbin/mariadbd ] || ! have mariadb-install-db; then
  [[ " ${need[*]-} " == *" mariadb-server "* ]] || need+=(mariadb-server-core)
fi
have mariadb || need+=(mariadb-client)
have mariadb-dump || need+=(mariadb-client)

if [ ${#need[@]} -gt 0 ]; then
  echo "install-system: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! db_answers; then
  echo "install-system: starting MariaDB" >&2
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if ! service mariadb start >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  fi
  for _ in $(seq 1 60); do db_answers && break; sleep 1; done
  db_answers || { echo "install-system: MariaDB did not start" >&2; exit 1; }
fi

# The test lab needs an account that may create databases and users over TCP. A fresh Debian
# MariaDB lets root in only through the unix socket: then make a lab admin, password in a 0600 file.
if ! mariadb --connect-timeout=2 -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  conf=/etc/qm-tui-lab/admin.json
  if [ ! -f "$conf" ] || ! grep -q '"user"' "$conf"; then
    echo "install-system: creating the lab's MariaDB admin account" >&2
    umask 077; mkdir -p /etc/qm-tui-lab
    pw=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
    mariadb -uroot <<SQL
CREATE USER IF NOT EXISTS 'qm_lab_admin'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS 'qm_lab_admin'@'localhost' IDENTIFIED BY '$pw';
ALTER USER 'qm_lab_admin'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'qm_lab_admin'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'qm_lab_admin'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'qm_lab_admin'@'localhost' WITH GRANT OPTION;
SQL
    printf '{"host": "127.0.0.1", "port": 3306, "user": "qm_lab_admin", "password": "%s"}\n' "$pw" > "$conf"
  fi
fi
