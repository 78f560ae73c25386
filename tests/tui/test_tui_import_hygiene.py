"""The engine is headless: importing any of it must not pull in Textual (or our screens, the CLI, the lab).

Run in a fresh interpreter, because this test session has long since imported Textual. The same contract,
read from the source (every import statement, for every layer): tests/test_import_contract.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import qm_tui.engine

PROBE = r"""
import importlib, json, pkgutil, sys
import qm_tui.engine as engine
names = sorted(m.name for m in pkgutil.walk_packages(engine.__path__, "qm_tui.engine."))
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules
                if m in ("textual", "qm_lab") or m.startswith(("textual.", "qm_tui.app", "qm_tui.screens",
                                                                "qm_tui.widgets", "qm_tui.cli", "qm_tui.commands",
                                                                "qm_lab.")))
print(json.dumps({"modules": names, "leaked": leaked}))
"""


def test_engine_never_imports_textual() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # Guard against a probe that silently imported nothing.
    assert "qm_tui.engine.service" in result["modules"]
    assert len(result["modules"]) >= 5, result["modules"]
    assert result["leaked"] == [], f"engine modules imported UI code: {result['leaked']}"


def test_engine_package_path_is_the_one_under_test() -> None:
    # The subprocess must see the same package (editable install), not another copy.
    probe = "import qm_tui.engine, sys; sys.stdout.write(qm_tui.engine.__path__[0])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout == qm_tui.engine.__path__[0]
