"""The "one truth" promise on throwaway variants of target_repo that the tool has not seen.

Each variant copies target_repo into a temp dir, mutates it in one way a real
checkout may differ (an extra notebook, CRLF, a BOM, a nested repository, a
half-migrated tree, a missing file, a symlink, ...) and commits it. On every one:

* ``refactor apply ROOT --no-diff`` exits 0;
* ``refactor check ROOT`` then exits 0;
* ``refactor verify ROOT --no-smoke`` passes its stale-names check;
* ``status`` (``task_states``) reports no task pending;
* a second planning pass changes nothing;
* the bytes are sane: every Python file compiles, files apply wrote keep their
  line endings (no mixed endings) and BOM, and the variant's own property holds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.apply.migration import TaskState, plan_migration, task_states
from codemods.cli import app
from codemods.core.journal import commit
from codemods.core.recipe import load_recipe

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
PAIRED = "fine_tuning_vlm_for_object_detection_trl.ipynb"
COLLATORS = "src/data/collators.py"
CONFIG = "src/training/config.py"
BOM = b"\xef\xbb\xbf"
OLD_NAMES = (
    "collate_fn_fixed_1",
    "collate_fn_fixed_3",
    "collate_fn_fixed_fixed1",
    "create_sft_config",
    "create_assistant_only_training_config",
    "collate_fn_v3",
    "training_args_v3",
)
runner = CliRunner()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout


def copy_target(root: Path) -> Path:
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def commit_all(git_root: Path, message: str = "before the plan") -> None:
    """Commit everything under ``git_root`` but analyze_tokens.py (untracked, as in the user's checkout)."""
    if not (git_root / ".git").exists():
        git(git_root, "init", "-q")
        (git_root / ".git" / "info" / "exclude").write_text("__pycache__/\n")
    git(git_root, "add", "-A")
    tracked = git(git_root, "ls-files", "--", ":(glob)**/analyze_tokens.py").split()
    if tracked and message == "before the plan":
        git(git_root, "reset", "-q", "--", *tracked)
    git(git_root, "commit", "-qm", message, "--allow-empty")


# ----------------------------------------------------------------------------- variants


@dataclass
class Variant:
    name: str
    build: Callable[[Path], Path]  # tmp dir -> ROOT (committed)
    expect: Callable[[Path, dict[str, bytes | None], dict[str, bytes | None]], None] | None = None
    git_root: Callable[[Path], Path] = field(default=lambda root: root)


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def build_unpaired_notebook(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    notebook = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "old-00",
                "metadata": {},
                "source": [
                    "# Compare `collate_fn_fixed_1` and `collate_fn_fixed_3`\n",
                    "\n",
                    "The instance `collate_fn_v3` masks everything but the answer.",
                ],
            },
            {
                "cell_type": "code",
                "execution_count": 1,
                "id": "old-01",
                "metadata": {},
                "outputs": [
                    {
                        "name": "stdout",
                        "output_type": "stream",
                        "text": ["collate_fn_v3 built from collate_fn_fixed_3\n"],
                    }
                ],
                "source": [
                    "# collate_fn_fixed_1 trains on every token; collate_fn_fixed_3 on the answer only\n",
                    "from src.data.collators import collate_fn_fixed_1, collate_fn_fixed_3\n",
                    "\n",
                    "collate_fn_v3 = collate_fn_fixed_3(processor, model)\n",
                    "collate_fn_v3.debug = True\n",
                    "print(\"collate_fn_v3 built from collate_fn_fixed_3\")",
                ],
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "notebooks" / "compare_collators.ipynb").write_text(
        json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    commit_all(root)
    return root


def expect_unpaired_notebook(root: Path, before, after) -> None:
    path = "notebooks/compare_collators.ipynb"
    assert after[path] != before[path], "the unpaired notebook was not migrated"
    document = json.loads(after[path])
    sources = ["".join(cell["source"]) for cell in document["cells"]]
    for source in sources:
        for old in OLD_NAMES:
            assert old not in source, (old, source)
    assert "AllTokensCollator" in sources[1] and "AssistantOnlyCollator" in sources[1]
    assert "collate_fn_v2" in sources[1]
    # Stored outputs record a past run: they are kept as they were.
    assert document["cells"][1]["outputs"] == json.loads(before[path])["cells"][1]["outputs"]


def _with_line_ends(tmp: Path, convert, boms: tuple[bytes, bytes] = (b"", b"")) -> Path:
    """target_repo with the main notebook-script and the collators module converted (each behind its BOM)."""
    root = copy_target(tmp / "repo")
    for relative, bom in zip((MAIN, COLLATORS), boms, strict=True):
        path = root / relative
        path.write_bytes(bom + convert(path.read_bytes()))
    (root / ".gitattributes").write_text("* -text\n")
    commit_all(root)
    return root


def build_crlf(tmp: Path) -> Path:
    return _with_line_ends(tmp, _crlf)


def expect_crlf(root: Path, before, after) -> None:
    for relative in (MAIN, COLLATORS):
        data = after[relative]
        assert data != before[relative], f"{relative} was not migrated"
        assert data.count(b"\n") == data.count(b"\r\n"), f"{relative}: LF-only lines after apply"
        assert b"\r\r" not in data, f"{relative}: doubled CR"
    notebook = json.loads(after[PAIRED])
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"])
        assert "\r" not in source, f"{PAIRED} cell {index}: a CR leaked into the cell source"


def build_cr_only(tmp: Path) -> Path:
    """Old Mac line ends (a lone CR) in the main notebook-script (with a BOM) and the collators module."""
    return _with_line_ends(tmp, lambda data: data.replace(b"\r\n", b"\n").replace(b"\n", b"\r"), (BOM, b""))


def expect_cr_only(root: Path, before, after) -> None:
    for relative in (MAIN, COLLATORS):
        data = after[relative]
        assert data != before[relative], f"{relative} was not migrated"
        lf = data.count(b"\n")
        assert not lf, f"{relative}: {lf} LF line ends after apply"
        assert data.endswith(b"\r") and data.startswith(BOM) == before[relative].startswith(BOM), relative


def build_bom(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    for relative in (CONFIG, MAIN):  # the main notebook-script too: its jupytext header follows the BOM
        path = root / relative
        path.write_bytes(BOM + path.read_bytes())
    commit_all(root)
    return root


def expect_bom(root: Path, before, after) -> None:
    for relative in (CONFIG, MAIN):
        data = after[relative]
        assert data != before[relative], f"{relative} was not migrated"
        assert data.startswith(BOM), "the BOM was dropped"
        assert not data[len(BOM) :].startswith(BOM), "the BOM was doubled"
        assert data.count(BOM) == 1
    assert b"create_training_config" in after[CONFIG]
    # The paired notebook is the one a copy without BOM gets: the header after the BOM is no code cell.
    golden = TARGET_REPO.parent / "tests" / "golden" / "migrated_target_repo" / PAIRED
    cells, expected = json.loads(after[PAIRED])["cells"], json.loads(golden.read_text(encoding="utf-8"))["cells"]
    assert [c.get("metadata", {}).get("id") for c in cells] == [c.get("metadata", {}).get("id") for c in expected]
    assert not any("".join(c["source"]).lstrip("\ufeff").startswith("# ---") for c in cells)


def build_nested(tmp: Path) -> Path:
    outer = tmp / "outer"
    outer.mkdir()
    root = copy_target(outer / "inner")
    (outer / "README.md").write_text("Mentions collate_fn_fixed_1, but lives outside ROOT.\n")
    (outer / "tool.py").write_text("from inner.src.data.collators import collate_fn_fixed_1  # outside ROOT\n")
    commit_all(outer)
    return root


def expect_nested(root: Path, before, after) -> None:
    outer = root.parent
    assert "collate_fn_fixed_1" in (outer / "tool.py").read_text(), "a file outside ROOT was rewritten"
    assert "collate_fn_fixed_1" in (outer / "README.md").read_text(), "a file outside ROOT was rewritten"
    assert after[MAIN] != before[MAIN]


def build_half_migrated(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    commit_all(root)
    migration = plan_migration(root, load_recipe(None, root), only=["4"])
    assert migration.changes, "task 4 alone changes nothing"
    commit(migration.context.workspace)
    commit_all(root, "renames only")
    states = {o.task.id: o.state for o in task_states(root, load_recipe(None, root))}
    assert states["4"] is TaskState.DONE, states
    return root


def build_no_analyze_tokens(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    (root / "analyze_tokens.py").unlink()
    commit_all(root)
    return root


def expect_no_analyze_tokens(root: Path, before, after) -> None:
    assert not (root / "analyze_tokens.py").exists()
    assert after[MAIN] != before[MAIN]


def build_no_paired_notebook(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    (root / PAIRED).unlink()
    commit_all(root)
    return root


def expect_no_paired_notebook(root: Path, before, after) -> None:
    assert not (root / PAIRED).exists(), "apply created the paired notebook"
    assert after[MAIN] != before[MAIN]


ABLATION = '''\
"""Ablation runs that reuse the collators of the package."""

import src.data.collators as col
from src.data.collators import collate_fn_fixed_1 as C1


def build_collators(processor, model):
    collate_fn_v3 = col.collate_fn_fixed_3(processor, model)
    collate_fn_v3.debug = True
    return C1(processor, model), collate_fn_v3
'''


def build_extra_module(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    (root / "experiments").mkdir()
    (root / "experiments" / "ablation.py").write_text(ABLATION, encoding="utf-8")
    commit_all(root)
    return root


def expect_extra_module(root: Path, before, after) -> None:
    path = "experiments/ablation.py"
    text = (after[path] or b"").decode("utf-8")
    assert text != ABLATION, "experiments/ablation.py was not migrated"
    assert "from src.data.collators import AllTokensCollator as C1" in text
    assert "col.AssistantOnlyCollator(processor, model)" in text
    for old in OLD_NAMES:
        assert old not in text, (old, text)


def build_markdown_notes(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    (root / "docs").mkdir()
    (root / "docs" / "NOTES.md").write_text(
        "# Notes\n\n"
        "- `collate_fn_fixed_1` trains on all tokens.\n"
        "- `collate_fn_fixed_3` trains on the answer only; its instance is `collate_fn_v3`.\n"
        "- `training_args_v3` holds the second run's config.\n",
        encoding="utf-8",
    )
    commit_all(root)
    return root


def expect_markdown_notes(root: Path, before, after) -> None:
    text = (after["docs/NOTES.md"] or b"").decode("utf-8")
    for old in OLD_NAMES:
        assert old not in text, (old, text)
    assert "`AllTokensCollator`" in text and "`AssistantOnlyCollator`" in text and "`collate_fn_v2`" in text


# Code out of ROOT that holds an old name is an error for check (tests/test_transactions.py); this link
# leads to code that holds none, and must still never be written through.
OUTSIDE_TEXT = "from src.data import collators\n\nCOLLATORS = collators\n"


def build_symlink_outside(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    outside = tmp / "outside.py"
    outside.write_text(OUTSIDE_TEXT, encoding="utf-8")
    (root / "src" / "external.py").symlink_to(outside)
    commit_all(root)
    return root


def expect_symlink_outside(root: Path, before, after) -> None:
    link = root / "src" / "external.py"
    assert link.is_symlink(), "the symlink was replaced by a file"
    assert link.resolve() == (root.parent / "outside.py").resolve()
    assert (root.parent / "outside.py").read_text(encoding="utf-8") == OUTSIDE_TEXT, "apply wrote through the link"
    assert after[MAIN] != before[MAIN]


KEYWORD_DEFINITION = "def build(collate_fn_fixed_1=None):\n    return collate_fn_fixed_1\n\n\nbuild(collate_fn_fixed_1=3)\n"
KEYWORD_CALLER = "from src.kw import build\n\nbuild(\n    collate_fn_fixed_1=4,\n)\n"


def build_keyword_parameter(tmp: Path) -> Path:
    """A parameter spelled like an old name that callers, in its file and another, pass by keyword."""
    root = copy_target(tmp / "repo")
    (root / "src" / "kw.py").write_text(KEYWORD_DEFINITION, encoding="utf-8")
    (root / "scripts" / "kw_caller.py").write_text(KEYWORD_CALLER, encoding="utf-8")
    commit_all(root)
    return root


def expect_keyword_parameter(root: Path, before, after) -> None:
    definition, caller = (after[p].decode("utf-8") for p in ("src/kw.py", "scripts/kw_caller.py"))
    assert definition == KEYWORD_DEFINITION.replace("collate_fn_fixed_1", "AllTokensCollator"), definition
    assert caller == KEYWORD_CALLER.replace("collate_fn_fixed_1", "AllTokensCollator"), caller


ODD_CORNERS = {
    # A tracked package whose directory is named like a virtual environment is still the user's code.
    "src/env/__init__.py": b"",
    "src/env/reward.py": b"from src.data.collators import collate_fn_fixed_3\n\n\ndef make(p, m):\n"
                         b"    return collate_fn_fixed_3(p, m)\n",
    # A star import binds the old factory as surely as naming it.
    "scripts/star.py": b"from src.training.config import *\n\nargs = create_sft_config(seed=1)\n",
    # The next experiment's names hold the relabel's excluded word: they keep v3.
    "scripts/next_run.py": b"trainer_v3_encoder = None  # next: encoder-only\nmetrics_v3_encoder = {}\n",
    # Valid Python in the encoding its coding line declares (not UTF-8).
    "scripts/latin.py": "# -*- coding: latin-1 -*-\nfrom src.data.collators import collate_fn_fixed_1\n"
                        "LABEL = 'Nährwerte'  # collate_fn_fixed_1\n".encode("latin-1"),
    # A notebook no script is paired with calls an old config factory that another cell imports.
    "notebooks/configs.ipynb": (json.dumps({
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": ["from src.training.config import create_assistant_only_training_config\n"]},
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": ["cfg = create_assistant_only_training_config(num_train_epochs=1)\n"]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }, indent=1) + "\n").encode("utf-8"),
}


def build_odd_corners(tmp: Path) -> Path:
    root = copy_target(tmp / "repo")
    for relative, data in ODD_CORNERS.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    commit_all(root)
    return root


def expect_odd_corners(root: Path, before, after) -> None:
    assert b"AssistantOnlyCollator(p, m)" in after["src/env/reward.py"]
    assert after["scripts/star.py"].startswith(b"from src.training.config import *\n\nargs = create_training_config(\n")
    assert after["scripts/next_run.py"] == ODD_CORNERS["scripts/next_run.py"]
    latin = after["scripts/latin.py"]
    assert latin == ODD_CORNERS["scripts/latin.py"].replace(b"collate_fn_fixed_1", b"AllTokensCollator"), latin
    with pytest.raises(UnicodeDecodeError):
        latin.decode("utf-8")  # written back in its own encoding
    cells = ["".join(cell["source"]) for cell in json.loads(after["notebooks/configs.ipynb"])["cells"]]
    assert cells[0] == "from src.training.config import create_training_config\n", cells
    assert cells[1].startswith('cfg = create_training_config(\n    variant="v2-assistant-only",\n    num_train_epochs=1,\n')


VARIANTS = [
    Variant("unpaired-notebook", build_unpaired_notebook, expect_unpaired_notebook),
    Variant("crlf", build_crlf, expect_crlf),
    Variant("cr-only", build_cr_only, expect_cr_only),
    Variant("bom", build_bom, expect_bom),
    Variant("nested", build_nested, expect_nested, git_root=lambda root: root.parent),
    Variant("half-migrated", build_half_migrated),
    Variant("no-analyze-tokens", build_no_analyze_tokens, expect_no_analyze_tokens),
    Variant("no-paired-notebook", build_no_paired_notebook, expect_no_paired_notebook),
    Variant("extra-module", build_extra_module, expect_extra_module),
    Variant("markdown-notes", build_markdown_notes, expect_markdown_notes),
    Variant("symlink-outside", build_symlink_outside, expect_symlink_outside),
    Variant("keyword-parameter", build_keyword_parameter, expect_keyword_parameter),
    Variant("odd-corners", build_odd_corners, expect_odd_corners),
]


# ----------------------------------------------------------------------------- one apply per variant


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Bytes of every regular file under ROOT (None for a symlink), .git left out."""
    files: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if ".git" in relative.parts or "__pycache__" in relative.parts:
            continue
        if path.is_symlink():
            files[relative.as_posix()] = None
        elif path.is_file():
            files[relative.as_posix()] = path.read_bytes()
    return files


@dataclass
class Applied:
    variant: Variant
    root: Path
    before: dict[str, bytes | None]
    after: dict[str, bytes | None]
    exit_code: int
    output: str

    @property
    def written(self) -> list[str]:
        return sorted(p for p, data in self.after.items() if data is not None and self.before.get(p) != data)


@pytest.fixture(scope="module", params=VARIANTS, ids=[v.name for v in VARIANTS])
def applied(request, tmp_path_factory) -> Applied:
    variant: Variant = request.param
    tmp = tmp_path_factory.mktemp(variant.name)
    root = variant.build(tmp)
    before = snapshot(root)
    result = runner.invoke(app, ["apply", str(root), "--no-diff"])
    output = result.output + (f"\n{result.exception!r}" if result.exception and result.exit_code != 0 else "")
    after = snapshot(root)
    if result.exit_code == 0:
        commit_all(variant.git_root(root), "after the plan")
    return Applied(variant, root, before, after, result.exit_code, output)


def _require_applied(applied: Applied) -> None:
    assert applied.exit_code == 0, f"apply failed, so this cannot be judged:\n{applied.output[-3000:]}"


# ----------------------------------------------------------------------------- the promise


def test_apply_exits_0(applied: Applied):
    assert applied.exit_code == 0, applied.output[-3000:]
    assert applied.written, "apply wrote nothing"


def test_check_exits_0(applied: Applied):
    _require_applied(applied)
    result = runner.invoke(app, ["check", str(applied.root), "--format", "json"])
    try:
        findings = json.loads(result.stdout)["findings"]
        shown = [f"{f['path']}:{f['line']}:{f['column']} {f['old_name']} ({f['kind']})" for f in findings
                 if f["severity"] == "error"]
    except (ValueError, KeyError, TypeError):
        shown = [result.output[-3000:]]
    assert result.exit_code == 0, shown


def test_verify_stale_names_passes(applied: Applied, tmp_path: Path):
    _require_applied(applied)
    report = tmp_path / "verify.json"
    result = runner.invoke(app, ["verify", str(applied.root), "--no-smoke", "--report", str(report)])
    assert report.exists(), f"verify wrote no report (exit {result.exit_code}):\n{result.output[-3000:]}"
    checks = {check["name"]: check for check in json.loads(report.read_text())["checks"]}
    stale = checks["stale names"]
    assert stale["status"] == "passed", stale["detail"]


def test_status_reports_no_pending_task(applied: Applied):
    _require_applied(applied)
    states = task_states(applied.root, load_recipe(None, applied.root))
    pending = [(o.task.id, o.task.codemod, o.detail) for o in states if o.state is TaskState.PENDING]
    assert not pending, pending


def test_second_apply_changes_nothing(applied: Applied):
    _require_applied(applied)
    migration = plan_migration(applied.root, load_recipe(None, applied.root))
    assert [change.path for change in migration.changes] == []


def test_bytes(applied: Applied):
    _require_applied(applied)
    root = applied.root
    problems = []
    for relative, data in applied.after.items():
        if data is not None and relative.endswith(".py"):
            try:
                compile(data, relative, "exec", dont_inherit=True)
            except SyntaxError as error:
                problems.append(f"{relative}: does not compile ({error})")
    for relative in applied.written:
        data = applied.after[relative]
        old = applied.before.get(relative)
        crlf, lf = data.count(b"\r\n"), data.count(b"\n")
        mixed = 0 < crlf < lf
        was_mixed = old is not None and 0 < old.count(b"\r\n") < old.count(b"\n")
        if mixed and not was_mixed:
            lines = data.split(b"\n")[:-1]
            bare = [n for n, line in enumerate(lines, 1) if not line.endswith(b"\r")]
            problems.append(f"{relative}: mixed line endings, LF-only lines {bare[:12]} of {lf}")
        if old is not None:
            if old.startswith(BOM) != data.startswith(BOM):
                problems.append(f"{relative}: BOM {'dropped' if old.startswith(BOM) else 'added'}")
            if old.count(b"\n") and (old.count(b"\r\n") == old.count(b"\n")) != (crlf == lf) and not mixed:
                problems.append(f"{relative}: line endings changed")
    if applied.variant.expect is not None:
        try:
            applied.variant.expect(root, applied.before, applied.after)
        except AssertionError as error:
            problems.append(f"variant property: {error}")
    assert not problems, "\n".join(problems)
