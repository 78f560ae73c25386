#!/usr/bin/env bash
# README command 1: install everything, then open qm-tui on its demo sandbox (qm-tui demo --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e .
exec .venv/bin/qm-tui demo "$@"
