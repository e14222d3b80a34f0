"""Golden tests for task 4: renaming the collators (codemods/apply/engines/rename.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from codemods.core.names import snake_case
from codemods.core.recipe import RenamePolicy, load_recipe
from tests.codemod_harness import assert_codemod, dedent, run_codemod

MAIN = "fine_tuning_vlm_for_object_detection_trl.py"


def test_class_definition_uses_and_instance_attributes(tmp_path):
    before = dedent(
        '''
        # %% id="abc"
        class collate_fn_fixed_1:
            """Trains on all tokens."""

            def __init__(self, processor, model):
                self.processor = processor


        print("✅ collate_fn_fixed_1 created")

        # %%
        collate_fn = collate_fn_fixed_1(processor, model)
        collate_fn_v3 = collate_fn_fixed_3(processor, model)
        collate_fn_v3.debug = True
        test_output = collate_fn_v3(test_batch)
        '''
    )
    after = dedent(
        '''
        # %% id="abc"
        class AllTokensCollator:
            """Trains on all tokens."""

            def __init__(self, processor, model):
                self.processor = processor


        print("✅ AllTokensCollator created")

        # %%
        collate_fn = AllTokensCollator(processor, model)
        collate_fn_v2 = AssistantOnlyCollator(processor, model)
        collate_fn_v2.debug = True
        test_output = collate_fn_v2(test_batch)
        '''
    )
    report = assert_codemod(tmp_path, "rename_collators", {MAIN: before}, {MAIN: after})
    assert report.renames["class definition"] == 1
    assert report.renames["call"] == 3


def test_scope_aware_parameters_and_locals_follow_the_rename(tmp_path):
    """Parameters and locals spelled like an old name follow the rename (or `refactor check` would flag them
    right after apply); the module-level name and the local stay apart."""
    before = dedent(
        """
        collate_fn_v3 = make()


        def analyze(collate_fn_v3, dataset):
            return collate_fn_v3(dataset)


        def uses_global():
            return collate_fn_v3.debug


        def local_assignment():
            collate_fn_fixed_1 = None
            return collate_fn_fixed_1


        analyze(collate_fn_v3, [])
        """
    )
    after = dedent(
        """
        collate_fn_v2 = make()


        def analyze(collate_fn_v2, dataset):
            return collate_fn_v2(dataset)


        def uses_global():
            return collate_fn_v2.debug


        def local_assignment():
            AllTokensCollator = None
            return AllTokensCollator


        analyze(collate_fn_v2, [])
        """
    )
    assert_codemod(tmp_path, "rename_collators", {MAIN: before}, {MAIN: after})


def test_a_parameter_passed_by_keyword_is_renamed_with_the_keyword_arguments(tmp_path):
    """As rope renames a parameter: the keyword arguments that name it follow, so the call still binds."""
    before = dedent(
        """
        def analyze(collate_fn_v3, dataset):
            return collate_fn_v3(dataset)


        class Runner:
            def __init__(self, collate_fn_v3=None):
                self.collator = collate_fn_v3


        analyze(collate_fn_v3=make(), dataset=[])
        analyze(
            [],  # the dataset comes first here
            collate_fn_v3=make(),
        )
        Runner(collate_fn_v3=None)
        """
    )
    after = before.replace("collate_fn_v3", "collate_fn_v2")
    assert_codemod(tmp_path, "rename_collators", {MAIN: before}, {MAIN: after})


def _main_file_only(old: str):
    recipe = load_recipe()
    limited = tuple(dataclasses.replace(r, files=("main",)) if r.old == old else r for r in recipe.renames)
    return dataclasses.replace(recipe, renames=limited)


@pytest.mark.parametrize(
    ("files", "main_only", "why"),
    [
        # The defining file already spells the new name: the parameter keeps its name, so its callers must.
        ({MAIN: "collate_fn_v2 = None\n\n\ndef analyze(collate_fn_v3):\n    return collate_fn_v3\n\n\nanalyze(collate_fn_v3=1)\n"},
         False, "the parameter"),
        # A caller in a Python file the rename does not cover (a recipe rename limited to the main file).
        ({MAIN: "def analyze(collate_fn_v3):\n    return collate_fn_v3\n", "scripts/caller.py": "analyze(collate_fn_v3=1)\n"},
         True, "keeps its name: a call passes it by keyword"),
    ],
)
def test_a_parameter_passed_by_keyword_keeps_its_name_when_a_call_cannot_follow(tmp_path, files, main_only, why):
    recipe = _main_file_only("collate_fn_v3") if main_only else None
    changed, report = run_codemod(tmp_path, "rename_collators", files, recipe=recipe)
    assert all("analyze(collate_fn_v3" in changed.get(path, text) for path, text in files.items()), changed
    assert any(why in note.message and "collate_fn_v3" in note.message for note in report.notes), report.notes


def test_a_keyword_that_also_goes_to_another_function_keeps_parameters_and_keywords(tmp_path):
    """``ext(old=...)`` may be a library's parameter: renaming it would break that call, keeping ours is safe."""
    before = "def analyze(collate_fn_v3):\n    return collate_fn_v3\n\n\nanalyze(collate_fn_v3=1)\next_train(collate_fn_v3=2)\n"
    changed, report = run_codemod(tmp_path, "rename_collators", {MAIN: before})
    assert changed.get(MAIN, before) == before
    assert any("keeps its name: a call passes it by keyword" in note.message for note in report.notes)


def test_a_keyword_of_a_function_the_workspace_does_not_define_is_left_alone(tmp_path):
    before = "from trl import SFTTrainer\n\nSFTTrainer(collate_fn_v3=1)\n"
    changed, _ = run_codemod(tmp_path, "rename_collators", {MAIN: before})
    assert changed.get(MAIN, before) == before


def test_a_keyword_in_a_notebook_cell_follows_its_renamed_parameter(tmp_path):
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ["analyze(collate_fn_v3=1)\n"]}
    notebook = json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}, indent=1) + "\n"
    files = {MAIN: "def analyze(collate_fn_v3):\n    return collate_fn_v3\n", "caller.ipynb": notebook}
    changed, _ = run_codemod(tmp_path, "rename_collators", files)
    assert "collate_fn_v3" not in changed[MAIN] and "analyze(collate_fn_v2=1)" in changed["caller.ipynb"], changed


@pytest.mark.parametrize("callee", ["analyze", "ext_train"])
def test_a_keyword_in_a_notebook_cell_keeps_its_name_where_the_parameter_does(tmp_path, callee):
    """Renaming the cell's keyword while the parameter keeps its name would break the call."""
    source = [f"{callee}(collate_fn_v3=1)\n", "print(collate_fn_v3)\n"]
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    notebook = json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}, indent=1) + "\n"
    # The defining file already spells the new name, so the parameter keeps the old one.
    main = "collate_fn_v2 = None\n\n\ndef analyze(collate_fn_v3):\n    return collate_fn_v3\n"
    changed, report = run_codemod(tmp_path, "rename_collators", {MAIN: main, "caller.ipynb": notebook})
    cells = json.loads(changed["caller.ipynb"])["cells"]
    assert cells[0]["source"] == [f"{callee}(collate_fn_v3=1)\n", "print(collate_fn_v2)\n"], cells
    assert any("cell 0: the keyword collate_fn_v3= keeps its name" in note.message for note in report.notes)


def test_a_local_keeps_its_name_when_the_new_name_is_taken(tmp_path):
    before = "collate_fn_v2 = 1\n\n\ndef f():\n    collate_fn_v3 = 2\n    return collate_fn_v3 + collate_fn_v2\n"
    report = assert_codemod(tmp_path, "rename_collators", {MAIN: before}, {})
    assert any("the local collate_fn_v3 keeps its name" in note.message for note in report.notes)


def test_imports_aliases_module_attributes_and_all(tmp_path):
    before = dedent(
        """
        import src.data.collators as collators
        from src.data.collators import collate_fn_fixed_1, collate_fn_fixed_3
        from src.data.collators import collate_fn_fixed_fixed1 as LegacyCollator
        from src.data.collators import collate_fn_fixed_3 as AssistantOnlyCollator

        __all__ = ["collate_fn_fixed_1", "collate_fn_fixed_3", "helper"]

        batch = collators.collate_fn_fixed_1(processor, model)(rows)
        legacy = LegacyCollator(processor, model, use_flash_patch=True)
        """
    )
    after = dedent(
        """
        import src.data.collators as collators
        from src.data.collators import AllTokensCollator, AssistantOnlyCollator
        from src.data.collators import FlashAttentionPatchCollator as LegacyCollator
        from src.data.collators import AssistantOnlyCollator

        __all__ = ["AllTokensCollator", "AssistantOnlyCollator", "helper"]

        batch = collators.AllTokensCollator(processor, model)(rows)
        legacy = LegacyCollator(processor, model, use_flash_patch=True)
        """
    )
    # ``collators.old`` follows only an import of a module known to define ``old``.
    module = "class collate_fn_fixed_1: ...\nclass collate_fn_fixed_3: ...\nclass collate_fn_fixed_fixed1: ...\n"
    renamed = "class AllTokensCollator: ...\nclass AssistantOnlyCollator: ...\nclass FlashAttentionPatchCollator: ...\n"
    report = assert_codemod(
        tmp_path,
        "rename_collators",
        {"scripts/use.py": before, "src/data/collators.py": module},
        {"scripts/use.py": after, "src/data/collators.py": renamed},
    )
    assert report.renames["__all__ entry"] == 2
    assert report.renames["attribute"] == 1


def test_annotations_fstrings_comments_and_docstrings(tmp_path):
    before = dedent(
        '''
        def build(c: "collate_fn_fixed_1") -> collate_fn_fixed_3:
            """Build one.

            >>> from src.data.collators import collate_fn_fixed_3
            >>> collator = collate_fn_fixed_3(processor, model)
            ...     # continuation naming collate_fn_fixed_3
            """
            # collate_fn_fixed_3 masks everything but answers
            print(f"[collate_fn_fixed_3] Sample {i}: {n} answer tokens")  # collate_fn_fixed_3
            return collate_fn_fixed_3(c)
        '''
    )
    after = dedent(
        '''
        def build(c: "AllTokensCollator") -> AssistantOnlyCollator:
            """Build one.

            >>> from src.data.collators import AssistantOnlyCollator
            >>> collator = AssistantOnlyCollator(processor, model)
            ...     # continuation naming AssistantOnlyCollator
            """
            # AssistantOnlyCollator masks everything but answers
            print(f"[AssistantOnlyCollator] Sample {i}: {n} answer tokens")  # AssistantOnlyCollator
            return AssistantOnlyCollator(c)
        '''
    )
    report = assert_codemod(tmp_path, "rename_collators", {"src/x.py": before}, {"src/x.py": after})
    assert report.renames["docstring"] == 3  # occurrences, not strings
    assert report.renames["f-string"] == 1
    assert report.renames["comment"] == 2


def test_identifiers_containing_an_old_name_are_renamed_consistently_and_listed(tmp_path):
    files = {
        "src/data/collators.py": dedent(
            """
            def test_collate_fn_fixed_3(processor, model):
                return collate_fn_fixed_3(processor, model)
            """
        ),
        MAIN: dedent(
            """
            # test_collate_fn_fixed_3 was removed from this notebook
            from src.data.collators import test_collate_fn_fixed_3
            """
        ),
    }
    changed, report = run_codemod(tmp_path, "rename_collators", files)
    assert changed["src/data/collators.py"] == dedent(
        """
        def test_assistant_only_collator(processor, model):
            return AssistantOnlyCollator(processor, model)
        """
    )
    assert changed[MAIN] == dedent(
        """
        # test_assistant_only_collator was removed from this notebook
        from src.data.collators import test_assistant_only_collator
        """
    )
    assert report.substring_renames == {"test_collate_fn_fixed_3": "test_assistant_only_collator"}


def test_substring_policy_keep_leaves_longer_identifiers(tmp_path):
    recipe = load_recipe()
    recipe = dataclasses.replace(recipe, rename_policy=RenamePolicy(substring_identifiers="keep"))
    before = "def test_collate_fn_fixed_3():\n    return collate_fn_fixed_3()\n"
    after = "def test_collate_fn_fixed_3():\n    return AssistantOnlyCollator()\n"
    assert_codemod(tmp_path, "rename_collators", {"t.py": before}, {"t.py": after}, recipe=recipe)


def test_text_policy_off_keeps_comments_and_strings(tmp_path):
    recipe = dataclasses.replace(load_recipe(), rename_policy=RenamePolicy(comments=False, strings=False))
    before = 'x = collate_fn_fixed_1()  # collate_fn_fixed_1\nprint("collate_fn_fixed_1")\n__all__ = ["collate_fn_fixed_1"]\n'
    after = 'x = AllTokensCollator()  # collate_fn_fixed_1\nprint("collate_fn_fixed_1")\n__all__ = ["AllTokensCollator"]\n'
    assert_codemod(tmp_path, "rename_collators", {"t.py": before}, {"t.py": after}, recipe=recipe)


def test_main_file_only_renames_stay_in_the_main_file(tmp_path):
    recipe = load_recipe()
    limited = tuple(
        dataclasses.replace(r, files=("main",)) if r.old in {"training_args_v3", "collate_fn_v3"} else r
        for r in recipe.renames
    )
    recipe = dataclasses.replace(recipe, renames=limited)
    other = "training_args_v3 = 1\ncollate_fn_v3 = 2\n"
    main = "training_args_v3 = 1\nprint(training_args_v3.output_dir)\n"
    changed, _ = run_codemod(tmp_path, "rename_collators", {"other.py": other, MAIN: main}, recipe=recipe)
    assert changed == {MAIN: "training_args_v2 = 1\nprint(training_args_v2.output_dir)\n"}


def test_whole_words_only_and_lookalikes_untouched(tmp_path):
    before = "collate_fn_fixed_10 = 1\nmy_collate_fn_fixed_1x = 2\ncollate_fn_fixed_2(batch)\nmodel_v3 = 3\n"
    assert_codemod(tmp_path, "rename_collators", {"t.py": before}, {})


def test_legacy_calls_outside_the_legacy_section_are_warned(tmp_path):
    before = "from src.data.collators import collate_fn_fixed_fixed1\n\nc = collate_fn_fixed_fixed1(p, m, use_flash_patch=True)\n"
    changed, report = run_codemod(tmp_path, "rename_collators", {"scripts/train.py": before})
    assert changed["scripts/train.py"].endswith("c = FlashAttentionPatchCollator(p, m, use_flash_patch=True)\n")
    warnings = [n for n in report.notes if n.level.value == "warning"]
    assert [(w.path, w.line) for w in warnings] == [("scripts/train.py", 3)]


def test_protected_tail_sections_keep_their_old_names(tmp_path):
    recipe = load_recipe()
    banner = recipe.deprecation_banner.strip("\n")
    before = (
        "from .collators import AllTokensCollator\n\n"
        f"{banner}\n"
        '_DEPRECATED = {"collate_fn_fixed_1": "AllTokensCollator"}\n'
    )
    assert_codemod(tmp_path, "rename_collators", {"pkg/__init__.py": before}, {})


def test_second_run_changes_nothing(tmp_path):
    before = "class collate_fn_fixed_3:\n    pass\n\n\ncollate_fn_v3 = collate_fn_fixed_3()\n"
    changed, _ = run_codemod(tmp_path, "rename_collators", {MAIN: before})
    (tmp_path / MAIN).write_text(changed[MAIN])
    again, _ = run_codemod(tmp_path, "rename_collators", {MAIN: changed[MAIN]})
    assert again == {}


def test_snake_case():
    assert snake_case("AssistantOnlyCollator") == "assistant_only_collator"
    assert snake_case("FlashAttentionPatchCollator") == "flash_attention_patch_collator"
    assert snake_case("HTTPCollator") == "http_collator"


def test_markdown_notes_follow_the_renames(tmp_path):
    note = "Run 2 used `collate_fn_fixed_3` (see test_collate_fn_fixed_3); collate_fn_fixed_2 is gone.\n"
    code = "def test_collate_fn_fixed_3():\n    pass\n"
    changed, report = run_codemod(tmp_path, "rename_collators", {"NOTES.md": note, "t.py": code})
    assert changed["NOTES.md"] == (
        "Run 2 used `AssistantOnlyCollator` (see test_assistant_only_collator); collate_fn_fixed_2 is gone.\n"
    )
    assert report.renames["document"] == 2


def test_documents_policy_empty_leaves_notes(tmp_path):
    recipe = dataclasses.replace(load_recipe(), rename_policy=RenamePolicy(documents=()))
    changed, _ = run_codemod(tmp_path, "rename_collators", {"NOTES.md": "`collate_fn_fixed_1`\n"}, recipe=recipe)
    assert changed == {}
