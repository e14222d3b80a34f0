"""The paired notebook follows the migrated script: sources from it, outputs kept, stale ones listed."""

from __future__ import annotations

import jupytext
import nbformat
from codemod_harness import dedent, write_tree

from codemods.apply.engines.notebooks import sync_paired_notebooks
from codemods.apply.session import Context
from codemods.core.recipe import Task, load_recipe
from codemods.core.workspace import Workspace

MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
NOTEBOOK = "fine_tuning_vlm_for_object_detection_trl.ipynb"
SYNC = Task("notebook", "sync_paired_notebook", "Keep the paired notebook in sync")

HEADER = dedent(
    """
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
)

SCRIPT = HEADER + dedent(
    """

    # %% [markdown] id="intro"
    # # Training with `collate_fn_fixed_1`

    # %% id="setup"
    import torch

    # %% id="collator"
    collate_fn = collate_fn_fixed_1(processor, model)
    print("✅ collate_fn_fixed_1 created")

    # %% id="train"
    trainer.train()
    """
)

MIGRATED = SCRIPT.replace("collate_fn_fixed_1", "AllTokensCollator")


def stream(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def paired_notebook_text(script: str) -> str:
    """The notebook as jupytext would pair it with the script, plus outputs from a past run."""
    notebook = jupytext.reads(script, fmt="py:percent")
    outputs = {
        "setup": [stream("torch 2.5\n")],
        "collator": [stream("✅ collate_fn_fixed_1 created\n")],
        "train": [
            stream("step 1 [collate_fn_fixed_1] loss 2.0\n"),
            nbformat.v4.new_output(
                "execute_result", data={"text/plain": "TrainOutput(global_step=1)"}, execution_count=4
            ),
        ],
    }
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number}"
        if cell.cell_type == "code":
            cell.outputs = outputs[cell.metadata["id"]]
            cell.execution_count = number
    return jupytext.writes(notebook, fmt="ipynb") + "\n"


def sync(tmp_path, files: dict[str, str], migrated: str | None, **options):
    write_tree(tmp_path, files)
    context = Context(Workspace(tmp_path), load_recipe(), options=options)
    if migrated is not None:
        context.workspace.write_text(MAIN, migrated)
    sync_paired_notebooks(context, SYNC)
    changes = {change.path: change.after.decode("utf-8") for change in context.workspace.changes()}
    return changes, context.report


def cells_by_id(text: str) -> dict[str, nbformat.NotebookNode]:
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    return {cell.metadata.get("id"): cell for cell in notebook.cells}


def test_sources_follow_the_script_and_outputs_stay(tmp_path):
    stored = paired_notebook_text(SCRIPT)
    changes, report = sync(tmp_path, {MAIN: SCRIPT, NOTEBOOK: stored}, MIGRATED)

    cells = cells_by_id(changes[NOTEBOOK])
    before = cells_by_id(stored)
    assert cells["intro"].source == "# Training with `AllTokensCollator`"
    assert (
        cells["collator"].source
        == 'collate_fn = AllTokensCollator(processor, model)\nprint("✅ AllTokensCollator created")'
    )
    for key in ("setup", "collator", "train"):
        assert cells[key].outputs == before[key].outputs
        assert cells[key].execution_count == before[key].execution_count
        assert cells[key]["id"] == before[key]["id"]
    warnings = [note for note in report.notes if note.level.value == "warning"]
    assert [(note.path, note.message.split(":")[0]) for note in warnings] == [
        (NOTEBOOK, "cell 2 (collate_fn = AllTokensCollator(processo…)"),
        (NOTEBOOK, "cell 3 (trainer.train())"),
    ]
    assert all(
        "collate_fn_fixed_1" in note.message and "--clear-stale-outputs" in note.message for note in warnings
    )


def test_clear_stale_outputs_option(tmp_path):
    stored = paired_notebook_text(SCRIPT)
    changes, report = sync(tmp_path, {MAIN: SCRIPT, NOTEBOOK: stored}, MIGRATED, clear_stale_outputs=True)
    cells = cells_by_id(changes[NOTEBOOK])
    assert cells["collator"].outputs == [] and cells["collator"].execution_count is None
    assert cells["train"].outputs == [] and cells["train"].execution_count is None
    assert cells["setup"].outputs == cells_by_id(stored)["setup"].outputs
    assert not [note for note in report.notes if note.level.value == "warning"]
    assert sum("cleared stored outputs" in note.message for note in report.notes) == 2


def test_a_synced_pair_is_left_alone(tmp_path):
    first, _ = sync(tmp_path, {MAIN: SCRIPT, NOTEBOOK: paired_notebook_text(SCRIPT)}, MIGRATED)
    again, report = sync(tmp_path / "again", {MAIN: MIGRATED, NOTEBOOK: first[NOTEBOOK]}, None)
    assert again == {}
    assert len([note for note in report.notes if note.level.value == "warning"]) == 2


def test_clearing_later_works_on_an_unchanged_script(tmp_path):
    first, _ = sync(tmp_path, {MAIN: SCRIPT, NOTEBOOK: paired_notebook_text(SCRIPT)}, MIGRATED)
    again, _ = sync(
        tmp_path / "again", {MAIN: MIGRATED, NOTEBOOK: first[NOTEBOOK]}, None, clear_stale_outputs=True
    )
    assert cells_by_id(again[NOTEBOOK])["train"].outputs == []


def test_outputs_matching_their_own_source_are_not_stale(tmp_path):
    # The script still names the old collator (e.g. only task 2 ran): its outputs are current, not stale.
    changed = SCRIPT.replace("import torch", "import torch  # CUDA")
    changes, report = sync(tmp_path, {MAIN: SCRIPT, NOTEBOOK: paired_notebook_text(SCRIPT)}, changed)
    assert cells_by_id(changes[NOTEBOOK])["setup"].source == "import torch  # CUDA"
    assert [note.message.split(":")[0] for note in report.notes if note.level.value == "warning"] == [
        "cell 3 (trainer.train())"  # counted from 0, as `refactor check` counts cells
    ]


def test_new_cells_get_stable_ids(tmp_path):
    migrated = MIGRATED + "\n# %%\nprint('legacy')\n"
    files = {MAIN: SCRIPT, NOTEBOOK: paired_notebook_text(SCRIPT)}
    first, _ = sync(tmp_path, files, migrated)
    second, _ = sync(tmp_path / "again", files, migrated)
    assert first[NOTEBOOK] == second[NOTEBOOK]
    nbformat.validate(nbformat.reads(first[NOTEBOOK], as_version=4))


def test_unpaired_script_and_unpaired_notebooks_are_not_touched(tmp_path):
    unpaired_script = SCRIPT.replace("#     formats: ipynb,py:percent\n", "")
    # Neither file declares the pair: no `formats` in the script's header nor in the notebook's metadata.
    other = paired_notebook_text(unpaired_script)
    changes, report = sync(
        tmp_path,
        {MAIN: unpaired_script, NOTEBOOK: other, "notebooks/evaluate_v3_model.ipynb": other},
        unpaired_script.replace("collate_fn_fixed_1", "AllTokensCollator"),
    )
    assert set(changes) == {MAIN}
    assert report.notes == []


def test_missing_notebook_is_reported(tmp_path):
    changes, report = sync(tmp_path, {MAIN: SCRIPT}, MIGRATED)
    assert set(changes) == {MAIN}
    assert "does not exist" in report.notes[0].message


def test_a_cell_keeps_its_outputs_by_colab_id_when_a_new_cell_comes_before_it(tmp_path):
    migrated = MIGRATED.replace(
        '# %% id="collator"\ncollate_fn = AllTokensCollator(processor, model)',
        '# %%\ndef make():\n    return 1\n\n\n# %% id="collator"\ncollate_fn = make_collator()',
    )
    stored = paired_notebook_text(SCRIPT)
    changes, _ = sync(tmp_path, {MAIN: SCRIPT, NOTEBOOK: stored}, migrated)
    notebook = nbformat.reads(changes[NOTEBOOK], as_version=4)
    new_cell = next(cell for cell in notebook.cells if cell.source.startswith("def make"))
    assert new_cell.outputs == [] and new_cell.execution_count is None
    cells = cells_by_id(changes[NOTEBOOK])
    assert cells["collator"].source.startswith("collate_fn = make_collator()")
    assert cells["collator"].outputs == cells_by_id(stored)["collator"].outputs
