"""`refactor verify`: what the smoke run proves (gradients, weights, label masking), loss parity with
the code before the migration, the W&B run names of the user's flow, and the report on disk.

One real migration of target_repo (with its apply journal) is verified once for the whole module;
a second, one-variant run plants a collator that stops masking vision tokens.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.core.recipe import load_recipe
from codemods.verify.checks import run_verification
from codemods.verify.parity import NO_BEFORE, ParityCopy, compare_losses, parity_outcome
from codemods.verify.report import PARITY, SMOKE, default_report_path
from codemods.verify.run_names import GENERATED, run_name_warnings, trainer_runs
from tests.test_apply_target_repo import make_repo

MAIN_FILE = "fine_tuning_vlm_for_object_detection_trl.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def recipe():
    return load_recipe()


def migrate(root: Path) -> Path:
    from codemods.cli import app

    make_repo(root)
    applied = CliRunner().invoke(app, ["apply", str(root), "--no-diff"])
    assert applied.exit_code == 0, applied.output
    assert list((root / ".git" / "refactor" / "journal").glob("*.json")), "apply wrote no journal"
    return root


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    return migrate(tmp_path_factory.mktemp("verified") / "repo")


@pytest.fixture(scope="module")
def verified(migrated):
    """`refactor verify --device cpu --steps 3 --adapt` on the migrated copy, with the default report place."""
    from codemods.cli import app

    result = CliRunner().invoke(app, ["verify", str(migrated), "--device", "cpu", "--steps", "3", "--adapt"])
    reports = list((migrated / ".git" / "refactor" / "verify").glob("*/report.json"))
    assert len(reports) == 1, result.output
    return result, reports[0], json.loads(reports[0].read_text(encoding="utf-8"))


def section(report: dict, name: str) -> dict:
    return next(check for check in report["checks"] if check["name"] == name)


# ---------------------------------------------------------------------------------------------
# fast pieces: no training
# ---------------------------------------------------------------------------------------------


def test_losses_must_be_identical_on_cpu_and_within_1e6_relative_on_cuda():
    assert compare_losses([6.0, 5.5], [6.0, 5.5], "cpu")["passed"]
    off = compare_losses([6.0, 5.5 * (1 + 1e-7)], [6.0, 5.5], "cpu")
    assert not off["passed"] and "step 2" in off["detail"] and "identical on cpu" in off["detail"]
    assert compare_losses([6.0, 5.5 * (1 + 1e-7)], [6.0, 5.5], "cuda")["passed"]
    assert not compare_losses([6.0, 5.5 * (1 + 1e-5)], [6.0, 5.5], "cuda")["passed"]
    assert not compare_losses([6.0], [6.0, 5.5], "cpu")["passed"]


def test_parity_is_skipped_with_the_reason_when_there_is_no_before(recipe):
    copy = ParityCopy(recipe, None)
    assert copy.spec_options == {"before": None, "before_missing": NO_BEFORE}
    from codemods.verify.smoke_child import _load_before_code

    report: dict = {}
    assert _load_before_code({**copy.spec_options, "directory": "/nowhere"}, object, report) is None
    outcome = parity_outcome(report, smoke=True)
    assert outcome.name == PARITY and outcome.skipped
    assert "no apply journal" in outcome.detail and "--before REV" in outcome.detail
    assert parity_outcome({}, smoke=False).detail.startswith("not requested (--no-smoke)")


def test_the_default_report_lives_beside_the_journal(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    path = default_report_path(plain)
    assert path.name == "report.json" and path.parent.parent == plain / ".refactor" / "verify"
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    in_git = default_report_path(repo)
    assert in_git.parent.parent == repo / ".git" / "refactor" / "verify"
    in_git.parent.mkdir(parents=True)
    assert default_report_path(repo).parent != in_git.parent  # a second run in the same second gets its own


def test_wandb_init_before_a_trainer_names_its_run_in_file_and_cell_order(recipe, tmp_path):
    (tmp_path / MAIN_FILE).write_text(
        textwrap.dedent(
            """
            import wandb as wb
            from trl import SFTConfig, SFTTrainer
            training_args = create_training_config(variant="v1-all-tokens")
            wb.init(project="p", name="something-else")
            trainer = SFTTrainer(model=None, args=training_args)
            wb.finish()
            trainer_again = SFTTrainer(model=None, args=training_args)
            run = wb.init(project="p")
            trainer_v2 = SFTTrainer(model=None, args=SFTConfig(output_dir="o", run_name="mine"))
            run.finish()
            wb.init(name="too-late")
            """
        ),
        encoding="utf-8",
    )
    notebook = {
        "cells": [
            {"cell_type": "code", "source": ["!pip install wandb\n", "import wandb\n", "args = SFTConfig(run_name='nb')\n"]},
            {"cell_type": "markdown", "source": "wandb.init(name='not code')"},
            {"cell_type": "code", "source": "trainer = SFTTrainer(args=args)\n"},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "run.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    runs = trainer_runs(tmp_path, recipe)
    shown = [(run.trainer, run.variant, run.config_run_name, run.shown, run.mismatch) for run in runs]
    assert shown == [
        ("trainer", "v1-all-tokens", "qwen2vl-v1-all-tokens", "something-else", True),
        ("trainer_again", "v1-all-tokens", "qwen2vl-v1-all-tokens", "qwen2vl-v1-all-tokens", False),
        ("trainer_v2", None, "mine", GENERATED, True),
        ("trainer", None, "nb", "nb", False),
    ]
    assert runs[3].location == "notebooks/run.ipynb cell 2 line 1"
    (first, second) = run_name_warnings(runs)
    assert first["variants"] == ["v1-all-tokens"] and "'something-else'" in first["message"]
    assert f"{MAIN_FILE}:5" in first["message"] and "qwen2vl-v1-all-tokens" in first["message"]


def test_verify_names_the_run_a_planted_wandb_init_gives_v1_and_flags_it(tmp_path):
    from codemods.cli import app

    repo = migrate(tmp_path / "repo")
    main = repo / MAIN_FILE
    text = main.read_text(encoding="utf-8")
    assert text.count('name="qwen2vl-v1-all-tokens"') == 1
    main.write_text(text.replace('name="qwen2vl-v1-all-tokens"', 'name="something-else"'), encoding="utf-8")
    report_path = tmp_path / "out" / "verify.json"
    result = CliRunner().invoke(app, ["verify", str(repo), "--no-smoke", "--report", str(report_path)])
    report = json.loads(report_path.read_text(encoding="utf-8"))
    names = {(r["file"], r["variant"]): r for r in section(report, SMOKE)["data"]["run_names"]}
    v1 = names[(MAIN_FILE, "v1-all-tokens")]
    assert (v1["shown"], v1["config_run_name"], v1["mismatch"]) == ("something-else", "qwen2vl-v1-all-tokens", True)
    assert names[(MAIN_FILE, "v2-assistant-only")]["mismatch"] is False
    flagged = [w for w in report["warnings"] if w["field"] == "run_name"]
    assert len(flagged) == 1 and flagged[0]["variants"] == ["v1-all-tokens"]
    assert "W&B will show v1-all-tokens's run as 'something-else'" in flagged[0]["message"]
    assert "something-else" in result.output
    assert f"report: {report_path}" in result.output


# ---------------------------------------------------------------------------------------------
# the shared smoke run
# ---------------------------------------------------------------------------------------------


@pytest.mark.training
def test_smoke_run_proves_gradients_weights_and_label_masking(verified):
    _, _, report = verified
    smoke = section(report, SMOKE)
    assert smoke["status"] == "passed", smoke["detail"]
    records = {r["variant"]: r for r in report["training"]["variants"]}
    for record in records.values():
        assert record["gradients"]["steps"] == 3 and record["gradients"]["finite"] and record["gradients"]["nonzero"]
        assert all(norm > 0 for norm in record["gradients"]["norms"])
        assert record["weights"]["changed"] == record["weights"]["tensors"] > 0
        assert record["label_masking"]["vision_unmasked"] == [] and record["label_masking"]["pad_unmasked"] == 0
        assert {"<|vision_start|>", "<|vision_end|>", "<|image_pad|>"} <= set(record["label_masking"]["vision_tokens"].values())
        assert record["wandb_run_name_in_flow"] == record["wandb_run_name"] == f"qwen2vl-{record['variant']}"
    all_tokens = records["v1-all-tokens"]["label_masking"]["share"]
    assistant_only = records["v2-assistant-only"]["label_masking"]["share"]
    assert all_tokens > 3 * assistant_only > 0, (all_tokens, assistant_only)


@pytest.mark.training
def test_parity_passes_on_a_migrated_copy_with_its_journal(verified):
    _, _, report = verified
    parity = section(report, PARITY)
    assert parity["status"] == "passed", parity["detail"]
    assert "apply journal" in parity["data"]["source"]
    variants = parity["data"]["variants"]
    assert variants["v1-all-tokens"]["before_collator"] == "collate_fn_fixed_1"
    assert variants["v2-assistant-only"]["before_collator"] == "collate_fn_fixed_3"
    assert variants["v1-all-tokens"]["before_config"].startswith("create_sft_config() in src/training/config.py")
    assert variants["v2-assistant-only"]["before_config"].startswith("create_assistant_only_training_config()")
    for result in variants.values():
        assert len(result["losses_before"]) == 3 and result["losses_before"] == result["losses_after"]
        assert result["max_relative_difference"] == 0.0 and result["before_share"] == result["after_share"]
    assert [check["name"] for check in report["checks"]][-2:] == [SMOKE, PARITY]


@pytest.mark.training
def test_report_plot_and_wandb_runs_are_kept_beside_the_journal(verified):
    result, path, report = verified
    assert f"report: {path}" in result.output
    assert report["device_name"] and {"torch", "transformers", "trl", "peft"} <= set(report["versions"])
    timings = report["timings"]
    assert timings["imports"] > 0 and timings["cuda_start"] == 0.0 and timings["parity"] > 0
    assert set(timings["variants"]) == set(timings["parity_variants"]) == {"v1-all-tokens", "v2-assistant-only"}
    for parts in timings["variant_parts"].values():
        assert parts["setup_seconds"] > 0 and parts["steps_seconds"] > 0 and parts["wandb_start_seconds"] is not None

    artifacts = report["artifacts"]
    plot = Path(artifacts["plot"])
    assert plot == path.with_suffix(".png") and f"loss plot: {plot}" in result.output
    data = plot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 300
    figure = artifacts["figure"]
    assert figure["titles"] == ["v1-all-tokens", "v2-assistant-only"]
    assert figure["labels"] == [["before migration", "after migration"]] * 2

    runs = [Path(run) for run in artifacts["wandb_runs"]]
    assert len(runs) == 2
    for run in runs:
        assert run.parent == path.parent / "wandb" and run.name.startswith("offline-run-")
        assert list(run.glob("run-*.wandb")), f"no W&B records in {run}"
        assert f"wandb sync {run}" in result.output


# ---------------------------------------------------------------------------------------------
# a planted regression: a collator that stops masking vision tokens
# ---------------------------------------------------------------------------------------------


@pytest.mark.training
def test_a_collator_that_stops_masking_vision_tokens_fails_masking_and_parity(recipe, tmp_path):
    repo = migrate(tmp_path / "repo")
    collators = repo / "src/data/collators.py"
    text = collators.read_text(encoding="utf-8")
    start = text.index("class AllTokensCollator")
    vision = "            self.vision_start_id,\n            self.vision_end_id,\n            self.image_pad_id,\n"
    assert vision in text[start:]
    collators.write_text(text[:start] + text[start:].replace(vision, "", 1), encoding="utf-8")

    one_variant = dataclasses.replace(recipe, config_blocks=recipe.config_blocks[:1])
    outcome = run_verification(repo, one_variant, device="cpu", steps=2, progress=None, adapt=True)
    smoke = outcome.check(SMOKE)
    assert smoke.status == "failed"
    assert "AllTokensCollator leaves vision tokens unmasked" in smoke.detail
    assert "<|vision_start|> (id 9)" in smoke.detail and "<|image_pad|> (id 12)" in smoke.detail
    assert "vision tokens must have label -100" in smoke.detail
    parity = outcome.check(PARITY)
    assert parity.status == "failed"
    assert "v1-all-tokens: step 1: loss" in parity.detail and "identical on cpu" in parity.detail
    assert parity.data["variants"]["v1-all-tokens"]["before_collator"] == "collate_fn_fixed_1"
    assert parity.data["variants"]["v1-all-tokens"]["after_share"] > parity.data["variants"]["v1-all-tokens"]["before_share"]
    assert not list(repo.rglob("wandb")), "without a report the W&B runs stay out of the repository"
    shutil.rmtree(repo)


def test_the_child_maps_installed_packages_once_for_transformers_and_trl():
    """Both libraries call packages_distributions() while importing; the second call is served from the first."""
    probe = textwrap.dedent(
        """
        import importlib.metadata as metadata
        from codemods.verify.smoke_child import _map_packages_once
        calls = []
        original = metadata.packages_distributions
        metadata.packages_distributions = lambda: calls.append(1) or original()
        _map_packages_once()
        _map_packages_once()
        first, second = metadata.packages_distributions(), metadata.packages_distributions()
        assert first is second and len(calls) == 1, calls
        assert "torch" in first
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
