"""`refactor verify`: stale names, parsing, package imports and the smoke training on the tiny kit."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.core.recipe import load_recipe
from codemods.verify.behaviour import BEHAVIOUR
from codemods.verify.checks import check_smoke, run_verification
from codemods.verify.health import HEALTH, check_code_health
from codemods.verify.report import COMPAT, IMPORTS, PARITY, PASSED_WITH_ADAPTATIONS, SMOKE, STALE
from codemods.verify.smoke_parent import build_spec, expected_run_name
from codemods.verify.user_code import Adaptation, load_main_definitions, make_config_adapter
from tests.test_config_function import plan_function

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
MAIN_FILE = "fine_tuning_vlm_for_object_detection_trl.py"

# The plan's renames, applied textually to build a hand-made migrated fixture.
CLASS_RENAMES = {
    "collate_fn_fixed_fixed1": "FlashAttentionPatchCollator",
    "collate_fn_fixed_1": "AllTokensCollator",
    "collate_fn_fixed_3": "AssistantOnlyCollator",
    "collate_fn_v3": "collate_fn_v2",
    "training_args_v3": "training_args_v2",
}

# The plan's create_training_config (task 2), with the output root made relative.
PLAN_CONFIG_FUNCTION = "\n" + plan_function("./vlm_outputs")

MIGRATED_CONFIG_MODULE = (
    '"""Training configuration for Qwen2-VL nutrition table detection."""\n\n'
    "from trl import SFTConfig\n\n" + PLAN_CONFIG_FUNCTION
)

MIGRATED_TRAINING_INIT = '''"""Training configuration helpers."""

from src.training.config import create_training_config

__all__ = ["create_training_config"]
'''

MIGRATED_DATA_INIT = '''"""Dataset formatting and data collators."""

from src.data.collators import AllTokensCollator, AssistantOnlyCollator, FlashAttentionPatchCollator

__all__ = ["AllTokensCollator", "AssistantOnlyCollator", "FlashAttentionPatchCollator"]
'''


def rename_classes(text: str) -> str:
    """The renames by hand, and the relabel of prose that names the run (``the v3 loss`` -> ``the v2 loss``)."""
    for old, new in CLASS_RENAMES.items():
        text = text.replace(old, new)
    recipe = load_recipe()
    prose = re.compile("|".join(recipe.word_guards.values()))
    return prose.sub(lambda match: recipe.prose_relabels[match.group()], text)


def build_migrated_fixture(destination: Path) -> Path:
    """A hand-made migrated repository: target_repo/src with the plan's config function and renames."""
    shutil.copytree(TARGET_REPO / "src", destination / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for path in (destination / "src").rglob("*.py"):
        path.write_text(rename_classes(path.read_text(encoding="utf-8")), encoding="utf-8")
    (destination / "src/training/config.py").write_text(MIGRATED_CONFIG_MODULE, encoding="utf-8")
    (destination / "src/training/__init__.py").write_text(MIGRATED_TRAINING_INIT, encoding="utf-8")
    (destination / "src/data/__init__.py").write_text(MIGRATED_DATA_INIT, encoding="utf-8")
    return destination


@pytest.fixture(scope="module")
def recipe():
    return load_recipe()


@pytest.fixture(scope="module")
def migrated_repo(tmp_path_factory) -> Path:
    return build_migrated_fixture(tmp_path_factory.mktemp("migrated"))


def _no_traceback(text: str) -> None:
    assert "Traceback (most recent call last)" not in text


# ---------------------------------------------------------------------------------------------
# fast pieces: recipe data, the adapter, the main-file loader
# ---------------------------------------------------------------------------------------------


def test_recipe_maps_each_variant_to_a_collator_and_a_run_name(recipe):
    assert [(b.variant, b.collator) for b in recipe.config_blocks] == [
        ("v1-all-tokens", "AllTokensCollator"),
        ("v2-assistant-only", "AssistantOnlyCollator"),
    ]
    assert expected_run_name(recipe, "v1-all-tokens") == "qwen2vl-v1-all-tokens"
    assert expected_run_name(recipe, "v2-assistant-only") == "qwen2vl-v2-assistant-only"


def test_spec_prefers_the_src_package_and_falls_back_to_the_main_file(recipe, migrated_repo, tmp_path):
    spec = build_spec(migrated_repo, recipe, "cpu", 2)
    assert (spec.config_source.kind, spec.config_source.module) == ("module", "src.training.config")
    assert (spec.collator_source.kind, spec.collator_source.module) == ("module", "src.data.collators")
    main = tmp_path / "notebook.py"
    main.write_text("x = 1\n", encoding="utf-8")
    single = build_spec(main, recipe, "cpu", 2)
    assert single.config_source.kind == single.collator_source.kind == "main"
    assert single.config_source.path == "notebook.py"


def test_a_variant_without_a_collator_is_refused_before_anything_runs(recipe, migrated_repo):
    blocks = (dataclasses.replace(recipe.config_blocks[0], collator=None),) + recipe.config_blocks[1:]
    smoke = check_smoke(migrated_repo, dataclasses.replace(recipe, config_blocks=blocks), device="cpu", steps=1)
    assert not smoke.passed
    assert "'v1-all-tokens' name no collator" in smoke.detail and 'collator = "ClassName"' in smoke.detail


def test_adapter_drops_refused_keywords_and_cuda_only_flags():
    class Strict:
        def __init__(self, output_dir, tf32=None, bf16=None):
            if tf32:
                raise ValueError("--tf32 requires Ampere or a newer GPU arch, cuda>=11 and torch>=1.7")
            if bf16:
                raise ValueError("Your setup doesn't support bf16/gpu.")
            self.output_dir, self.tf32, self.bf16 = output_dir, tf32, bf16

    adaptations: list[Adaptation] = []
    adapted = make_config_adapter(Strict, adaptations)
    built = adapted(output_dir="o", logging_dir="logs", tf32=True, bf16=True)
    assert isinstance(built, Strict) and (built.tf32, built.bf16) == (False, False)
    assert [(a.field, a.action) for a in adaptations] == [
        ("logging_dir", "dropped"),
        ("tf32", "set to False"),
        ("bf16", "set to False"),
    ]
    assert "unexpected keyword argument 'logging_dir'" in adaptations[0].error
    with pytest.raises(TypeError):  # a positional mistake is not papered over
        adapted("o", "extra", "too", "many")

    class Unrelated:
        def __init__(self, **kwargs):
            raise ValueError("some other problem with tf32")

    with pytest.raises(ValueError, match="some other problem"):  # tf32 is not set: nothing to adapt
        make_config_adapter(Unrelated, [])(output_dir="o", tf32=False)


def test_main_file_loader_runs_imports_and_definitions_only(tmp_path):
    main = tmp_path / "notebook.py"
    main.write_text(
        textwrap.dedent(
            """
            # %%
            import json
            from a_package_that_is_not_installed import display
            PLACEHOLDER = "IMAGE_PLACEHOLDER"
            raise SystemExit("a top-level cell must not run")

            # %%
            def helper():
                return json.dumps(PLACEHOLDER)

            class Collator:
                def __init__(self, processor, model):
                    self.value = helper()

            collator = Collator(None, None)
            """
        ),
        encoding="utf-8",
    )
    loaded = load_main_definitions(main)
    assert loaded.namespace["Collator"](None, None).value == '"IMAGE_PLACEHOLDER"'
    assert "collator" not in loaded.namespace
    assert any("a_package_that_is_not_installed" in note for note in loaded.notes)


# ---------------------------------------------------------------------------------------------
# no smoke: stale names, parsing, package imports
# ---------------------------------------------------------------------------------------------


def test_unmigrated_target_repo_fails_with_clear_messages(recipe):
    outcome = run_verification(TARGET_REPO, recipe, smoke=True, device="cpu", steps=1, progress=None)
    assert not outcome.passed
    stale = outcome.check(STALE)
    assert not stale.passed and stale.data["findings"] > 0
    assert str(TARGET_REPO) not in stale.detail and "collate_fn_fixed_1" in stale.detail
    assert outcome.check(HEALTH).passed
    imports = outcome.check(IMPORTS)
    assert not imports.passed
    assert "src/training/config.py defines no create_training_config" in imports.detail
    assert "AllTokensCollator" in imports.detail
    smoke = outcome.check(SMOKE)
    assert not smoke.passed
    assert "defines no create_training_config() function" in smoke.detail
    assert "refactor apply" in smoke.detail
    _no_traceback(outcome.to_json())


def test_a_collator_missing_from_the_package_is_a_clear_failure(recipe, migrated_repo):
    blocks = tuple(dataclasses.replace(b, collator="MissingCollator") if i == 1 else b for i, b in enumerate(recipe.config_blocks))
    broken = dataclasses.replace(recipe, config_blocks=blocks)
    outcome = run_verification(migrated_repo, broken, smoke=True, device="cpu", steps=1, progress=None)
    assert not outcome.passed
    assert outcome.check(STALE).passed and outcome.check(HEALTH).passed
    assert "src/data/collators.py defines no MissingCollator" in outcome.check(IMPORTS).detail
    smoke = outcome.check(SMOKE)
    assert not smoke.passed
    assert "src/data/collators.py defines no MissingCollator" in smoke.detail
    _no_traceback(smoke.detail)


def test_a_syntax_error_fails_the_code_health_check(recipe, tmp_path):
    repo = build_migrated_fixture(tmp_path)
    (repo / "src/utils/broken.py").write_text("def oops(:\n    pass\n", encoding="utf-8")
    health = check_code_health(repo, recipe)
    assert not health.passed and "src/utils/broken.py:1: does not compile" in health.detail
    assert health.data["python_files"] == 11


def test_cuda_without_a_gpu_is_a_failed_check(recipe, migrated_repo):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    smoke = check_smoke(migrated_repo, recipe, device="cuda", steps=1)
    assert not smoke.passed
    assert "--device cuda was requested" in smoke.detail and "torch.cuda.is_available() is False" in smoke.detail


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def test_cli_verify_exit_codes_and_report(migrated_repo, tmp_path):
    from codemods.cli import app

    runner = CliRunner()
    report = tmp_path / "verify.json"
    # The plan's logging_dir= is refused by the installed TRL: verify fails unless --adapt, then it is adapted.
    refused = runner.invoke(app, ["verify", str(migrated_repo), "--no-smoke"])
    assert refused.exit_code == 1, refused.output
    assert "Verification failed: stack compatibility" in " ".join(refused.output.split())
    ok = runner.invoke(app, ["verify", str(migrated_repo), "--no-smoke", "--adapt", "--report", str(report)])
    assert ok.exit_code == 0, ok.output
    assert "Passed with adaptations" in ok.output and "every check passed" not in ok.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["passed"] is False and data["outcome"] == "passed with adaptations"
    assert data["format"] == "vlm-refactor.verify/1"
    assert [c["name"] for c in data["checks"]] == [STALE, HEALTH, BEHAVIOUR, IMPORTS, COMPAT, SMOKE, PARITY]
    assert {"torch", "transformers", "trl", "peft"} <= set(data["versions"])
    assert set(data["checks"][0]) == {"name", "status", "passed", "detail", "duration_s", "data"}
    assert [c["status"] for c in data["checks"]] == ["passed", "passed", "skipped", "passed", "adapted", "skipped", "skipped"]
    assert data["checks"][3]["data"]["modules"]["src.data.collators"] == [
        "AllTokensCollator",
        "AssistantOnlyCollator",
        "FlashAttentionPatchCollator",
    ]

    bad = runner.invoke(app, ["verify", str(TARGET_REPO), "--no-smoke"])
    assert bad.exit_code == 1, bad.output
    assert "stale names" in bad.output


def test_cli_verify_stale_section_is_refactor_check_on_a_real_apply(tmp_path):
    """Stored notebook outputs still name the old collators after apply: warnings, as in `refactor check`."""
    from codemods.cli import app
    from tests.test_apply_target_repo import make_repo

    runner = CliRunner()
    unmigrated = make_repo(tmp_path / "before")
    report = tmp_path / "before.json"
    before = runner.invoke(app, ["verify", str(unmigrated), "--no-smoke", "--report", str(report)])
    assert before.exit_code == 1, before.output
    stale = json.loads(report.read_text(encoding="utf-8"))["checks"][0]
    assert stale["name"] == STALE and stale["status"] == "failed"
    assert stale["data"]["exit_code"] == 1
    assert any(" cell " in location for location in stale["data"]["locations"]), stale["data"]["locations"]

    repo = make_repo(tmp_path / "repo")
    applied = runner.invoke(app, ["apply", str(repo), "--no-diff"])
    assert applied.exit_code == 0, applied.output
    check = runner.invoke(app, ["check", str(repo), "--format", "json"])
    assert check.exit_code == 0, check.output
    outputs = [f for f in json.loads(check.stdout) if f["kind"] == "notebook output"]
    assert outputs, "the applied copy's notebook outputs were expected to still mention old names"

    report = tmp_path / "after.json"
    after = runner.invoke(app, ["verify", str(repo), "--no-smoke", "--report", str(report)])
    data = json.loads(report.read_text(encoding="utf-8"))
    stale = data["checks"][0]
    assert stale["status"] == "passed", after.output
    assert stale["data"]["exit_code"] == 0 and stale["data"]["warnings"] == len(outputs)
    first = outputs[0]
    assert f"cell {first['cell']} {first['line']}:{first['column']} {first['old_name']}" in stale["detail"]
    assert any(w["field"] == "notebook outputs" for w in data["warnings"])
    assert any("run the repository's own code" in notice for notice in data["notices"])
    assert "run the repository's own code" in after.output


def test_a_byte_order_mark_changes_no_verdict(tmp_path):
    """A BOM in the main file and the config module once made config behaviour "not compared" and the run pass."""
    from codemods.cli import app
    from tests.test_apply_target_repo import make_repo

    runner = CliRunner()
    verdicts = {}
    for name in ("plain", "bom"):
        repo = make_repo(tmp_path / name)
        if name == "bom":
            for relative in ("fine_tuning_vlm_for_object_detection_trl.py", "src/training/config.py"):
                path = repo / relative
                path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        applied = runner.invoke(app, ["apply", str(repo), "--no-diff", "--allow-dirty"])
        assert applied.exit_code == 0, applied.output
        report = tmp_path / f"{name}.json"
        result = runner.invoke(app, ["verify", str(repo), "--no-smoke", "--adapt", "--report", str(report)])
        checks = json.loads(report.read_text(encoding="utf-8"))["checks"]
        verdicts[name] = (result.exit_code, [(c["name"], c["status"]) for c in checks])
    assert verdicts["bom"] == verdicts["plain"], verdicts
    assert (BEHAVIOUR, "failed") in verdicts["plain"][1]


def test_adapt_without_a_smoke_run_claims_no_training(tmp_path):
    """With --no-smoke nothing trains: an adaptation is what a run would need, and the verdict says so."""
    from codemods.cli import app
    from tests.test_apply_target_repo import make_repo

    runner = CliRunner()
    repo = make_repo(tmp_path / "repo")
    assert runner.invoke(app, ["apply", str(repo), "--no-diff"]).exit_code == 0
    result = runner.invoke(app, ["verify", str(repo), "--no-smoke", "--adapt"])
    text = " ".join(result.output.split())
    assert "a smoke run would train with" in text and "none ran" in text, text[-3000:]
    assert "the smoke run trained with" not in text and "it trained only as adapted" not in text


# ---------------------------------------------------------------------------------------------
# smoke training (real TRL SFTTrainer, tiny kit, W&B offline)
# ---------------------------------------------------------------------------------------------


@pytest.mark.training
def test_migrated_fixture_trains_every_variant_with_the_plan_run_names(recipe, migrated_repo):
    events: list[dict] = []
    outcome = run_verification(
        migrated_repo, recipe, smoke=True, device="cpu", steps=3, progress=events.append, adapt=True
    )
    assert outcome.result == PASSED_WITH_ADAPTATIONS and outcome.exit_code == 0, outcome.to_json()
    assert outcome.check(SMOKE).passed

    compat = outcome.check(COMPAT)
    by_field = {f["field"]: f for f in compat.data["findings"]}
    assert {"logging_dir", "tf32"} <= set(by_field)
    assert "trl 1.16" in by_field["logging_dir"]["message"] and "drop logging_dir=" in by_field["logging_dir"]["message"]
    assert "tf32=torch.cuda.is_available()" in by_field["tf32"]["message"]
    assert by_field["logging_dir"]["variants"] == ["v1-all-tokens", "v2-assistant-only"]

    records = {r["variant"]: r for r in outcome.training["variants"]}
    assert set(records) == {"v1-all-tokens", "v2-assistant-only"}
    for variant, record in records.items():
        assert record["passed"], record
        assert record["steps"] == 3 and len(record["losses"]) == 3
        assert all(math.isfinite(loss) for loss in record["losses"])
        assert record["trainable_params"] > 0
        assert record["device"] == "cpu"
        expected = f"qwen2vl-{variant}"
        assert record["wandb_run_name"] == record["config_run_name"] == expected
        assert record["wandb_offline_run_name"] == expected
    assert records["v1-all-tokens"]["collator"] == "AllTokensCollator"
    assert records["v2-assistant-only"]["collator"] == "AssistantOnlyCollator"

    done = [e for e in events if e["event"] == "variant-done"]
    assert [e["record"]["variant"] for e in done] == ["v1-all-tokens", "v2-assistant-only"]
    report = json.loads(outcome.to_json())
    assert report["training"]["import_seconds"] > 0
    assert not list(migrated_repo.rglob("wandb")) and not (migrated_repo / "vlm_outputs").exists()


@pytest.mark.training
def test_a_single_main_file_is_loaded_without_running_its_cells(recipe, tmp_path):
    text = rename_classes((TARGET_REPO / MAIN_FILE).read_text(encoding="utf-8"))
    marker = "training_args = SFTConfig("
    assert marker in text
    text = text.replace(marker, PLAN_CONFIG_FUNCTION + "\n\n" + marker, 1)
    main = tmp_path / MAIN_FILE
    main.write_text(text, encoding="utf-8")
    one_variant = dataclasses.replace(recipe, config_blocks=recipe.config_blocks[1:])
    outcome = run_verification(main, one_variant, smoke=True, device="cpu", steps=1, progress=None, adapt=True)
    assert outcome.check(IMPORTS).skipped
    smoke = outcome.check(SMOKE)
    assert smoke.passed, smoke.detail
    (record,) = outcome.training["variants"]
    assert record["wandb_run_name"] == "qwen2vl-v2-assistant-only"
    assert any("IPython" in note for note in outcome.training["notes"])


@pytest.mark.training
def test_a_real_migration_of_target_repo_verifies_and_trains(recipe, tmp_path):
    from codemods.apply.migration import plan_migration
    from codemods.core.journal import commit

    repo = tmp_path / "repo"
    shutil.copytree(TARGET_REPO, repo, ignore=shutil.ignore_patterns("__pycache__", ".refactor", "wandb"))
    # Keeping behaviour: a plain apply drops v2's label_names, which "config behaviour" rightly fails.
    migration = plan_migration(repo, recipe, None, options={"clear_stale_outputs": True, "keep_behaviour": True})
    assert migration.changes
    commit(migration.context.workspace)

    outcome = run_verification(repo, recipe, smoke=True, device="cpu", steps=2, progress=None, adapt=True)
    assert outcome.result == PASSED_WITH_ADAPTATIONS, outcome.to_json()
    runs = {r["variant"]: r["wandb_run_name"] for r in outcome.training["variants"]}
    assert runs == {"v1-all-tokens": "qwen2vl-v1-all-tokens", "v2-assistant-only": "qwen2vl-v2-assistant-only"}

    # The migrated main file trains too, from its definitions alone.
    first_variant = dataclasses.replace(recipe, config_blocks=recipe.config_blocks[:1])
    smoke = check_smoke(repo / MAIN_FILE, first_variant, device="cpu", steps=1, adapt=True)
    assert smoke.passed, smoke.detail


@pytest.mark.training
def test_a_run_name_that_differs_from_the_plan_fails_the_smoke_check(recipe, tmp_path):
    repo = build_migrated_fixture(tmp_path)
    config = repo / "src/training/config.py"
    text = config.read_text(encoding="utf-8")
    assert 'run_name=f"qwen2vl-{variant}"' in text
    config.write_text(text.replace('run_name=f"qwen2vl-{variant}"', 'run_name=f"qwen2vl-7b-{variant}"'), encoding="utf-8")
    first_variant = dataclasses.replace(recipe, config_blocks=recipe.config_blocks[:1])
    smoke = check_smoke(repo, first_variant, device="cpu", steps=1, adapt=True)
    assert not smoke.passed
    assert "run names disagree" in smoke.detail
    assert "W&B run 'qwen2vl-7b-v1-all-tokens'" in smoke.detail and "recipe 'qwen2vl-v1-all-tokens'" in smoke.detail
