"""The core/GUI border: ``core`` never imports Qt, pyqtgraph or ``gui``, and the CLI starts without them."""
import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORBIDDEN = {"PySide6", "pyqtgraph", "shiboken6", "gui"}
CORE_FILES = sorted((ROOT / "core").rglob("*.py"))


def forbidden_imports(source):
    """Top-level names of forbidden modules imported anywhere in ``source`` (even inside functions)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names = [str(node.args[0].value)]
        else:
            continue
        found += [f"line {node.lineno}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    return found


def test_the_check_catches_qt_imports():
    src = "import os\nfrom PySide6.QtCore import QObject\ndef f():\n    import pyqtgraph as pg\n" \
          "    from gui import app\n    importlib.import_module('shiboken6')\n"
    assert len(forbidden_imports(src)) == 4


def test_core_exists():
    assert len(CORE_FILES) >= 6


@pytest.mark.parametrize("path", CORE_FILES, ids=[str(p.relative_to(ROOT)) for p in CORE_FILES])
def test_core_never_imports_gui_code(path):
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_help_without_qt():
    proc = _run("main.py", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "features" in proc.stdout
    # Building the whole CLI (every sub-command registered) loads no GUI module.
    script = (
        "import sys, cli\n"
        "cli.build_parser()\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    proc = _run("-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_import_contracts_hold():
    """The layers in pyproject.toml's [tool.importlinter] (core <- gui, core <- cli, models apart, and
    core's own layers, function-level imports included: no import circle inside core)."""
    lint = pathlib.Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "5 kept, 0 broken" in proc.stdout


def test_cli_imports_no_gui_module():
    files = sorted((ROOT / "cli").rglob("*.py"))
    assert files
    for path in files:
        assert forbidden_imports(path.read_text(encoding="utf-8")) == [], path
