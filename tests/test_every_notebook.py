"""Every notebook under ROOT and every jupytext pair, on a copy of target_repo with extra notebooks.

The copy gets:

* ``notebooks/extra.ipynb``, paired with nothing: a markdown cell and a code cell
  (behind an IPython magic) saying "Model v3: Trained with assistant-only collator
  (collate_fn_fixed_3)", code using the old names and the v3 variables, and stored
  outputs that print them;
* ``train.py`` paired with ``train.ipynb`` by the script's jupytext header only (the
  notebook carries no jupytext metadata), with outputs stored in the notebook;
* ``notebooks/explore.py`` (light format, no header) paired with
  ``notebooks/explore.ipynb`` by the notebook's metadata only;
* ``notebooks/broken.ipynb``, whose JSON does not parse, naming an old name.

After ``refactor apply`` the check exits 0, both pairs read back through jupytext
to the same cells, stored outputs are kept and listed (or cleared with
``--clear-stale-outputs``), and a second apply has nothing to do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from typer.testing import CliRunner

from codemods.apply.migration import plan_migration
from codemods.cli import app
from codemods.core.recipe import load_recipe, parse_recipe
from tests.test_variant_repos import MAIN, PAIRED, copy_target

runner = CliRunner()
BUNDLED = Path(__file__).resolve().parent.parent / "codemods" / "recipes" / "consolidate_training_configs.toml"
OLD = re.compile(r"\b(collate_fn_fixed_1|collate_fn_fixed_3|collate_fn_v3|training_args_v3)\b")
MODEL_V3 = "Model v3: Trained with assistant-only collator (collate_fn_fixed_3)"

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

TRAIN_PY = HEADER + f"""
# %% [markdown]
# # Train with `collate_fn_fixed_3`
#
# {MODEL_V3}

# %%
import torch
from src.data.collators import collate_fn_fixed_1, collate_fn_fixed_3

# %%
collate_fn_v3 = collate_fn_fixed_3(processor, model)
collate_fn_v3.debug = True
print("✅ collate_fn_fixed_3 ready")

# %%
baseline = collate_fn_fixed_1(processor, model)
print(torch.__version__)
"""

EXPLORE_PY = """\
# # Explore `collate_fn_fixed_1`

from src.data.collators import collate_fn_fixed_1

# collate_fn_fixed_1 masks the vision tokens only
explore_collator = collate_fn_fixed_1(processor, model)
"""


def stream(text: str) -> dict:
    return {"name": "stdout", "output_type": "stream", "text": [text]}


def notebook_json(cells: list[dict], **metadata) -> str:
    document = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}, **metadata},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def code_cell(cell_id: str, source: str, outputs: list[dict] | None = None) -> dict:
    return {
        "cell_type": "code", "execution_count": 1 if outputs else None, "id": cell_id, "metadata": {},
        "outputs": outputs or [], "source": source.splitlines(keepends=True),
    }


def markdown_cell(cell_id: str, source: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source.splitlines(keepends=True)}


EXTRA = notebook_json([
    markdown_cell("m0", f"# {MODEL_V3}\n\nCompares `collate_fn_fixed_1` with `collate_fn_v3`."),
    code_cell(
        "c1",
        f"# {MODEL_V3}\n%matplotlib inline\nfrom src.data.collators import collate_fn_fixed_3\n"
        "collate_fn_v3 = collate_fn_fixed_3(processor, model)\nprint('collate_fn_fixed_3 ready')",
        [stream("collate_fn_fixed_3 ready\n")],
    ),
    code_cell("c2", "args = training_args_v3  # the second run\nprint(args.output_dir)", [stream("./vlm_outputs\n")]),
])


def with_outputs(script: str, fmt: str, outputs: dict[int, list[dict]], jupytext_metadata: bool) -> str:
    """The notebook jupytext pairs with ``script``, with outputs of a past run stored in some cells."""
    notebook = jupytext.reads(script, fmt=fmt)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(output) for output in outputs.get(index, [])]
            cell.execution_count = index if cell.outputs else None
    if not jupytext_metadata:
        notebook.metadata.pop("jupytext", None)
    else:
        notebook.metadata["jupytext"] = {"formats": "ipynb,py:light"}
    return jupytext.writes(notebook, fmt="ipynb") + "\n"


def build(root: Path) -> Path:
    copy_target(root)
    (root / "notebooks" / "extra.ipynb").write_text(EXTRA, encoding="utf-8")
    (root / "train.py").write_text(TRAIN_PY, encoding="utf-8")
    (root / "train.ipynb").write_text(
        with_outputs(TRAIN_PY, "py:percent", {1: [stream("2.5.1\n")], 2: [stream("✅ collate_fn_fixed_3 ready\n")]}, False),
        encoding="utf-8",
    )
    (root / "notebooks" / "explore.py").write_text(EXPLORE_PY, encoding="utf-8")
    (root / "notebooks" / "explore.ipynb").write_text(
        with_outputs(EXPLORE_PY, "py:light", {}, True), encoding="utf-8"
    )
    (root / "notebooks" / "broken.ipynb").write_text('{"cells": [{"source": "collate_fn_fixed_1(p, m)"', encoding="utf-8")
    return root


def check_json(root: Path, *extra: str) -> tuple[int, list[dict]]:
    result = runner.invoke(app, ["check", str(root), "--format", "json", *extra])
    return result.exit_code, json.loads(result.stdout)


def errors(findings: list[dict]) -> list[str]:
    return [f"{f['path']}[{f['cell']}]:{f['line']} {f['old_name']} ({f['kind']})" for f in findings if f["severity"] == "error"]


class Applied:
    def __init__(self, root: Path, before: dict[str, str], output: str, exit_code: int):
        self.root, self.before, self.output, self.exit_code = root, before, output, exit_code

    def text(self, relative: str) -> str:
        return (self.root / relative).read_text(encoding="utf-8")

    def cells(self, relative: str) -> list[dict]:
        return json.loads(self.text(relative))["cells"]


def _apply(root: Path, *options: str) -> Applied:
    before = {p: (root / p).read_text(encoding="utf-8") for p in ("notebooks/extra.ipynb", "train.ipynb", "train.py")}
    result = runner.invoke(app, ["apply", str(root), "--no-diff", "-v", *options])
    return Applied(root, before, result.output, result.exit_code)


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Applied:
    return _apply(build(tmp_path_factory.mktemp("every-notebook") / "repo"))


@pytest.fixture(scope="module")
def cleared(tmp_path_factory) -> Applied:
    return _apply(build(tmp_path_factory.mktemp("cleared") / "repo"), "--clear-stale-outputs")


def test_check_exits_0_right_after_apply(applied: Applied):
    assert applied.exit_code == 0, applied.output[-3000:]
    code, findings = check_json(applied.root)
    assert code == 0, errors(findings)


@pytest.mark.parametrize(
    ("script", "notebook", "fmt"),
    [("train.py", "train.ipynb", "py:percent"), ("notebooks/explore.py", "notebooks/explore.ipynb", "py:light"),
     (MAIN, PAIRED, "py:percent")],
)
def test_every_pair_round_trips_to_the_same_cells(applied: Applied, script: str, notebook: str, fmt: str):
    assert applied.exit_code == 0, applied.output[-3000:]
    from_script = jupytext.reads(applied.text(script), fmt=fmt)
    from_notebook = jupytext.reads(applied.text(notebook), fmt="ipynb")
    assert [(c.cell_type, c.source) for c in from_notebook.cells] == [(c.cell_type, c.source) for c in from_script.cells]
    assert not OLD.search(applied.text(script))
    for cell in from_notebook.cells:
        assert not OLD.search(cell.source), (notebook, cell.source)


def test_a_pair_found_from_the_script_header_keeps_its_outputs(applied: Applied):
    cells = applied.cells("train.ipynb")
    assert "AssistantOnlyCollator" in "".join(cells[2]["source"]) and "collate_fn_v2" in "".join(cells[2]["source"])
    assert [cell.get("outputs") for cell in cells] == [cell.get("outputs") for cell in json.loads(applied.before["train.ipynb"])["cells"]]
    assert [cell["id"] for cell in cells] == [f"cell-{index}" for index in range(len(cells))]
    assert re.search(r"train\.ipynb +cell 2 \(.*stored outputs still show collate_fn_fixed_3", applied.output)


def test_the_unpaired_notebook_is_renamed_as_py_files_are(applied: Applied):
    cells = applied.cells("notebooks/extra.ipynb")
    markdown, code, args = ("".join(cell["source"]) for cell in cells)
    new_words = "Model v2: Trained with assistant-only collator (AssistantOnlyCollator)"
    assert markdown.startswith(f"# {new_words}\n") and "`AllTokensCollator` with `collate_fn_v2`" in markdown
    assert code == (
        f"# {new_words}\n%matplotlib inline\nfrom src.data.collators import AssistantOnlyCollator\n"
        "collate_fn_v2 = AssistantOnlyCollator(processor, model)\nprint('AssistantOnlyCollator ready')"
    )
    assert args.startswith("args = training_args_v2  # the second run")
    before = json.loads(applied.before["notebooks/extra.ipynb"])["cells"]
    assert [cell.get("outputs") for cell in cells] == [cell.get("outputs") for cell in before]
    # The magic does not make the cell unparsable: it is renamed by kind, not as text.
    assert "does not parse" not in applied.output.split("notebooks/extra.ipynb", 1)[-1].split("\n", 1)[0]
    assert not re.search(r"extra\.ipynb.*does not parse", applied.output)


def test_stored_outputs_are_warnings_with_the_cell_number_check_uses(applied: Applied):
    _, findings = check_json(applied.root)
    by_cell = {(f["path"].rsplit("/", 1)[-1], f["cell"]) for f in findings if f["kind"] == "notebook output"}
    mine = ("extra.ipynb", "train.ipynb", PAIRED)
    by_cell = {(path, cell) for path, cell in by_cell if path in mine}
    noted = set()
    for path, cell in re.findall(r"warning \[task [^\]]+\] (\S+\.ipynb) +cell (\d+)\b.*stored outputs", applied.output):
        if path.rsplit("/", 1)[-1] in mine:
            noted.add((path.rsplit("/", 1)[-1], int(cell)))
    assert ("extra.ipynb", 1) in noted and ("train.ipynb", 2) in noted
    assert noted == by_cell, (sorted(noted ^ by_cell))


def test_a_notebook_whose_json_does_not_parse_is_renamed_as_text(applied: Applied):
    assert applied.text("notebooks/broken.ipynb") == '{"cells": [{"source": "AllTokensCollator(p, m)"'
    assert re.search(r"broken\.ipynb.*renamed as text", applied.output)


def test_clear_stale_outputs_clears_every_notebook(cleared: Applied):
    assert cleared.exit_code == 0, cleared.output[-3000:]
    code, findings = check_json(cleared.root)
    assert code == 0, errors(findings)
    assert [f for f in findings if f["kind"] == "notebook output"] == []
    extra = cleared.cells("notebooks/extra.ipynb")
    assert extra[1]["outputs"] == [] and extra[1]["execution_count"] is None
    assert extra[2]["outputs"] == [stream("./vlm_outputs\n")]  # nothing stale in it: kept
    train = cleared.cells("train.ipynb")
    assert train[1]["outputs"] == [stream("2.5.1\n")] and train[2]["outputs"] == []


def test_a_second_apply_has_nothing_to_do(applied: Applied):
    assert applied.exit_code == 0
    migration = plan_migration(applied.root, load_recipe(None, applied.root))
    assert [change.path for change in migration.changes] == []


def test_check_before_apply_classifies_cells_behind_a_magic(tmp_path: Path):
    root = build(tmp_path / "repo")
    _, findings = check_json(root)
    kinds = {(f["cell"], f["line"], f["kind"]) for f in findings if f["path"].endswith("extra.ipynb")}
    assert (1, 1, "comment") in kinds and (1, 4, "assignment target") in kinds
    assert not any(kind == "unparsed text" for *_, kind in kinds)


def test_a_pair_out_of_sync_before_is_said_so(tmp_path: Path):
    root = build(tmp_path / "repo")
    stale = json.loads((root / "train.ipynb").read_text(encoding="utf-8"))
    stale["cells"].append(code_cell("extra", "print('only in the notebook')"))
    (root / "train.ipynb").write_text(json.dumps(stale, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["apply", str(root), "--no-diff"])
    assert result.exit_code == 0, result.output[-3000:]
    assert re.search(r"train\.ipynb +was out of sync with train\.py", result.output)


def test_without_the_comment_policy_comments_and_markdown_keep_old_names(tmp_path: Path):
    recipe_path = tmp_path / "recipe.toml"
    recipe_path.write_text(BUNDLED.read_text(encoding="utf-8").replace("comments = true", "comments = false"))
    recipe = parse_recipe(recipe_path.read_text(), str(recipe_path))
    assert not recipe.rename_policy.comments
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "extra.ipynb").write_text(EXTRA, encoding="utf-8")
    migration = plan_migration(root, recipe, only=["4"])
    (root / "notebooks" / "extra.ipynb").write_bytes(migration.changes[0].after)
    markdown, code, _ = ("".join(cell["source"]) for cell in json.loads(migration.changes[0].after)["cells"])
    assert MODEL_V3 in markdown and code.startswith(f"# {MODEL_V3}\n")
    assert "collate_fn_v2 = AssistantOnlyCollator(processor, model)" in code
    code_, findings = check_json(root, "--recipe", str(recipe_path))
    assert code_ == 0, errors(findings)


def _round_trips(root: Path, script: str, notebook: str, fmt: str) -> bool:
    from_script = jupytext.reads((root / script).read_text(encoding="utf-8"), fmt=fmt)
    from_notebook = jupytext.reads((root / notebook).read_text(encoding="utf-8"), fmt="ipynb")
    return [(c.cell_type, c.source) for c in from_notebook.cells] == [(c.cell_type, c.source) for c in from_script.cells]


def test_a_partial_apply_keeps_every_pair_in_sync(tmp_path: Path):
    root = build(tmp_path / "repo")
    migration = plan_migration(root, load_recipe(None, root), only=["2"])
    for change in migration.changes:
        (root / change.path).write_bytes(change.after)
    assert {change.path for change in migration.changes} == {MAIN, PAIRED}
    # The scripts still name the old collators, so their notebooks do too: nothing renamed behind them.
    assert _round_trips(root, MAIN, PAIRED, "py:percent") and _round_trips(root, "train.py", "train.ipynb", "py:percent")
    assert "collate_fn_fixed_3" in (root / "train.ipynb").read_text(encoding="utf-8")


def test_a_notebook_holding_old_names_its_migrated_script_does_not_is_renamed_in_place(tmp_path: Path):
    root = build(tmp_path / "repo")
    (root / "train.py").write_text(
        TRAIN_PY.replace("collate_fn_fixed_1", "AllTokensCollator").replace("collate_fn_fixed_3", "AssistantOnlyCollator")
        .replace("collate_fn_v3", "collate_fn_v2").replace("Model v3", "Model v2"),
        encoding="utf-8",
    )
    migration = plan_migration(root, load_recipe(None, root), only=["4"])
    notes = [n for n in migration.report.notes if n.path == "train.ipynb" and n.level.value == "warning"]
    assert any("was out of sync with train.py" in n.message for n in notes), notes
    after = next(c.after for c in migration.changes if c.path == "train.ipynb").decode("utf-8")
    assert not OLD.search("".join("".join(cell["source"]) for cell in json.loads(after)["cells"]))
    assert "train.py" not in {c.path for c in migration.changes}


IPYTHON_ONLY = (
    "from src.data.collators import collate_fn_fixed_1, collate_fn_fixed_3\np = m = None\n"
    "files = !ls\nres = %time collate_fn_fixed_1(p, m)\ncollate_fn_fixed_1?\ncollate_fn_fixed_3??\n"
    "made = collate_fn_fixed_1(p, m)\n"
)


def test_assigned_magics_and_help_lines_do_not_make_a_cell_unparsable(tmp_path: Path):
    """``x = !ls``, ``y = %time f()`` and ``f?`` are IPython, not syntax errors: check, apply and verify agree."""
    from codemods.core.occurrences import NameTable, python
    from codemods.verify.health import notebook_problems

    recipe = load_recipe()
    scan = python(IPYTHON_ONLY, NameTable(recipe, recipe.main_file).for_path("nb.ipynb"), recipe, cell=True)
    assert scan.problem is None and not any(o.kind == "unparsed text" for o in scan.occurrences)
    assert [o.kind for o in scan.occurrences if o.line == 7] == ["call"]
    document = {"cells": [code_cell("c", IPYTHON_ONLY)], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert notebook_problems("nb.ipynb", json.dumps(document)) == []
