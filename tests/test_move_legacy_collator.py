"""Task 5: the legacy collator moves to a DRAFT / LEGACY section at the end of the main file."""

from __future__ import annotations

import ast

import pytest
from codemod_harness import assert_codemod, dedent, run_codemod

from codemods.apply.engines.legacy_docstring import merged_docstring
from codemods.apply.session import Refusal

MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
CODEMOD = "move_legacy_collator"

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---
"""

BANNER = """\
# =============================================================================
# DRAFT / LEGACY COLLATORS
# =============================================================================
# The following collators are kept for reference but are NOT used in training.
# =============================================================================
"""

LEGACY_TEXT = """\
    LEGACY: Flash Attention dtype workaround.

    This was a workaround for Flash Attention 2 requiring bfloat16 pixel values.
    Since training now uses sdpa (not flash_attention_2), this is NOT needed.

    Kept for reference in case flash_attention_2 is used for inference.
"""


def expected(text: str) -> str:
    """A golden text where <BANNER> and <LEGACY> lines stand for the plan's banner and LEGACY text."""
    return dedent(text).replace("<BANNER>\n", BANNER).replace("    <LEGACY>\n", LEGACY_TEXT)


def test_jupytext_cell_moves_to_the_end_with_its_marker(tmp_path):
    before = HEADER + dedent(
        '''
        # %%
        import torch

        # %% [markdown] id="md1"
        # ### Side quest: Flash Attention

        # %% id="c2"
        # Collator v1 + Flash Attention 2 workaround
        class FlashAttentionPatchCollator:
            """
            Same masking as AllTokensCollator, plus bf16 pixel values.
            """

            def __call__(self, batch):
                return batch

        print("✅ Fixed FlashAttentionPatchCollator created")

        # %% [markdown] id="md2"
        # For run 1 we use `AllTokensCollator`.

        # %%
        collate_fn = AllTokensCollator(processor, model)

        # %% [markdown]
        # ## The end
        '''
    )
    after = HEADER + expected(
        '''
        # %%
        import torch

        # %% [markdown] id="md1"
        # ### Side quest: Flash Attention

        # %% [markdown] id="md2"
        # For run 1 we use `AllTokensCollator`.

        # %%
        collate_fn = AllTokensCollator(processor, model)

        # %% [markdown]
        # ## The end

        # %% id="c2"
        <BANNER>

        # Collator v1 + Flash Attention 2 workaround
        class FlashAttentionPatchCollator:
            """
            <LEGACY>

            Same masking as AllTokensCollator, plus bf16 pixel values.
            """

            def __call__(self, batch):
                return batch

        print("✅ Fixed FlashAttentionPatchCollator created")
        '''
    )
    report = assert_codemod(tmp_path, CODEMOD, {MAIN: before}, {MAIN: after})
    assert not [note for note in report.notes if note.level.value == "warning"]
    ast.parse(after)


def test_only_task_5_renames_the_class_and_what_moves_with_it(tmp_path):
    before = dedent(
        '''
        # %%
        # The fix of the fix
        class collate_fn_fixed_fixed1:
            """Casts pixel values (collate_fn_fixed_fixed1)."""

        print("✅ collate_fn_fixed_fixed1 created")


        # %%
        def build():
            return collate_fn_fixed_fixed1()
        '''
    )
    after = expected(
        '''
        # %%
        def build():
            return collate_fn_fixed_fixed1()


        # %%
        <BANNER>

        # The fix of the fix
        class FlashAttentionPatchCollator:
            """LEGACY: Flash Attention dtype workaround.

            This was a workaround for Flash Attention 2 requiring bfloat16 pixel values.
            Since training now uses sdpa (not flash_attention_2), this is NOT needed.

            Kept for reference in case flash_attention_2 is used for inference.

            Casts pixel values (FlashAttentionPatchCollator).
            """

        print("✅ FlashAttentionPatchCollator created")
        '''
    )
    report = assert_codemod(tmp_path, CODEMOD, {MAIN: before}, {MAIN: after})
    warnings = [note for note in report.notes if note.level.value == "warning"]
    assert [(note.line, "old name collate_fn_fixed_fixed1" in note.message) for note in warnings] == [
        (3, True)
    ]


def test_cell_keeps_its_marker_when_other_statements_stay(tmp_path):
    before = dedent(
        """
        x = 1

        # %% id="keep"
        # Legacy collator
        class FlashAttentionPatchCollator:
            pass

        y = 2
        print("FlashAttentionPatchCollator ready")
        """
    )
    after = expected(
        '''
        x = 1

        # %% id="keep"
        y = 2


        # %%
        <BANNER>

        # Legacy collator
        class FlashAttentionPatchCollator:
            """
            <LEGACY>
            """
            pass

        print("FlashAttentionPatchCollator ready")
        '''
    )
    assert_codemod(tmp_path, CODEMOD, {MAIN: before}, {MAIN: after})


def test_class_after_imports_in_its_cell(tmp_path):
    before = dedent(
        '''
        # %%
        import torch

        # bf16 workaround
        class FlashAttentionPatchCollator:
            """Casts."""

        # %%
        run()
        '''
    )
    changed, _ = run_codemod(tmp_path, CODEMOD, {MAIN: before})
    text = changed[MAIN]
    assert text.startswith("# %%\nimport torch\n\n# %%\nrun()\n\n\n# %%\n# ====")
    assert "\n\n# bf16 workaround\nclass FlashAttentionPatchCollator:\n" in text


def test_already_in_the_legacy_section_changes_nothing(tmp_path):
    first, _ = run_codemod(
        tmp_path,
        CODEMOD,
        {MAIN: '# %%\nclass collate_fn_fixed_fixed1:\n    """Doc."""\n\n# %%\nx = 1\n'},
    )
    second, report = run_codemod(tmp_path / "again", CODEMOD, {MAIN: first[MAIN]})
    assert second == {}
    assert any("already in the legacy section" in note.message for note in report.notes)


def test_module_level_use_after_the_class_is_refused(tmp_path):
    before = dedent(
        """
        # %%
        class FlashAttentionPatchCollator:
            pass

        # %%
        collate_fn = FlashAttentionPatchCollator()
        """
    )
    with pytest.raises(Refusal, match="NameError") as refusal:
        run_codemod(tmp_path, CODEMOD, {MAIN: before})
    assert refusal.value.line == 6


@pytest.mark.parametrize(
    "use",
    [
        "def build(cls=FlashAttentionPatchCollator):\n    return cls()",
        "def build(collator: FlashAttentionPatchCollator):\n    return collator",
        "class Patched(FlashAttentionPatchCollator):\n    pass",
        "@FlashAttentionPatchCollator.register\ndef hook():\n    pass",
        "COLLATORS = [FlashAttentionPatchCollator]",
    ],
)
def test_every_kind_of_import_time_use_is_refused(tmp_path, use):
    before = f"class FlashAttentionPatchCollator:\n    pass\n\n\n{use}\n"
    with pytest.raises(Refusal, match="NameError"):
        run_codemod(tmp_path, CODEMOD, {MAIN: before})


def test_comment_right_under_the_previous_statement_stays(tmp_path):
    before = dedent(
        """
        x = compute()
        # end of setup

        # Flash Attention workaround
        class FlashAttentionPatchCollator:
            pass


        y = 1
        """
    )
    after = expected(
        '''
        x = compute()
        # end of setup


        y = 1


        <BANNER>

        # Flash Attention workaround
        class FlashAttentionPatchCollator:
            """
            <LEGACY>
            """
            pass
        '''
    )
    assert_codemod(tmp_path, CODEMOD, {MAIN: before}, {MAIN: after})


def test_uses_in_function_bodies_and_string_annotations_are_listed_not_refused(tmp_path):
    before = dedent(
        """
        class FlashAttentionPatchCollator:
            pass


        def make() -> "FlashAttentionPatchCollator":
            return FlashAttentionPatchCollator()


        handler = lambda: FlashAttentionPatchCollator()
        """
    )
    changed, report = run_codemod(tmp_path, CODEMOD, {MAIN: before})
    assert changed[MAIN].rstrip().endswith('"""\n    pass')
    assert [note.line for note in report.notes if note.level.value == "warning"] == [2, 5]


def test_a_module_without_the_class_is_not_applicable(tmp_path):
    changed, report = run_codemod(tmp_path, CODEMOD, {MAIN: "x = 1\n"})
    assert changed == {}
    assert "5" in report.not_applicable


# ---------------------------------------------------------------------- the docstring
def test_docstring_opening_below_the_quotes():
    original = '"""\n    Original explanation.\n\n    More.\n    """'
    assert merged_docstring(original, "\nLEGACY: text.\n\nSecond.\n", "    ") == (
        '"""\n    LEGACY: text.\n\n    Second.\n\n    Original explanation.\n\n    More.\n    """'
    )


def test_docstring_summary_on_the_opening_line():
    original = "'''Summary.\n\n    Details.\n    '''"
    assert merged_docstring(original, "LEGACY: text.", "    ") == (
        "'''LEGACY: text.\n\n    Summary.\n\n    Details.\n    '''"
    )


def test_one_line_docstring_becomes_triple_quoted():
    assert merged_docstring('"Casts pixels."', "LEGACY: text.", "    ") == (
        '"""LEGACY: text.\n\n    Casts pixels.\n    """'
    )


def test_missing_docstring_gets_the_legacy_text():
    assert merged_docstring(None, "\nLEGACY: a.\n\nb.\n", "  ") == '"""\n  LEGACY: a.\n\n  b.\n  """'


def test_raw_docstring_keeps_its_prefix_and_backslashes():
    assert merged_docstring('r"""\n    Path C:\\tmp\n    """', "LEGACY.", "    ") == (
        'r"""\n    LEGACY.\n\n    Path C:\\tmp\n    """'
    )


def test_class_moved_by_hand_gets_the_missing_legacy_docstring(tmp_path):
    before = expected(
        '''
        x = 1


        <BANNER>

        class FlashAttentionPatchCollator:
            """Casts."""
        '''
    )
    after = before.replace('    """Casts."""', '    """' + LEGACY_TEXT.strip() + '\n\n    Casts.\n    """')
    assert_codemod(tmp_path, CODEMOD, {MAIN: before}, {MAIN: after})
