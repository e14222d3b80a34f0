"""The plan as data: the bundled recipe, validation errors, and a second recipe with no code change."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from codemods.core.recipe import RecipeError, load_recipe, parse_recipe
from tests.codemod_harness import dedent, run_codemod

BUNDLED = Path(__file__).resolve().parent.parent / "codemods" / "recipes" / "consolidate_training_configs.toml"


def test_bundled_recipe_holds_the_plan():
    recipe = load_recipe()
    assert [t.id for t in recipe.tasks] == ["1", "2", "3", "4", "5", "6", "7"]
    assert recipe.old_names["collate_fn_fixed_1"] == "AllTokensCollator"
    assert recipe.old_names["collate_fn_fixed_3"] == "AssistantOnlyCollator"
    assert recipe.old_names["collate_fn_fixed_fixed1"] == "FlashAttentionPatchCollator"
    function = recipe.config_function
    assert [p.name for p in function.parameters][:2] == ["variant", "num_train_epochs"]
    assert {b.variant for b in recipe.config_blocks} == {"v1-all-tokens", "v2-assistant-only"}
    assert {d.old: d.variant for d in recipe.config_module.deprecated} == {
        "create_sft_config": "v1-all-tokens",
        "create_assistant_only_training_config": "v2-assistant-only",
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('new = "AllTokensCollator"', 'new = "All Tokens"'), "not a Python identifier"),
        (lambda t: t.replace('default = "2e-5"', 'default = "2e-"'), "not a Python expression"),
        (lambda t: t.replace("eval_steps = \"100\"", "eval_stepz = \"100\""), "not a parameter"),
        (lambda t: t.replace("[plan]", "[plan_]"), "missing required key 'plan'"),
        (lambda t: t + "\n[broken\n", "not valid TOML"),
    ],
)
def test_bad_recipes_are_refused_with_the_reason(edit, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(edit(BUNDLED.read_text(encoding="utf-8")))


def test_missing_recipe_file_is_a_clear_error(tmp_path):
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "nope.toml")


def test_target_pyproject_can_name_the_recipe(tmp_path):
    text = BUNDLED.read_text(encoding="utf-8").replace('name = "consolidate-training-configs"', 'name = "mine"')
    (tmp_path / "my-recipe.toml").write_text(text)
    (tmp_path / "pyproject.toml").write_text('[tool.refactor]\nrecipe = "my-recipe.toml"\n')
    assert load_recipe(root=tmp_path).name == "mine"


ENCODER_ONLY_RENAMES = """
[[renames]]
old = "collate_fn_fixed_4"
new = "EncoderOnlyCollator"
description = "Trains the vision encoder only"
"""


def encoder_only_recipe():
    """A next plan (v3 encoder-only) written as data: one more rename, one more variant."""
    text = BUNDLED.read_text(encoding="utf-8")
    text = text.replace("[rename_policy]", ENCODER_ONLY_RENAMES + "\n[rename_policy]")
    text += dedent(
        """

        [[config_blocks]]
        target = "training_args_v4"
        variant = "v3-encoder-only"
        overrides = { learning_rate = "1e-4" }
        """
    )
    return parse_recipe(text, "encoder-only.toml")


def test_a_second_recipe_renames_its_own_collator_without_code_change(tmp_path):
    recipe = encoder_only_recipe()
    before = "class collate_fn_fixed_4:\n    pass\n\n\ncollator = collate_fn_fixed_4()\n"
    changed, _ = run_codemod(tmp_path, "rename_collators", {"train.py": before}, recipe=recipe)
    assert changed == {"train.py": "class EncoderOnlyCollator:\n    pass\n\n\ncollator = EncoderOnlyCollator()\n"}


def test_a_second_recipe_maps_a_new_variant_block_without_code_change(tmp_path):
    recipe = dataclasses.replace(encoder_only_recipe(), main_file="train.py")
    before = dedent(
        """
        from trl import SFTConfig

        training_args_v4 = SFTConfig(
            output_dir="./out/qwen2vl-nutrition-detection-lora-encoder",
            learning_rate=1e-4,
            eval_steps=50,
        )
        """
    )
    changed, report = run_codemod(tmp_path, "replace_config_blocks", {"train.py": before}, recipe=recipe)
    new = changed["train.py"]
    assert "training_args_v4 = create_training_config(" in new
    assert 'variant="v3-encoder-only"' in new
    assert "learning_rate=1e-4" in new
    function_start = new.index("def create_training_config(")
    assert "SFTConfig(" not in new[:function_start], "the block is gone; only the inserted function builds one"
    assert new.count("SFTConfig(") == 1
    assert report.blocks_replaced == 1
