"""`refactor apply --keep-behaviour`: every replaced config keeps its old fields except the plan's intended changes.

Without the flag a replaced block takes the config function's values for fields the plan never
meant to change (the v2 block's ``label_names``, ``dataset_text_field``, ``max_length``,
``dataset_kwargs``). With it those are pinned back: a parameter of the function is passed to
it, any other field is set with ``dataclasses.replace(...)``. The acceptance test builds the old
and the new ``SFTConfig`` of both variants on the installed TRL and compares every field.
"""

from __future__ import annotations

import ast
import dataclasses
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.apply.engines.config_pins import KEEP_BEHAVIOUR
from codemods.apply.migration import TaskState, load_codemod, plan_migration, task_states
from codemods.apply.session import Context, Impact, Level
from codemods.cli import app
from codemods.core.recipe import load_recipe
from codemods.core.workspace import Workspace
from tests.codemod_harness import write_tree
from tests.test_apply_target_repo import TARGET_REPO, make_repo
from tests.test_config_function import plan_function
from tests.test_replace_config_blocks import FUNCTION_CELL, MAIN, ROOT

runner = CliRunner()
KEEP = {KEEP_BEHAVIOUR: True}
CONFIG_MODULE = "src/training/config.py"
V2_SIDE_EFFECTS = {"label_names", "dataset_text_field", "max_length", "dataset_kwargs"}


def run_task(tmp_path: Path, codemod: str, files: dict[str, str], options=None):
    """One codemod on a small tree with run-wide options; the changed files and the report."""
    write_tree(tmp_path, files)
    recipe = load_recipe()
    context = Context(Workspace(tmp_path), recipe, options=dict(options or {}))
    task = next(t for t in recipe.tasks if t.codemod == codemod)
    load_codemod(codemod).run(context, task)
    changed = {c.path: c.after.decode("utf-8") for c in context.workspace.changes() if c.after is not None}
    return changed, context.report


# ---------------------------------------------------------------------- golden: one block
V2_CELL = '''
# %% id="cfgv3"
# SFTConfig for the second run (assistant-only labels)
from trl import SFTConfig

training_args_v3 = SFTConfig(
    output_dir="/data/vlm_outputs/qwen2vl-nutrition-detection-lora-assistantonly",
    logging_dir="/data/vlm_outputs/logs-assistantonly",
    logging_steps=10,
    num_train_epochs=3,
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
    eval_steps=100,  # Fewer trained tokens -> eval less often
    save_strategy="steps",
    save_steps=100,
    save_total_limit=3,
    load_best_model_at_end=True,
    metric_for_best_model="eval_loss",
    greater_is_better=False,
    remove_unused_columns=False,
    label_names=["labels"],  # Tell the Trainer our collator provides labels
    report_to="wandb",
    run_name="qwen2vl-7b-assistant-only",
    dataset_text_field=None,  # Collator handles text + images
    packing=False,
)
print(training_args_v3.output_dir)
'''

# Two blank lines before the cell, as the import removal of task 3 leaves them.
V2_KEPT = '''# %% id="cfgv3"
# SFTConfig for the second run (assistant-only labels)
import dataclasses

training_args_v3 = dataclasses.replace(
    create_training_config(
        variant="v2-assistant-only",
        eval_steps=100,  # Fewer trained tokens -> eval less often
        save_steps=100,
        max_length=1024,  # SFTConfig's default: the old call did not set it
    ),
    label_names=["labels"],  # Tell the Trainer our collator provides labels
    dataset_text_field=None,  # Collator handles text + images
    dataset_kwargs=None,  # SFTConfig's default: the old call did not set it
)
print(training_args_v3.output_dir)
'''


def test_golden_v2_block_keeps_its_behaviour(tmp_path):
    changed, report = run_task(tmp_path, "replace_config_blocks", {MAIN: FUNCTION_CELL + V2_CELL}, KEEP)
    assert changed == {MAIN: FUNCTION_CELL + V2_KEPT}
    impacts = {c.field: c.impact for c in report.behaviour_changes}
    assert impacts == {
        "output_dir": Impact.INTENDED, "logging_dir": Impact.INTENDED, "run_name": Impact.INTENDED,
        **dict.fromkeys(V2_SIDE_EFFECTS, Impact.KEPT),
    }  # fmt: skip
    assert report.unintended_changes == []
    kept = {c.field: (c.before, c.after, c.reason) for c in report.kept_fields}
    assert kept["max_length"] == ("1024", "1024", "pinned by --keep-behaviour; create_training_config() alone gives 2048")
    assert kept["label_names"][:2] == ('["labels"]', '["labels"]')
    notes = [n.message for n in report.notes]
    assert "training_args_v3: kept label_names, dataset_text_field, max_length, dataset_kwargs as before " \
        "(--keep-behaviour)" in notes


def test_without_the_flag_the_block_is_as_before(tmp_path):
    changed, report = run_task(tmp_path, "replace_config_blocks", {MAIN: FUNCTION_CELL + V2_CELL})
    assert "dataclasses" not in changed[MAIN]
    assert {c.field for c in report.unintended_changes} == V2_SIDE_EFFECTS


def test_a_parameter_is_pinned_in_the_call_without_replace(tmp_path):
    """The v1 block without its max_length: only that differs, and the function takes it."""
    source = (TARGET_REPO / MAIN).read_text(encoding="utf-8")
    block = definitions(source, {"training_args"}).replace("    max_length=2048,\n", "")
    changed, report = run_task(tmp_path, "replace_config_blocks", {MAIN: FUNCTION_CELL + "# %%\n" + block + "\n"}, KEEP)
    assert "dataclasses" not in changed[MAIN]
    assert "    max_length=1024,  # SFTConfig's default: the old call did not set it\n)" in changed[MAIN]
    assert [c.field for c in report.kept_fields] == ["max_length"]
    assert report.unintended_changes == []


def test_a_default_the_recipe_does_not_record_cannot_be_kept_and_says_so(tmp_path):
    cell = '# %%\ntraining_args = SFTConfig(output_dir="/data/vlm_outputs/run", label_names=["labels"])\n'
    changed, report = run_task(tmp_path, "replace_config_blocks", {MAIN: FUNCTION_CELL + cell}, KEEP)
    unverifiable = {c.field for c in report.unintended_changes}
    assert "learning_rate" in unverifiable and all(c.impact is Impact.UNVERIFIABLE for c in report.unintended_changes)
    assert "label_names" in {c.field for c in report.kept_fields}
    warnings_ = [n.message for n in report.notes if n.level is Level.WARNING]
    assert any(m.startswith("training_args: --keep-behaviour cannot keep learning_rate, its old value is unknown")
               for m in warnings_)
    assert 'label_names=["labels"],' in changed[MAIN]


def test_plain_python_main_file_imports_dataclasses_with_its_imports(tmp_path):
    source = (
        "import os\nfrom trl import SFTConfig\n\n\n" + plan_function(ROOT) + "\n\n"
        'training_args = SFTConfig(output_dir="/data/vlm_outputs/run", eval_steps=50, save_steps=300, '
        'label_names=["labels"])\n'
    )
    changed, _ = run_task(tmp_path, "replace_config_blocks", {MAIN: source}, KEEP)
    text = changed[MAIN]
    assert text.startswith("import os\nfrom trl import SFTConfig\nimport dataclasses\n\n\ndef create_training_config(")
    assert "training_args = dataclasses.replace(" in text
    compile(text, MAIN, "exec")


def test_an_earlier_import_of_dataclasses_is_reused(tmp_path):
    cell = '# %%\nimport dataclasses\n\n# %%\ntraining_args = SFTConfig(output_dir="/data/x/run", label_names=["l"])\n'
    changed, _ = run_task(tmp_path, "replace_config_blocks", {MAIN: FUNCTION_CELL + cell}, KEEP)
    assert changed[MAIN].count("import dataclasses") == 1


def test_callers_of_an_old_factory_keep_its_behaviour(tmp_path):
    files = {
        CONFIG_MODULE: (TARGET_REPO / CONFIG_MODULE).read_text(encoding="utf-8"),
        "src/__init__.py": "",
        "src/training/__init__.py": "",
        "run.py": "from src.training.config import create_assistant_only_training_config\n\n"
                  "args = create_assistant_only_training_config(num_train_epochs=1)\n",
    }
    changed, report = run_task(tmp_path, "consolidate_config_module", files, KEEP)
    assert report.unintended_changes == []
    run = changed["run.py"]
    assert "import dataclasses" in run
    for keyword in ('label_names=["labels"]', "dataset_text_field=None", "dataset_kwargs=None", "max_length=1024"):
        assert keyword in run, run
    alias = changed[CONFIG_MODULE]
    assert '"label_names": ["labels"],' in alias and '"max_length": 1024,' in alias


def test_a_later_caller_of_a_kept_alias_keeps_what_the_alias_builds(tmp_path):
    """The alias written with --keep-behaviour is read back with its pinned fields (a second run)."""
    files = {CONFIG_MODULE: (TARGET_REPO / CONFIG_MODULE).read_text(encoding="utf-8"), "src/training/__init__.py": ""}
    first, _ = run_task(tmp_path / "a", "consolidate_config_module", files, KEEP)
    caller = "from src.training.config import create_assistant_only_training_config\n\n" \
             "args = create_assistant_only_training_config()\n"
    files = {CONFIG_MODULE: first[CONFIG_MODULE], "src/training/__init__.py": "", "late.py": caller}
    second, report = run_task(tmp_path / "b", "consolidate_config_module", files, KEEP)
    assert set(second) == {"late.py"}
    assert report.unintended_changes == []
    for keyword in ('label_names=["labels"]', "dataset_text_field=None", "dataset_kwargs=None", "max_length=1024"):
        assert keyword in second["late.py"], second["late.py"]


# ---------------------------------------------------------------------- acceptance: real TRL
def lenient_sftconfig():
    """``SFTConfig`` as TRL 1.16 accepts it on any machine, the same for old and new code.

    TRL 1.16 no longer takes ``logging_dir`` (a field both sides set, derived from the variant),
    and refuses ``tf32=True`` without CUDA and ``bf16=True`` on a CPU without ``use_cpu``:
    both sides set them the same way, so adjusting them alike keeps the comparison fair.
    """
    import torch
    from trl import SFTConfig

    def build(**kwargs):
        kwargs.pop("logging_dir", None)
        kwargs["tf32"] = False
        if not torch.cuda.is_available():
            kwargs["use_cpu"] = True
        return SFTConfig(**kwargs)

    return build


def definitions(source: str, names: set[str]) -> str:
    """The top-level ``def``s and assignments of ``names`` in a file, as runnable source."""
    tree = ast.parse(source)
    picked = []
    for node in tree.body:
        bound = {node.name} if isinstance(node, ast.FunctionDef) else (
            {t.id for t in node.targets if isinstance(t, ast.Name)} if isinstance(node, ast.Assign) else set()
        )
        if bound & names:
            picked.append(ast.get_source_segment(source, node))
    assert len(picked) >= len(names), (names, len(picked))
    return "\n\n".join(picked)


def built(source: str, names: set[str], target: str):
    namespace = {"SFTConfig": lenient_sftconfig(), "dataclasses": dataclasses}
    exec(compile(definitions(source, names | {target}), MAIN, "exec"), namespace)  # noqa: S102 - our own fixture code
    return namespace[target]


def fields(config) -> dict[str, object]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def differing(old, new) -> set[str]:
    before, after = fields(old), fields(new)
    return {name for name in before if before[name] != after[name]}


@pytest.fixture(scope="module")
def migrations(tmp_path_factory):
    """The same copy of target_repo planned with and without --keep-behaviour (nothing written)."""
    pytest.importorskip("trl")
    root = make_repo(tmp_path_factory.mktemp("keep") / "repo")
    recipe = load_recipe()
    return {keep: plan_migration(root, recipe, options={KEEP_BEHAVIOUR: keep}) for keep in (False, True)}


def migrated_text(migration, path: str) -> str:
    return next(c.after.decode("utf-8") for c in migration.changes if c.path == path)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize(("old_target", "new_target"), [("training_args", "training_args"),
                                                        ("training_args_v3", "training_args_v2")])
def test_old_and_new_sftconfig_are_equal_except_the_intended_fields(migrations, old_target, new_target):
    recipe = load_recipe()
    function = recipe.config_function.name
    old = built((TARGET_REPO / MAIN).read_text(encoding="utf-8"), set(), old_target)
    intended = set()
    for keep, migration in migrations.items():
        new = built(migrated_text(migration, MAIN), {function}, new_target)
        rows = [c for c in migration.report.behaviour_changes if c.path == MAIN and c.block == old_target]
        intended = {c.field for c in rows if c.impact is Impact.INTENDED}
        if keep:
            assert not [c for c in rows if c.impact in (Impact.UNINTENDED, Impact.UNVERIFIABLE)]
            # logging_dir is intended too, but TRL 1.16 has no such field to compare.
            assert differing(old, new) == intended - {"logging_dir"} == {"output_dir", "run_name"}
        else:
            expected = V2_SIDE_EFFECTS if new_target.endswith("v2") else set()
            assert differing(old, new) - intended == expected
    assert intended == {"output_dir", "logging_dir", "run_name"}


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("old_name", ["create_sft_config", "create_assistant_only_training_config"])
def test_deprecated_aliases_build_what_the_old_factories_built(migrations, old_name):
    def factory(source: str):
        namespace: dict = {"__name__": "config_under_test"}
        exec(compile(source, CONFIG_MODULE, "exec"), namespace)  # noqa: S102 - the fixture repository's module
        namespace["SFTConfig"] = lenient_sftconfig()
        return namespace[old_name]

    old = factory((TARGET_REPO / CONFIG_MODULE).read_text(encoding="utf-8"))()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        new = factory(migrated_text(migrations[True], CONFIG_MODULE))()
    assert differing(old, new) == {"output_dir", "run_name"}


# ---------------------------------------------------------------------- the command line
def test_help_explains_the_flag():
    result = runner.invoke(app, ["apply", "--help"], terminal_width=200)
    assert "--keep-behaviour" in result.output
    assert "dataclasses.replace" in result.output


def test_strict_dry_run_passes_with_the_flag_and_fails_without(tmp_path):
    repo = make_repo(tmp_path / "repo")
    without = runner.invoke(app, ["apply", str(repo), "--dry-run", "--strict", "--no-diff"], catch_exceptions=False)
    assert without.exit_code == 1, without.output
    kept = runner.invoke(app, ["apply", str(repo), "--dry-run", "--keep-behaviour", "--strict", "--no-diff"],
                         catch_exceptions=False, terminal_width=250)
    assert kept.exit_code == 0, kept.output
    assert "kept: pinned by --keep-behaviour" in kept.output
    assert "config fields kept as before (--keep-behaviour)" in kept.output


def test_applied_with_the_flag_a_second_apply_changes_nothing(tmp_path):
    repo = make_repo(tmp_path / "repo")
    first = runner.invoke(app, ["apply", str(repo), "--keep-behaviour", "--strict", "--allow-dirty"],
                          catch_exceptions=False)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["apply", str(repo), "--keep-behaviour", "--dry-run"], catch_exceptions=False)
    assert again.exit_code == 0 and "Nothing to do" in again.output, again.output
    assert all(o.state is not TaskState.PENDING for o in task_states(repo, load_recipe()))
    main = (repo / MAIN).read_text(encoding="utf-8")
    assert main.count("import dataclasses") == 1
    assert "training_args_v2 = dataclasses.replace(" in main
