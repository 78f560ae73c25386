#!/usr/bin/env bash
# README command 2 (and CI): install everything, lint, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
# The tests start hundreds of short Python processes (the CLI, detached runners, the drush stand-in run
# by the lab's aegir user, who cannot write caches here): without bytecode each recompiles ~60 modules.
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m compileall -q qm_tui "$(.venv/bin/python -c 'import os, pymysql; print(os.path.dirname(pymysql.__file__))')" >/dev/null
# Two workers, one test module each at a time (module-scoped labs are built once): most lab tests wait on
# sshd, MariaDB and subprocesses, so two run side by side in about two thirds of the time.
exec .venv/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile "$@"
