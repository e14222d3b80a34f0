"""Golden tests for task 6: the config module, the package init and the callers
(codemods/commands/consolidate_config_module.py), plus a behavioural check of the
deprecated aliases against the real ``trl.SFTConfig``."""

from __future__ import annotations

import dataclasses
import json
import types
import warnings

import pytest

from codemods.apply.session import BehaviourChange, Impact, Level, Refusal
from tests.codemod_harness import dedent, run_codemod
from tests.test_config_function import plan_function

CONFIG = "src/training/config.py"
INIT = "src/training/__init__.py"
TRAIN = "scripts/train.py"
ROOT = "./vlm_outputs"

CONFIG_HEAD = '''"""
Training configuration for Qwen2-VL nutrition table detection.

- ``create_sft_config``: the first run (v1) - all non-vision tokens are trained.
- ``create_assistant_only_training_config``: the second run (v3) - assistant answers only.

Usage:
    from src.training.config import create_sft_config, print_training_config

    training_args = create_sft_config(
        output_dir="./vlm_outputs/my-experiment",
        num_train_epochs=1,
    )
"""

from trl import SFTConfig

DEFAULT_OUTPUT_DIR = "./vlm_outputs/qwen2vl-nutrition-detection-lora"
DEFAULT_RUN_NAME = "qwen2vl-nutrition-detection"


'''

OLD_SFT_CONFIG = '''def create_sft_config(
    output_dir: str = DEFAULT_OUTPUT_DIR,
    logging_dir: str = "./vlm_outputs/logs",
    num_train_epochs: int = 3,
    learning_rate: float = 2e-5,
    eval_steps: int = 50,
    save_steps: int = 300,
    max_length: int = 2048,
    report_to: str = "wandb",
    run_name: str = DEFAULT_RUN_NAME,
    seed: int = 42,
) -> SFTConfig:
    """
    Create the SFT training configuration of the first run (all tokens).

    Example:
        >>> from src.training.config import create_sft_config
        >>> training_args = create_sft_config(output_dir="./vlm_outputs/test-run")
    """
    return SFTConfig(
        # Output and logging
        output_dir=output_dir,
        logging_dir=logging_dir,
        logging_steps=10,

        # Training hyperparameters
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=1,
        per_device_eval_batch_size=1,
        gradient_accumulation_steps=8,
        gradient_checkpointing=False,  # False - causes issues with QLoRA
        learning_rate=learning_rate,
        warmup_steps=100,
        lr_scheduler_type="cosine",
        optim="adamw_torch",
        adam_beta2=0.999,
        weight_decay=0.01,
        max_grad_norm=1.0,
        bf16=True,
        tf32=True,
        dataloader_num_workers=0,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=3,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        remove_unused_columns=False,
        push_to_hub=False,
        report_to=report_to,
        run_name=run_name,
        seed=seed,
        dataset_text_field="",
        max_length=max_length,
        dataset_kwargs={"skip_prepare_dataset": True},
    )


'''

PRINT_CONFIG = '''def print_training_config(config: SFTConfig) -> None:
    """Print the settings that differ between runs."""
    print(f"Run name: {config.run_name}")


'''

OLD_ASSISTANT_ONLY = '''def create_assistant_only_training_config(
    output_dir: str = "./vlm_outputs/qwen2vl-nutrition-detection-lora-assistantonly",
    num_train_epochs: int = 3,
    eval_steps: int = 100,
    save_steps: int = 100,
    run_name: str = "qwen2vl-7b-assistant-only",
) -> SFTConfig:
    """
    Create the SFT configuration of the assistant-only run (v3).

        >>> from src.data.collators import collate_fn_fixed_3
        >>> training_args_v3 = create_assistant_only_training_config()
    """
    return SFTConfig(
        output_dir=output_dir,
        logging_dir="./vlm_outputs/logs-assistantonly",
        logging_steps=10,
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=1,
        per_device_eval_batch_size=1,
        gradient_accumulation_steps=8,
        gradient_checkpointing=False,
        learning_rate=2e-5,
        warmup_steps=100,
        lr_scheduler_type="cosine",
        optim="adamw_torch",
        adam_beta2=0.999,
        weight_decay=0.01,
        max_grad_norm=1.0,
        bf16=True,
        tf32=True,
        dataloader_num_workers=0,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=3,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        remove_unused_columns=False,
        label_names=["labels"],
        report_to="wandb",
        run_name=run_name,
        dataset_text_field=None,
        packing=False,
    )
'''

CONFIG_BEFORE = CONFIG_HEAD + OLD_SFT_CONFIG + PRINT_CONFIG + OLD_ASSISTANT_ONLY

DEPRECATED_SECTION = '''# =============================================================================
# DEPRECATED ALIASES
# =============================================================================
# Old names kept importable for backwards compatibility; each one warns.
# =============================================================================

def _config_from_deprecated_call(old_name: str, variant: str, kwargs: dict) -> SFTConfig:
    """Build what a deprecated factory built, through create_training_config().

    Keywords that create_training_config() takes are forwarded to it; any other keyword
    (output_dir, run_name, label_names, ...) is set on the config it returns.
    """
    # stacklevel=3 skips this function and the alias, so the warning points at the caller.
    warnings.warn(
        f"{old_name}() is deprecated; use create_training_config(variant={variant!r}, ...) instead",
        DeprecationWarning,
        stacklevel=3,
    )
    accepted = set(inspect.signature(create_training_config).parameters) - {"variant"}
    forwarded = {key: value for key, value in kwargs.items() if key in accepted}
    extra = {key: value for key, value in kwargs.items() if key not in accepted}
    config = create_training_config(variant=variant, **forwarded)
    settable = {field.name for field in dataclasses.fields(config) if field.init}
    rejected = sorted(set(extra) - settable)
    if rejected:
        raise TypeError(
            f"{old_name}() got {', '.join(rejected)}, which SFTConfig does not accept; "
            f"call create_training_config(variant={variant!r}, ...) and set the remaining fields another way"
        )
    return dataclasses.replace(config, **extra) if extra else config


def create_sft_config(**kwargs) -> SFTConfig:
    """Deprecated: use ``create_training_config(variant="v1-all-tokens", ...)`` instead."""
    return _config_from_deprecated_call(
        "create_sft_config",
        "v1-all-tokens",
        kwargs,
    )


def create_assistant_only_training_config(**kwargs) -> SFTConfig:
    """Deprecated: use ``create_training_config(variant="v2-assistant-only", ...)`` instead."""
    return _config_from_deprecated_call(
        "create_assistant_only_training_config",
        "v2-assistant-only",
        {"eval_steps": 100, "save_steps": 100, **kwargs},
    )
'''

CONFIG_AFTER = (
    CONFIG_HEAD.replace("``create_sft_config``", "``create_training_config``")
    .replace("``create_assistant_only_training_config``", "``create_training_config``")
    .replace("import create_sft_config,", "import create_training_config,")
    .replace("= create_sft_config(", '= create_training_config(variant="v1-all-tokens",')
    .replace("from trl import SFTConfig\n", "from trl import SFTConfig\nimport dataclasses\nimport inspect\nimport warnings\n")
    + plan_function(ROOT)
    + "\n\n"
    + PRINT_CONFIG
    + DEPRECATED_SECTION
)

INIT_BEFORE = '''"""Training configuration helpers."""

from src.training.config import create_sft_config, create_assistant_only_training_config, print_training_config

__all__ = [
    "create_sft_config",
    "create_assistant_only_training_config",
    "print_training_config",
]
'''

INIT_AFTER = '''"""Training configuration helpers."""

from src.training.config import create_training_config, print_training_config
import importlib

__all__ = [
    "create_training_config",
    "print_training_config",
]


# =============================================================================
# DEPRECATED ALIASES
# =============================================================================
# Old names kept importable for backwards compatibility; each one warns.
# =============================================================================

def __getattr__(name: str):
    """Keep the deprecated factories importable from the package (calling one warns)."""
    if name in ("create_sft_config", "create_assistant_only_training_config"):
        return getattr(importlib.import_module("src.training.config"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
'''

TRAIN_BEFORE = '''import sys

from src.training.config import create_sft_config, print_training_config  # noqa: E402


def main(args, report_to):
    # 3. Training configuration
    training_args = create_sft_config(
        output_dir=args.output_dir,
        logging_dir=args.logging_dir,
        run_name=args.run_name,
        num_train_epochs=args.epochs,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        eval_steps=50,
        save_steps=300,
        report_to=report_to,
        seed=42,
    )
    print_training_config(training_args)
'''

# The caller chose output_dir, logging_dir, run_name and report_to itself (from its command line):
# they stay as passed, on top of what the new function builds.
TRAIN_AFTER = '''import sys

from src.training.config import create_training_config, print_training_config  # noqa: E402
import dataclasses


def main(args, report_to):
    # 3. Training configuration
    training_args = dataclasses.replace(
        create_training_config(
            variant="v1-all-tokens",
            num_train_epochs=args.epochs,
            learning_rate=args.learning_rate,
            max_length=args.max_length,
        ),
        output_dir=args.output_dir,
        logging_dir=args.logging_dir,
        run_name=args.run_name,
        report_to=report_to,
    )
    print_training_config(training_args)
'''

REPOSITORY = {CONFIG: CONFIG_BEFORE, INIT: INIT_BEFORE, TRAIN: TRAIN_BEFORE}


# Nothing the caller passed is lost, so the caller adds no behaviour change.
TRAIN_CHANGES: list[BehaviourChange] = []


def alias_change(old_name, field, before, after, impact, reason):
    return BehaviourChange(CONFIG, f"{CONFIG} {old_name}() (deprecated alias)", field, before, after, impact, reason)


DERIVED = "derived from the variant"
SETS_IT = "not set before (SFTConfig default); create_training_config() sets it"
V1, V2 = "create_sft_config", "create_assistant_only_training_config"
# What each old name builds now when called without arguments, against its old def.
ALIAS_CHANGES = [
    alias_change(V1, "output_dir", f'"{ROOT}/qwen2vl-nutrition-detection-lora"',
                 f'"{ROOT}/qwen2vl-nutrition-detection-v1-all-tokens"', Impact.INTENDED, DERIVED),
    alias_change(V1, "logging_dir", f'"{ROOT}/logs"', f'"{ROOT}/logs-v1-all-tokens"', Impact.INTENDED, DERIVED),
    alias_change(V1, "run_name", '"qwen2vl-nutrition-detection"', '"qwen2vl-v1-all-tokens"', Impact.INTENDED, DERIVED),
    alias_change(V2, "output_dir", f'"{ROOT}/qwen2vl-nutrition-detection-lora-assistantonly"',
                 f'"{ROOT}/qwen2vl-nutrition-detection-v2-assistant-only"', Impact.INTENDED, DERIVED),
    alias_change(V2, "logging_dir", f'"{ROOT}/logs-assistantonly"', f'"{ROOT}/logs-v2-assistant-only"',
                 Impact.INTENDED, DERIVED),
    alias_change(V2, "label_names", '["labels"]', "None", Impact.UNINTENDED,
                 "create_training_config() cannot set label_names; SFTConfig's default applies"),
    alias_change(V2, "run_name", '"qwen2vl-7b-assistant-only"', '"qwen2vl-v2-assistant-only"', Impact.INTENDED,
                 DERIVED),
    alias_change(V2, "dataset_text_field", "None", '""', Impact.UNINTENDED,
                 'create_training_config() always sets dataset_text_field=""'),
    alias_change(V2, "max_length", "1024", "2048", Impact.UNINTENDED, SETS_IT),
    alias_change(V2, "dataset_kwargs", "None", '{"skip_prepare_dataset": True}', Impact.UNINTENDED, SETS_IT),
]


def messages(report, level=None):
    return [n.message for n in report.notes if level is None or n.level is level]


def test_config_module_package_and_caller_golden(tmp_path):
    changed, report = run_codemod(tmp_path, "consolidate_config_module", REPOSITORY)
    assert changed == {CONFIG: CONFIG_AFTER, INIT: INIT_AFTER, TRAIN: TRAIN_AFTER}
    assert report.behaviour_changes == ALIAS_CHANGES + TRAIN_CHANGES
    warnings_ = messages(report, Level.WARNING)
    assert any(
        w.startswith('line 10: docstring example `training_args = create_training_config(variant="v1-all-tokens",`')
        for w in warnings_
    )
    assert any("SFTConfig no longer accepts logging_dir" in w for w in warnings_)
    for text in changed.values():
        compile(text, "<migrated>", "exec")


def test_second_run_changes_nothing(tmp_path):
    first, _ = run_codemod(tmp_path / "a", "consolidate_config_module", REPOSITORY)
    second, report = run_codemod(tmp_path / "b", "consolidate_config_module", {**REPOSITORY, **first})
    assert second == {}
    assert report.behaviour_changes == [] and not messages(report, Level.WARNING)


def test_half_migrated_repository_is_completed(tmp_path):
    # The config module and package were migrated; a caller of the v2 factory was not.
    first, _ = run_codemod(tmp_path / "a", "consolidate_config_module", REPOSITORY)
    caller = dedent(
        """
        from src.training import create_assistant_only_training_config

        args_v2 = create_assistant_only_training_config(num_train_epochs=1)
        """
    )
    files = {**REPOSITORY, **first, "src/experiments.py": caller}
    changed, report = run_codemod(tmp_path / "b", "consolidate_config_module", files)
    assert changed == {
        "src/experiments.py": dedent(
            """
            from src.training import create_training_config

            args_v2 = create_training_config(
                variant="v2-assistant-only",
                num_train_epochs=1,
                eval_steps=100,
                save_steps=100,
            )
            """
        )
    }
    # The alias already builds what the new call builds (its changes were reported when
    # the config module was migrated), so the call itself changes nothing.
    assert report.behaviour_changes == []


def test_v2_caller_keeps_the_old_factorys_own_defaults(tmp_path):
    caller = dedent(
        """
        import src.training.config as cfg
        from src.training import create_assistant_only_training_config as make_v2

        v2 = make_v2(num_train_epochs=1)
        v1 = cfg.create_sft_config(learning_rate=1e-4)
        """
    )
    changed, report = run_codemod(tmp_path, "consolidate_config_module", {**REPOSITORY, "src/experiments.py": caller})
    assert changed["src/experiments.py"] == dedent(
        """
        import src.training.config as cfg
        from src.training import create_training_config as make_v2

        v2 = make_v2(
            variant="v2-assistant-only",
            num_train_epochs=1,
            eval_steps=100,
            save_steps=100,
        )
        v1 = cfg.create_training_config(
            variant="v1-all-tokens",
            learning_rate=1e-4,
        )
        """
    )
    v2 = {c.field: (c.before, c.after, c.impact) for c in report.behaviour_changes if "make_v2" in c.block or
          "create_assistant_only_training_config" in c.block}
    assert v2["label_names"] == ('["labels"]', "None", Impact.UNINTENDED)
    assert v2["dataset_text_field"] == ("None", '""', Impact.UNINTENDED)
    assert v2["max_length"] == ("1024", "2048", Impact.UNINTENDED)
    assert v2["dataset_kwargs"] == ("None", '{"skip_prepare_dataset": True}', Impact.UNINTENDED)
    assert "eval_steps" not in v2 and "save_steps" not in v2


@pytest.mark.parametrize(
    ("call", "expected"),
    [("create_sft_config(args.output_dir)", "positionally"), ("create_sft_config(**options)", "`**options`")],
)
def test_positional_or_splat_caller_is_refused(tmp_path, call, expected):
    caller = f"from src.training.config import create_sft_config\n\nconfig = {call}\n"
    with pytest.raises(Refusal) as caught:
        run_codemod(tmp_path, "consolidate_config_module", {**REPOSITORY, "src/run.py": caller})
    assert caught.value.path == "src/run.py" and caught.value.line == 3
    assert expected in caught.value.message and "create_sft_config(...) cannot be migrated" in caught.value.message


def test_relative_import_in_the_package_and_a_non_call_use(tmp_path):
    init = "from .config import create_sft_config\n\n__all__ = ['create_sft_config']\n"
    caller = dedent(
        """
        from src.training.config import create_sft_config

        FACTORIES = {"v1": create_sft_config}
        args = create_sft_config(seed=1)
        """
    )
    changed, report = run_codemod(
        tmp_path, "consolidate_config_module", {**REPOSITORY, INIT: init, "src/registry.py": caller}
    )
    assert changed[INIT].startswith(
        "from .config import create_training_config\nimport importlib\n\n__all__ = ['create_training_config']\n"
    )
    assert 'importlib.import_module(".config", __name__)' in changed[INIT]
    assert changed["src/registry.py"].startswith(
        "from src.training.config import create_training_config, create_sft_config\n"
    )
    assert "args = create_training_config(\n" in changed["src/registry.py"]
    assert any("create_sft_config is used other than by a call" in w for w in messages(report, Level.WARNING))


@pytest.mark.parametrize("star", ["from src.training.config import *", "from src.training import *"])
def test_a_call_through_a_star_import_is_migrated(tmp_path, star):
    """``from m import *`` binds the old factory as surely as naming it: its calls are migrated like any other."""
    caller = f"{star}\n\nargs = create_sft_config(seed=1)\n"
    shadowed = f"{star}\n\n\ndef create_sft_config(seed):\n    return seed\n\n\nargs = create_sft_config(seed=1)\n"
    changed, _ = run_codemod(
        tmp_path, "consolidate_config_module", {**REPOSITORY, "scripts/star.py": caller, "scripts/own.py": shadowed}
    )
    assert changed["scripts/star.py"].startswith(f"{star}\n\nargs = create_training_config(\n")
    assert "scripts/own.py" not in changed, "a module's own create_sft_config is not the package's"


def _notebook(*cells: tuple[str, str]) -> str:
    made = [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
             **({"outputs": [], "execution_count": None} if kind == "code" else {})} for kind, source in cells]
    return json.dumps({"cells": made, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def test_calls_in_an_unpaired_notebook_are_migrated_like_a_scripts(tmp_path):
    """The cells share one namespace: cell 1 calls what cell 0 imports; magics and trailing comments stay."""
    notebook = _notebook(
        ("code", "from src.training.config import create_sft_config\n%load_ext autoreload"),
        ("code", "args = create_sft_config(seed=1)\n# tuned by hand"),
        ("code", "%time quick = create_sft_config()"),
        ("code", "broken = create_sft_config(\n"),
    )
    changed, report = run_codemod(tmp_path, "consolidate_config_module", {**REPOSITORY, "nb.ipynb": notebook})
    cells = ["".join(cell["source"]) for cell in json.loads(changed["nb.ipynb"])["cells"]]
    # The magic in cell 2 still calls the old name: its import stays, beside the new one.
    assert cells[0] == "from src.training.config import create_training_config, create_sft_config\n%load_ext autoreload"
    assert cells[1].startswith("args = create_training_config(\n    variant=\"v1-all-tokens\",\n")
    assert cells[1].endswith(")\n# tuned by hand")
    assert cells[2] == "%time quick = create_sft_config()" and cells[3] == "broken = create_sft_config(\n"
    warned = messages(report, Level.WARNING)
    assert any("cell 2: '%time quick = create_sft_config()' is an IPython magic" in w for w in warned), warned
    assert any("cell 3 does not parse" in w for w in warned), warned
    # Lines counted inside the cell, so the cell is named with them.
    assert {c.block for c in report.behaviour_changes if c.path == "nb.ipynb"} == {"nb.ipynb cell 1 line 1 create_sft_config(...)"}


def test_not_applicable_without_the_config_module(tmp_path):
    changed, report = run_codemod(tmp_path, "consolidate_config_module", {TRAIN: TRAIN_BEFORE})
    assert changed == {} and report.not_applicable == {"6"}


# ---------------------------------------------------------------------- behaviour with real TRL
def _migrated_config_namespace(tmp_path) -> types.ModuleType:
    """The migrated config.py, run with TRL's real SFTConfig behind a thin adapter.

    The plan's function body passes ``logging_dir`` (TRL 1.16 rejects it) and
    ``tf32=True`` (rejected without a CUDA GPU); that incompatibility is the
    plan's, reported by the codemod, so the adapter drops one and turns off the
    other (and bf16, which a CPU cannot do either) before the real class runs.
    """
    trl = pytest.importorskip("trl")
    changed, _ = run_codemod(tmp_path, "consolidate_config_module", {CONFIG: CONFIG_BEFORE})

    def adapted_sft_config(**kwargs):
        kwargs.pop("logging_dir", None)
        kwargs.update(tf32=False, bf16=False, report_to="none")
        return trl.SFTConfig(**kwargs)

    module = types.ModuleType("migrated_config")
    source = changed[CONFIG].replace("from trl import SFTConfig\n", "")
    module.SFTConfig = adapted_sft_config
    exec(compile(source, "migrated_config.py", "exec"), module.__dict__)  # noqa: S102
    return module


def test_deprecated_aliases_work_with_real_trl(tmp_path):
    module = _migrated_config_namespace(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = module.create_sft_config(output_dir=str(tmp_path / "x"), num_train_epochs=1)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1 and "create_training_config(variant='v1-all-tokens'" in str(deprecations[0].message)
    assert deprecations[0].filename == __file__  # stacklevel points at the caller
    assert config.output_dir == str(tmp_path / "x") and config.num_train_epochs == 1
    assert config.run_name == "qwen2vl-v1-all-tokens"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v2 = module.create_assistant_only_training_config(label_names=["labels"])
    assert (v2.eval_steps, v2.save_steps, v2.label_names) == (100, 100, ["labels"])
    assert dataclasses.is_dataclass(v2)


def test_an_argument_sftconfig_rejects_names_the_replacement(tmp_path):
    module = _migrated_config_namespace(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError) as caught:
            module.create_sft_config(output_dir="x", logging_dir="y")
    message = str(caught.value)
    assert "create_sft_config() got logging_dir" in message
    assert "create_training_config(variant='v1-all-tokens', ...)" in message


def test_a_use_of_an_old_factory_on_import_is_refused_as_the_alias_comes_last(tmp_path):
    """`QUICK = create_sft_config` at module level would be a NameError once the alias is defined at the end."""
    config = REPOSITORY["src/training/config.py"] + "\nQUICK_FACTORY = create_sft_config\n"
    line = config.splitlines().index("QUICK_FACTORY = create_sft_config") + 1
    with pytest.raises(Refusal) as caught:
        run_codemod(tmp_path, "consolidate_config_module", {**REPOSITORY, "src/training/config.py": config})
    assert (caught.value.path, caught.value.line) == ("src/training/config.py", line)
    assert "uses create_sft_config while the module is imported" in caught.value.message
    # Inside a function it runs after the import, when the alias exists: migrated as before.
    inside = REPOSITORY["src/training/config.py"] + "\n\ndef quick_factory():\n    return create_sft_config\n"
    changed, _ = run_codemod(tmp_path / "inside", "consolidate_config_module",
                             {**REPOSITORY, "src/training/config.py": inside})
    assert "def create_sft_config(**kwargs)" in changed["src/training/config.py"]
