"""Tests for codemods/config_function.py: the rendered function, the factory model, the output root."""

from __future__ import annotations

import ast

import libcst as cst
import pytest

from codemods.apply.engines.config_discovery import find_output_root
from codemods.apply.engines.config_function import (
    REQUIRED,
    Unknown,
    alias_factory,
    config_function_statement,
    factory_from_def,
    literal_value,
    module_constants,
    recipe_factory,
    render_config_function,
    same_value,
    show,
)
from codemods.apply.session import Context, Level
from codemods.core.recipe import load_recipe
from codemods.core.workspace import Workspace
from tests.codemod_harness import dedent, write_tree

MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
CONFIG = "src/training/config.py"
ROOT = "/data/vlm_outputs"

# The plan's code block for task 2, with its base directory (a path on the
# user's machine) replaced by ROOT.
PLAN_FUNCTION = '''\
def create_training_config(
    # === VARIANT NAME (used for output dir and W&B run name) ===
    variant: str,  # e.g., "v1-all-tokens", "v2-assistant-only", "v3-encoder-only"

    # === HYPERPARAMETERS (with sensible defaults) ===
    num_train_epochs: int = 3,
    per_device_train_batch_size: int = 1,
    per_device_eval_batch_size: int = 1,
    gradient_accumulation_steps: int = 8,
    learning_rate: float = 2e-5,
    warmup_steps: int = 100,

    # === EVAL/SAVE FREQUENCY ===
    eval_steps: int = 50,
    save_steps: int = 300,

    # === SEQUENCE SETTINGS ===
    max_length: int = 2048,

    # === ADVANCED (rarely changed) ===
    lr_scheduler_type: str = "cosine",
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    seed: int = 42,
) -> SFTConfig:
    """
    Create SFT training configuration for any training variant.

    Args:
        variant: Name like "v1-all-tokens", "v2-assistant-only", etc.
                 Used for output_dir suffix and W&B run_name.

    Supports: v1 (all tokens), v2 (assistant-only), v3 (encoder-only), v4 (LLM-only)
    """
    base_output_dir = "/data/vlm_outputs/qwen2vl-nutrition-detection"
    base_logging_dir = "/data/vlm_outputs/logs"

    return SFTConfig(
        # Output and logging - use variant name for paths
        output_dir=f"{base_output_dir}-{variant}",
        logging_dir=f"{base_logging_dir}-{variant}",
        logging_steps=10,

        # Training hyperparameters
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=per_device_train_batch_size,
        per_device_eval_batch_size=per_device_eval_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        gradient_checkpointing=False,  # DISABLED - causes issues with QLoRA

        # Learning rate and optimization
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        lr_scheduler_type=lr_scheduler_type,
        optim="adamw_torch",
        adam_beta2=0.999,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,

        # Mixed precision and performance
        bf16=True,
        tf32=True,
        dataloader_num_workers=0,

        # Evaluation and saving
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=3,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,

        # Other settings
        remove_unused_columns=False,
        push_to_hub=False,
        report_to="wandb",
        run_name=f"qwen2vl-{variant}",
        seed=seed,

        # TRL specific - CONSISTENT for all variants
        dataset_text_field="",
        max_length=max_length,
        dataset_kwargs={"skip_prepare_dataset": True},
    )
'''


def plan_function(root: str = ROOT) -> str:
    return PLAN_FUNCTION.replace(ROOT, root)


@pytest.fixture(scope="module")
def recipe():
    return load_recipe()


@pytest.fixture(scope="module")
def function(recipe):
    return recipe.config_function


def test_render_is_the_plans_code_block_byte_for_byte(function):
    assert render_config_function(function, ROOT) == PLAN_FUNCTION


def test_render_fills_in_any_output_root(function):
    text = render_config_function(function, "./vlm_outputs")
    assert '    base_output_dir = "./vlm_outputs/qwen2vl-nutrition-detection"\n' in text
    assert '    base_logging_dir = "./vlm_outputs/logs"\n' in text
    assert text == plan_function("./vlm_outputs")


def test_rendered_statement_round_trips_and_compiles(function):
    statement = config_function_statement(function, ROOT)
    assert isinstance(statement, cst.FunctionDef)
    assert cst.Module(body=[statement]).code == PLAN_FUNCTION
    compile(PLAN_FUNCTION, "<plan>", "exec")


def test_factory_builds_the_plans_fields(function):
    factory = recipe_factory(function, ROOT)
    fields = factory.build({"variant": "v2-assistant-only", "eval_steps": 100, "save_steps": 100})
    assert fields["output_dir"] == f"{ROOT}/qwen2vl-nutrition-detection-v2-assistant-only"
    assert fields["logging_dir"] == f"{ROOT}/logs-v2-assistant-only"
    assert fields["run_name"] == "qwen2vl-v2-assistant-only"
    assert (fields["eval_steps"], fields["save_steps"], fields["max_length"]) == (100, 100, 2048)
    assert fields["dataset_kwargs"] == {"skip_prepare_dataset": True}
    assert fields["gradient_checkpointing"] is False and fields["tf32"] is True
    assert list(fields) == [f.name for f in function.fields]
    assert factory.derived == {"output_dir", "logging_dir", "run_name"}


def test_factory_passes_unknown_values_through(function):
    factory = recipe_factory(function, ROOT)
    epochs = Unknown("args.epochs")
    fields = factory.build({"variant": "v1-all-tokens", "num_train_epochs": epochs})
    assert fields["num_train_epochs"] is epochs
    assert fields["learning_rate"] == 2e-5


def test_alias_factory_sets_other_keywords_on_the_result(function):
    factory = alias_factory(function, ROOT, "create_sft_config", "v1-all-tokens")
    fields = factory.build({"output_dir": "x", "learning_rate": 1e-4, "label_names": ["labels"]})
    assert fields["output_dir"] == "x"
    assert fields["learning_rate"] == 1e-4
    assert fields["label_names"] == ["labels"]
    assert fields["run_name"] == "qwen2vl-v1-all-tokens"


def test_factory_from_an_old_def_reads_defaults_and_constants():
    module = cst.parse_module(
        dedent(
            """
            OUT = "./vlm_outputs/run-lora"


            def make(output_dir: str = OUT, epochs: int = 3, flag=compute()):
                return SFTConfig(output_dir=output_dir, num_train_epochs=epochs, packing=False, x=derive(1))
            """
        )
    )
    definition = module.body[1]
    factory = factory_from_def(definition, module, module_constants(module))
    assert factory.parameters == (("output_dir", "./vlm_outputs/run-lora"), ("epochs", 3), ("flag", Unknown("compute()")))
    fields = factory.build({"epochs": 1})
    assert fields == {"output_dir": "./vlm_outputs/run-lora", "num_train_epochs": 1, "packing": False, "x": Unknown("derive(1)")}
    assert REQUIRED not in fields.values()


@pytest.mark.parametrize(
    ("source", "expected"),
    [("2e-5", 2e-5), ('["labels"]', ["labels"]), ("None", None), ('{\n  "a": True,  # note\n}', {"a": True})],
)
def test_literal_value(source, expected):
    assert literal_value(source) == expected


def test_literal_value_keeps_other_code_as_source():
    assert literal_value("args.epochs") == Unknown("args.epochs")
    assert literal_value("True", {"True": 1}) is True  # a keyword is never looked up as a name


def test_same_value_and_show():
    assert same_value(2e-5, 0.00002) and same_value(3, 3.0)
    assert not same_value(1, True) and not same_value(None, "") and not same_value("", "text")
    assert show({"skip_prepare_dataset": True}) == '{"skip_prepare_dataset": True}'
    assert show(["labels"]) == '["labels"]' and show(None) == "None" and show(Unknown("x.y")) == "x.y"
    assert ast.literal_eval(show("qwen2vl-v1 ✅")) == "qwen2vl-v1 ✅"


def _context(tmp_path, files):
    write_tree(tmp_path, files)
    return Context(Workspace(tmp_path), load_recipe())


def test_output_root_comes_from_the_first_block_in_the_main_file(tmp_path):
    context = _context(
        tmp_path,
        {
            MAIN: 'from trl import SFTConfig\n\nother = SFTConfig(output_dir="/elsewhere/x")\n'
            'training_args = SFTConfig(output_dir="/mnt/runs/vlm_outputs/qwen2vl-nutrition-detection-lora")\n',
            CONFIG: 'def create_sft_config(output_dir="./vlm_outputs/a"):\n    pass\n',
        },
    )
    assert find_output_root(context, "2") == "/mnt/runs/vlm_outputs"
    assert not context.report.notes


def test_output_root_from_an_already_inserted_function(tmp_path):
    context = _context(tmp_path, {MAIN: "from trl import SFTConfig\n\n\n" + plan_function("/srv/out")})
    assert find_output_root(context, "3") == "/srv/out"


def test_output_root_falls_back_to_the_old_factory_default(tmp_path):
    context = _context(
        tmp_path,
        {
            CONFIG: dedent(
                """
                DEFAULT_OUTPUT_DIR = "./vlm_outputs/qwen2vl-nutrition-detection-lora"


                def create_sft_config(output_dir: str = DEFAULT_OUTPUT_DIR):
                    pass
                """
            )
        },
    )
    assert find_output_root(context, "6") == "./vlm_outputs"


def test_output_root_default_is_reported_once(tmp_path):
    context = _context(tmp_path, {"other.py": "x = 1\n"})
    assert find_output_root(context, "2") == "./outputs"
    assert find_output_root(context, "6") == "./outputs"
    warnings = [n for n in context.report.notes if n.level is Level.WARNING]
    assert len(warnings) == 1 and "'./outputs'" in warnings[0].message
