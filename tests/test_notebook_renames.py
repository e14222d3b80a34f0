"""Unpaired notebooks: after renaming their cells, `refactor check` finds nothing that fails."""

from __future__ import annotations

import json
from pathlib import Path

from codemods.apply.engines.notebook_renames import dump_like, rename_in_notebooks
from codemods.apply.session import Context
from codemods.check import find_stale
from codemods.core.recipe import Task, load_recipe
from codemods.core.workspace import Workspace

RECIPE = load_recipe()
TASK = Task("notebook-renames", "rename_collators", "Rename old names in unpaired notebooks")


def notebook(cells: list[dict], **metadata) -> str:
    document = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}, **metadata},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def code(source: str, outputs: list[dict] | None = None, id: str = "c") -> dict:
    return {
        "cell_type": "code", "execution_count": 1, "id": id, "metadata": {},
        "outputs": outputs or [], "source": source.splitlines(keepends=True),
    }


def markdown(source: str, id: str = "m") -> dict:
    return {"cell_type": "markdown", "id": id, "metadata": {}, "source": source.splitlines(keepends=True)}


STALE = notebook([
    markdown("# Run 2 ✅\n\nTrained with `collate_fn_fixed_3` on the assistant answers.\n", id="m0"),
    code("%matplotlib inline\n# collate_fn_fixed_1 masks nothing but the image tokens\nimport torch\n", id="c1"),
    code(
        "made = collate_fn_fixed_1(processor, model)\ntest_collate_fn_fixed_3 = made\n",
        outputs=[{"name": "stdout", "output_type": "stream", "text": ["collate_fn_fixed_1 created\n"]}],
        id="c2",
    ),
    code("broken = (collate_fn_fixed_3\n", id="c3"),
])
CLEAN = notebook([markdown("# Nothing old here\n"), code("x = AllTokensCollator(processor, model)\n")])


def migrate(root: Path) -> Context:
    context = Context(Workspace(root), RECIPE)
    rename_in_notebooks(context, TASK)
    for change in context.workspace.changes():
        (root / change.path).write_bytes(change.after)
    return context


def test_unpaired_notebook_is_clean_for_check_after_renaming(tmp_path: Path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "eval.ipynb").write_text(STALE, encoding="utf-8")
    (tmp_path / "notebooks" / "clean.ipynb").write_text(CLEAN, encoding="utf-8")
    assert find_stale(tmp_path, RECIPE).exit_code == 1

    context = migrate(tmp_path)

    assert [c.path for c in context.workspace.changes()] == ["notebooks/eval.ipynb"]
    result = find_stale(tmp_path, RECIPE)
    assert result.exit_code == 0, [f.location for f in result.failures]
    assert [(f.kind, f.severity, f.cell) for f in result.findings] == [("notebook output", "warning", 2)]
    text = (tmp_path / "notebooks" / "eval.ipynb").read_text(encoding="utf-8")
    cells = json.loads(text)["cells"]
    assert "".join(cells[0]["source"]).count("`AssistantOnlyCollator`") == 1
    assert cells[1]["source"] == [
        "%matplotlib inline\n", "# AllTokensCollator masks nothing but the image tokens\n", "import torch\n"
    ]
    assert cells[2]["source"] == [
        "made = AllTokensCollator(processor, model)\n", "test_assistant_only_collator = made\n"
    ]
    assert cells[2]["outputs"][0]["text"] == ["collate_fn_fixed_1 created\n"]  # outputs are left as they are
    assert cells[3]["source"] == ["broken = (AssistantOnlyCollator\n"]
    assert "✅" in text and text.endswith("}\n")  # the file's own style: no ASCII escapes, final newline
    assert text == STALE.replace("collate_fn_fixed_3`", "AssistantOnlyCollator`").replace(
        "# collate_fn_fixed_1", "# AllTokensCollator").replace("= collate_fn_fixed_1(", "= AllTokensCollator(").replace(
        "test_collate_fn_fixed_3", "test_assistant_only_collator").replace("(collate_fn_fixed_3", "(AssistantOnlyCollator")

    warnings = [n.message for n in context.report.notes if n.level.value == "warning"]
    assert any("cell 2" in m and "stored outputs" in m and "collate_fn_fixed_1" in m for m in warnings)
    assert any("cell 3" in m and "does not parse" in m for m in warnings)
    assert context.report.substring_renames == {"test_collate_fn_fixed_3": "test_assistant_only_collator"}


def test_notebook_without_old_names_is_byte_identical(tmp_path: Path):
    raw = CLEAN.replace("\n", "\r\n").encode()
    (tmp_path / "clean.ipynb").write_bytes(raw)
    context = migrate(tmp_path)
    assert context.workspace.changes() == []
    assert (tmp_path / "clean.ipynb").read_bytes() == raw


def test_paired_notebook_is_left_to_the_sync(tmp_path: Path):
    paired = notebook([code("made = collate_fn_fixed_1(p, m)\n")], jupytext={"formats": "ipynb,py:percent"})
    (tmp_path / "run.ipynb").write_text(paired, encoding="utf-8")
    (tmp_path / "run.py").write_text("# %%\nmade = AllTokensCollator(p, m)\n", encoding="utf-8")
    (tmp_path / "lonely.ipynb").write_text(paired, encoding="utf-8")  # its script does not exist
    context = migrate(tmp_path)
    assert [c.path for c in context.workspace.changes()] == ["lonely.ipynb"]


def test_json_style_is_kept():
    document = {"cells": [], "metadata": {"title": "café"}, "nbformat": 4, "nbformat_minor": 5}
    for text in (
        json.dumps(document, indent=1, ensure_ascii=False) + "\n",
        json.dumps(document, indent=2, ensure_ascii=True),
        json.dumps(document, separators=(",", ":")),  # one line, compact
        json.dumps(document, ensure_ascii=False) + "\n",  # one line, json.dumps's default separators
        "\ufeff" + json.dumps(document, indent=1).replace("\n", "\r\n") + "\r\n",
    ):
        assert dump_like(json.loads(text.lstrip("\ufeff")), text) == text


def test_an_nbformat_3_notebook_is_left_as_it_is_with_a_warning(tmp_path: Path):
    """Renamed as text, its stored outputs would change; converting it is the user's call."""
    old_format = json.dumps({
        "metadata": {}, "nbformat": 3, "nbformat_minor": 0,
        "worksheets": [{"cells": [{
            "cell_type": "code", "input": ["made = collate_fn_fixed_1(p, m)\n"], "language": "python",
            "outputs": [{"output_type": "stream", "stream": "stdout", "text": ["collate_fn_fixed_1 ready\n"]}],
        }]}],
    }, indent=1) + "\n"
    (tmp_path / "old.ipynb").write_text(old_format, encoding="utf-8")
    context = migrate(tmp_path)
    assert context.workspace.changes() == []
    assert any("nbformat 3" in note.message and "convert it to nbformat 4" in note.message for note in context.report.notes)


def test_a_keyword_of_the_notebooks_own_function_follows_its_renamed_parameter(tmp_path: Path):
    """With a magic in the notebook, `def f(old)` was renamed and `f(old=...)` kept: a TypeError when run."""
    (tmp_path / "nb.ipynb").write_text(notebook([
        code("from src.data.collators import collate_fn_fixed_1\n", id="a"),
        code("%%time\nx = 1\n", id="b"),
        code("def f(collate_fn_fixed_1):\n    return collate_fn_fixed_1\n\n"
             "f(collate_fn_fixed_1=collate_fn_fixed_1)\ndict(collate_fn_fixed_1=1)\n", id="c"),
    ]), encoding="utf-8")
    context = migrate(tmp_path)
    cells = json.loads((tmp_path / "nb.ipynb").read_text(encoding="utf-8"))["cells"]
    assert "".join(cells[2]["source"]) == (
        "def f(AllTokensCollator):\n    return AllTokensCollator\n\n"
        "f(AllTokensCollator=AllTokensCollator)\ndict(collate_fn_fixed_1=1)\n"
    )
    warned = [n.message for n in context.report.notes if n.level.value == "warning"]
    assert warned == ["cell 2: the keyword collate_fn_fixed_1= keeps its name: the parameter it passes keeps the old name"]
    result = find_stale(tmp_path, RECIPE)
    assert result.exit_code == 0 and [(f.kind, f.severity) for f in result.findings] == [("keyword", "warning")]


def test_a_format_field_and_its_keyword_follow_together_in_a_cell(tmp_path: Path):
    (tmp_path / "fmt.ipynb").write_text(notebook([
        code("%matplotlib inline\nprint('{collate_fn_v3}'.format(collate_fn_v3=5))\n", id="a"),
    ]), encoding="utf-8")
    migrate(tmp_path)
    cells = json.loads((tmp_path / "fmt.ipynb").read_text(encoding="utf-8"))["cells"]
    assert "".join(cells[0]["source"]) == "%matplotlib inline\nprint('{collate_fn_v2}'.format(collate_fn_v2=5))\n"
    assert find_stale(tmp_path, RECIPE).findings == []
