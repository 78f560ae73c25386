#!/usr/bin/env bash
# README command 2 (and CI): install everything, lint, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
