"""The layers' import contract, read from the source with ``ast`` (no import, no subprocess).

Every import counts: at module level, inside a function, under ``TYPE_CHECKING``, relative ones resolved
(``from ..commands.x import y`` in ``qm_tui/screens`` is ``qm_tui.commands.x``), and
``importlib.import_module("...")`` / ``__import__("...")`` with a literal name.

- the engine (``qm_tui/engine``) is headless: no Textual, no CLI, no UI, no test lab;
- the TUI (``qm_tui/screens``, ``qm_tui/widgets``, ``qm_tui/app.py``) uses the engine itself, never the CLI;
- only the demo command (``qm_tui/commands/demo_cmd.py``) may use the test lab (``qm_lab``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import qm_tui

REPO = Path(qm_tui.__file__).resolve().parent.parent


@dataclass(frozen=True)
class Rule:
    files: tuple[str, ...]  # paths relative to the repository: a directory ends with "/"
    forbidden: tuple[str, ...]  # modules, each with everything under it
    why: str
    exempt: tuple[str, ...] = ()

    def applies(self, rel: str) -> bool:
        def under(p: str) -> bool:
            return rel.startswith(p) if p.endswith("/") else rel == p

        return any(under(p) for p in self.files) and not any(under(p) for p in self.exempt)


RULES = (
    Rule(("qm_tui/engine/",),
         ("textual", "qm_tui.cli", "qm_tui.commands", "qm_tui.app", "qm_tui.screens", "qm_tui.widgets", "qm_lab"),
         "the engine is headless: no Textual, no CLI, no UI, no test lab"),
    Rule(("qm_tui/screens/", "qm_tui/widgets/", "qm_tui/app.py"), ("qm_tui.cli", "qm_tui.commands", "qm_lab"),
         "the TUI uses the engine itself, never the CLI or the test lab"),
    Rule(("qm_tui/",), ("qm_lab",), "only the demo command may use the test lab",
         exempt=("qm_tui/commands/demo_cmd.py",)),
)


def module_of(rel: str) -> tuple[str, str]:
    """(module, package) of a source file: ``qm_tui/screens/run.py`` is ``qm_tui.screens.run`` in
    ``qm_tui.screens``; ``qm_tui/screens/__init__.py`` is ``qm_tui.screens``, its own package."""
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def resolve(package: str, level: int, module: str | None) -> str:
    """The absolute name of ``from <level dots><module> import ...`` in ``package``."""
    if not level:
        return module or ""
    parts = package.split(".")
    if level - 1 >= len(parts):
        return f"<{'.' * level}{module or ''} beyond the top package>"
    base = ".".join(parts[:len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


def imports(source: str, rel: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every module the file may import; ``from a import b`` gives ``a`` and ``a.b``
    (``b`` may be a submodule: ``from .. import commands``)."""
    _, package = module_of(rel)
    for node in ast.walk(ast.parse(source, filename=rel)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            target = resolve(package, node.level, node.module)
            yield node.lineno, target
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{target}.{alias.name}"
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            name: str = node.args[0].value
            if name.startswith("."):
                dots = len(name) - len(name.lstrip("."))
                name = resolve(package, dots, name[dots:] or None)
            yield node.lineno, name


def violations(root: Path) -> list[str]:
    """``file:line: imports X (forbidden: Y): why`` for every import that breaks a rule, under ``root``."""
    found: list[str] = []
    for path in sorted((root / "qm_tui").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        rules = [r for r in RULES if r.applies(rel)]
        if not rules:
            continue
        seen: set[tuple[int, str]] = set()
        for line, name in imports(path.read_text(encoding="utf-8"), rel):
            for rule in rules:
                for bad in rule.forbidden:
                    if (name == bad or name.startswith(bad + ".")) and (line, bad) not in seen:
                        seen.add((line, bad))
                        found.append(f"{rel}:{line}: imports {name} (forbidden: {bad}): {rule.why}")
    return found


def test_the_source_keeps_the_import_contract() -> None:
    bad = violations(REPO)
    assert not bad, "imports that break the layers' contract:\n" + "\n".join(bad)


def test_the_check_reads_the_real_source() -> None:
    """Guard against a check that silently reads nothing."""
    files = list((REPO / "qm_tui").rglob("*.py"))
    assert len(files) > 40 and (REPO / "qm_tui" / "engine" / "journal.py") in files
    run = REPO / "qm_tui" / "screens" / "run.py"
    found = {name for _, name in imports(run.read_text(encoding="utf-8"), "qm_tui/screens/run.py")}
    assert {"textual.widgets", "qm_tui.engine.journal", "qm_tui.widgets.step_tree"} <= found
    demo = REPO / "qm_tui" / "commands" / "demo_cmd.py"
    assert any(n.startswith("qm_lab") for _, n in imports(demo.read_text(encoding="utf-8"),
                                                          "qm_tui/commands/demo_cmd.py"))


FAKE = {
    "qm_tui/__init__.py": "",
    "qm_tui/config.py": "import qm_lab.demo\n",
    "qm_tui/app.py": "from .engine import journal\nfrom . import commands\n",
    "qm_tui/engine/__init__.py": "from ..widgets import step_tree\n",
    "qm_tui/engine/ok.py": "from ..config import Config\nfrom .journal import Journal\nimport asyncio\n",
    "qm_tui/engine/bad.py": (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import textual\n"
        "if TYPE_CHECKING:\n"
        "    from qm_lab.demo import Demo\n"
        "def later():\n"
        "    from textual.widgets import Tree\n"
        "    from ..commands import ops_cmd\n"
        "    from .. import cli\n"
        "    import importlib\n"
        "    importlib.import_module('qm_tui.screens.run')\n"
        "    importlib.import_module('..widgets.log_view', __package__)\n"
        "    return __import__('qm_tui.app')\n"
    ),
    "qm_tui/screens/run.py": ("from ..commands.eventprint import spawn_runner\n"
                              "from ..engine.spawn import spawn_runner\n"),
    "qm_tui/widgets/tree.py": "def f():\n    from qm_tui.cli import main\n",
    "qm_tui/commands/demo_cmd.py": "import qm_lab\nfrom qm_lab.demo import Demo\n",
    "qm_tui/commands/other.py": "from ..cli import command\nfrom qm_lab import sshd\n",
}


def test_the_check_catches_every_kind_of_forbidden_import(tmp_path: Path) -> None:
    for rel, text in FAKE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    engine, tui, lab = (r.why for r in RULES)
    assert violations(tmp_path) == [
        f"qm_tui/app.py:2: imports qm_tui.commands (forbidden: qm_tui.commands): {tui}",
        f"qm_tui/commands/other.py:2: imports qm_lab (forbidden: qm_lab): {lab}",
        f"qm_tui/config.py:1: imports qm_lab.demo (forbidden: qm_lab): {lab}",
        f"qm_tui/engine/__init__.py:1: imports qm_tui.widgets (forbidden: qm_tui.widgets): {engine}",
        f"qm_tui/engine/bad.py:3: imports textual (forbidden: textual): {engine}",
        f"qm_tui/engine/bad.py:5: imports qm_lab.demo (forbidden: qm_lab): {engine}",
        f"qm_tui/engine/bad.py:7: imports textual.widgets (forbidden: textual): {engine}",
        f"qm_tui/engine/bad.py:8: imports qm_tui.commands (forbidden: qm_tui.commands): {engine}",
        f"qm_tui/engine/bad.py:9: imports qm_tui.cli (forbidden: qm_tui.cli): {engine}",
        f"qm_tui/engine/bad.py:11: imports qm_tui.screens.run (forbidden: qm_tui.screens): {engine}",
        f"qm_tui/engine/bad.py:12: imports qm_tui.widgets.log_view (forbidden: qm_tui.widgets): {engine}",
        f"qm_tui/engine/bad.py:13: imports qm_tui.app (forbidden: qm_tui.app): {engine}",
        f"qm_tui/screens/run.py:1: imports qm_tui.commands.eventprint (forbidden: qm_tui.commands): {tui}",
        f"qm_tui/widgets/tree.py:2: imports qm_tui.cli (forbidden: qm_tui.cli): {tui}",
    ]


def test_relative_names() -> None:
    assert module_of("qm_tui/screens/run.py") == ("qm_tui.screens.run", "qm_tui.screens")
    assert module_of("qm_tui/screens/__init__.py") == ("qm_tui.screens", "qm_tui.screens")
    assert resolve("qm_tui.screens", 2, "commands.eventprint") == "qm_tui.commands.eventprint"
    assert resolve("qm_tui.screens", 1, None) == "qm_tui.screens"
    assert resolve("qm_tui", 1, "cli") == "qm_tui.cli"
    assert resolve("qm_tui", 3, "x").endswith("beyond the top package>")
    assert resolve("", 0, "textual") == "textual"
