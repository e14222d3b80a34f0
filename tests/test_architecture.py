"""The layout's rules, checked on the source: wings over a shared core.

- ``core`` imports no wing and no CLI;
- ``check`` and ``apply`` import only ``core`` (and themselves); ``verify`` may use ``check`` too;
- a command never imports another command (shared work lives in ``apply/engines``);
- no wing or CLI module opens, replaces or deletes files itself: the user's files go through ``core``;
- no module grows past the size where it holds several jobs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "codemods"
WINGS = ("apply", "check", "verify")
ALLOWED = {
    "core": set(),
    "apply": {"core"},
    "check": {"core"},
    "verify": {"core", "check", "kit"},
}
MAX_LINES = 430
# Calls that touch the disk directly; outside core they would bypass the workspace and the journal.
DISK_METHODS = {"unlink", "write_bytes", "write_text", "rmtree", "read_bytes", "read_text"}
OS_CALLS = {"open", "replace", "rename", "remove", "unlink"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else relative[0].removesuffix(".py")


def imported(path: Path) -> set[str]:
    """Every ``codemods.*`` module this file imports, at any depth (lazy imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("codemods.")}


def wing_of(module: str) -> str:
    return module.split(".")[1]


@pytest.mark.parametrize("path", [p for p in modules() if part_of(p) in ALLOWED], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_direction(path: Path):
    own = part_of(path)
    allowed = ALLOWED[own] | {own}
    wrong = {
        module for module in imported(path)
        if wing_of(module) in (*WINGS, "core", "cli") and wing_of(module) not in allowed
    }
    assert not wrong, f"{own} must not import {sorted(wrong)}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "apply" / "commands").glob("*.py")), ids=lambda p: p.name)
def test_commands_never_import_commands(path: Path):
    assert not {m for m in imported(path) if m.startswith("codemods.apply.commands")}


def test_the_checker_sees_a_forbidden_import(tmp_path: Path):
    """The rule above would catch core reaching into a wing."""
    planted = tmp_path / "bad.py"
    planted.write_text("from codemods.apply.session import Context\n")
    assert wing_of(next(iter(imported(planted)))) == "apply"


def _disk_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            receiver = func.value if isinstance(func, ast.Attribute) else None
            # The workspace is core's: calls through it are the sanctioned way in.
            through_core = isinstance(receiver, ast.Attribute) and receiver.attr == "workspace"
            through_core |= isinstance(receiver, ast.Name) and receiver.id in {"workspace", "journal"}
            on_os = isinstance(receiver, ast.Name) and receiver.id in {"os", "shutil"} and name in OS_CALLS
            builtin_open = isinstance(func, ast.Name) and func.id == "open"
            if (on_os or builtin_open or name in DISK_METHODS) and not through_core:
                found.append(f"{path.name}:{node.lineno} {name}()")
    return found


@pytest.mark.parametrize(
    "path", [p for p in modules() if part_of(p) in {"apply", "check"}], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_apply_and_check_leave_the_disk_to_core(path: Path):
    assert _disk_calls(path) == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"
