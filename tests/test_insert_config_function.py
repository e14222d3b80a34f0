"""Golden tests for task 2: inserting create_training_config() (codemods/commands/insert_config_function.py)."""

from __future__ import annotations

from codemods.apply.session import Level
from tests.codemod_harness import assert_codemod, dedent, run_codemod
from tests.test_config_function import plan_function

MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
ROOT = "/data/vlm_outputs"

HEADER = dedent(
    """
    # ---
    # jupyter:
    #   jupytext:
    #     formats: ipynb,py:percent
    #     text_representation:
    #       format_version: '1.3'
    # ---

    # %% id="setup01"
    import torch
    """
)

V1_CELL = dedent(
    """
    # %% [markdown] id="md0001"
    # ## Set Up QLoRA and SFTConfig

    # %% id="cfg0001"
    from trl import SFTConfig
    # TASK: configure the first run

    training_args = SFTConfig(
        output_dir="/data/vlm_outputs/qwen2vl-nutrition-detection-lora",
        eval_steps=50,
    )
    print(f"Output: {training_args.output_dir}")
    """
)


def test_new_cell_before_the_cell_holding_the_first_block(tmp_path):
    before = HEADER + "\n" + V1_CELL
    after = (
        HEADER
        + "\n"
        + dedent(
            """
            # %% [markdown] id="md0001"
            # ## Set Up QLoRA and SFTConfig

            # %%
            from trl import SFTConfig


            """
        )
        + plan_function(ROOT)
        + "\n\n"
        + V1_CELL[V1_CELL.index('# %% id="cfg0001"'):]
    )
    report = assert_codemod(tmp_path, "insert_config_function", {MAIN: before}, {MAIN: after})
    warnings = [n.message for n in report.notes if n.level is Level.WARNING]
    assert len(warnings) == 3  # logging_dir, tf32, bf16
    assert any("logging_dir" in w and "SFTConfig no longer accepts logging_dir" in w for w in warnings)
    assert any("tf32=True" in w for w in warnings)


def test_no_import_when_sftconfig_is_already_bound_before_the_cell(tmp_path):
    before = dedent(
        """
        # %%
        from trl import SFTConfig, SFTTrainer

        # %%
        training_args = SFTConfig(output_dir="./out/run-lora")
        """
    )
    after = (
        dedent(
            """
            # %%
            from trl import SFTConfig, SFTTrainer

            # %%
            """
        )
        + plan_function("./out")
        + "\n\n"
        + dedent(
            """
            # %%
            training_args = SFTConfig(output_dir="./out/run-lora")
            """
        )
    )
    assert_codemod(tmp_path, "insert_config_function", {MAIN: before}, {MAIN: after})


def test_an_aliased_import_does_not_bind_the_name_the_function_uses(tmp_path):
    before = dedent(
        """
        # %%
        from trl import SFTConfig as Cfg

        # %%
        training_args = Cfg(output_dir="./out/run-lora")
        """
    )
    changed, _ = run_codemod(tmp_path, "insert_config_function", {MAIN: before})
    assert "# %%\nfrom trl import SFTConfig\n\n\ndef create_training_config(" in changed[MAIN]


def test_plain_script_gets_the_function_before_the_statement(tmp_path):
    before = dedent(
        """
        import trl

        # v1 config
        training_args = trl.SFTConfig(output_dir="./out/run-lora")
        """
    )
    after = (
        "import trl\n\nfrom trl import SFTConfig\n\n\n"
        + plan_function("./out")
        + "\n\n# v1 config\ntraining_args = trl.SFTConfig(output_dir=\"./out/run-lora\")\n"
    )
    assert_codemod(tmp_path, "insert_config_function", {MAIN: before}, {MAIN: after})


def test_block_in_the_first_cell_whose_marker_is_in_the_header(tmp_path):
    before = '# %%\nfrom trl import SFTConfig\ntraining_args = SFTConfig(output_dir="o/r")\n'
    changed, _ = run_codemod(tmp_path, "insert_config_function", {MAIN: before})
    text = changed[MAIN]
    assert text.startswith("# %%\nfrom trl import SFTConfig\n\n\ndef create_training_config(")
    assert text.endswith('    )\n\n\ntraining_args = SFTConfig(output_dir="o/r")\n')
    assert text.count("# %%") == 1
    compile(text, MAIN, "exec")


def test_second_run_changes_nothing(tmp_path):
    first, _ = run_codemod(tmp_path / "a", "insert_config_function", {MAIN: HEADER + "\n" + V1_CELL})
    second, report = run_codemod(tmp_path / "b", "insert_config_function", {MAIN: first[MAIN]})
    assert second == {}
    assert not report.notes and "2" not in report.not_applicable


def test_not_applicable_without_a_block_or_a_main_file(tmp_path):
    changed, report = run_codemod(tmp_path / "a", "insert_config_function", {MAIN: "x = 1\n"})
    assert changed == {} and report.not_applicable == {"2"}
    changed, report = run_codemod(tmp_path / "b", "insert_config_function", {"other.py": "x = 1\n"})
    assert changed == {} and report.not_applicable == {"2"}
    assert "does not exist" in report.notes[0].message


def test_unnamed_blocks_do_not_count(tmp_path):
    before = 'from trl import SFTConfig\n\nsomething_else = SFTConfig(output_dir="o/r")\n'
    changed, report = run_codemod(tmp_path, "insert_config_function", {MAIN: before})
    assert changed == {} and report.not_applicable == {"2"}
