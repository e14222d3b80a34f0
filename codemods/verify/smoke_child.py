"""Smoke training, child side: train every variant with the repository's own code.

Run as ``python -m codemods.verify.smoke_child SPEC.json`` by :func:`codemods.verify.smoke_parent.run_smoke`.
For every variant of the recipe's ``[[config_blocks]]`` the user's own config function and
collator class are loaded from ROOT, the config is built exactly as the user's code builds it
(through a compatibility adapter when the installed TRL refuses one of its keywords), only what
a short run needs is overridden, and a few LoRA steps run through TRL's real ``SFTTrainer`` on
the tiny offline Qwen2-VL kit with W&B in offline mode. Progress goes to stdout as
``EVENT_PREFIX``-marked JSON lines; the report goes to the spec's ``result`` path.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codemods.verify.smoke_parent import CHILD_MODULE, EVENT_PREFIX
from codemods.verify.user_code import (
    Adaptation,
    LoadedCode,
    build_variant_configs,
    check_keywords,
    load_source,
    make_config_adapter,
    probe_imports,
)

SMOKE_BATCH_SIZE = 2
SMOKE_DATASET_SIZE = 16
LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
COLLATOR_KEYS = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "labels")


def _emit(event: str, **data: Any) -> None:
    sys.stdout.write(EVENT_PREFIX + json.dumps({"event": event, **data}, default=str) + "\n")
    sys.stdout.flush()


def _short_error(error: BaseException, code_root: Path | None = None) -> str:
    message = f"{type(error).__name__}: {error}"
    if code_root is not None:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if str(code_root) in f.filename]
        if frames:
            frame = frames[-1]
            message += f" (at {Path(frame.filename).name}:{frame.lineno})"
    return message


def _offline_run_name(run_dir: str | None) -> str | None:
    """The run name W&B wrote into the offline run's ``debug.log`` (its config line holds ``run_name``)."""
    if not run_dir:
        return None
    log = Path(run_dir) / "logs" / "debug.log"
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r"'run_name': '([^']*)'", text)
    return match.group(1) if match else None


class _Variant:
    """Everything the child does for one variant; ``record`` ends up in the report."""

    def __init__(self, spec: dict[str, Any], entry: dict[str, Any], index: int):
        self.spec = spec
        self.entry = entry
        self.index = index
        self.record: dict[str, Any] = {
            "variant": entry["variant"],
            "collator": entry["collator"],
            "passed": False,
            "detail": "",
            "device": spec["resolved_device"],
            "steps": 0,
            "first_loss": None,
            "last_loss": None,
            "losses": [],
            "trainable_params": 0,
            "expected_run_name": entry["expected_run_name"],
            "config_run_name": None,
            "wandb_run_name": None,
            "wandb_offline_run_name": None,
            "wall_seconds": 0.0,
        }

    def fail(self, detail: str) -> dict[str, Any]:
        self.record["passed"] = False
        self.record["detail"] = detail
        return self.record


def _build_config(function: Callable[..., Any], variant: str) -> Any:
    return function(variant=variant)


def train_variant(state: dict[str, Any], variant: _Variant) -> dict[str, Any]:
    import torch
    import wandb
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTTrainer

    from codemods.kit import build_tiny_model

    spec, record = state["spec"], variant.record
    name, collator_name = variant.entry["variant"], variant.entry["collator"]
    function = state["function"]
    collator_class = state["collators"].namespace.get(collator_name)
    if collator_class is None:
        return variant.fail(f"{state['collators'].where} defines no {collator_name} (the collator of {name!r})")

    adaptations: list[Adaptation] = state["adaptations"]
    before = len(adaptations)
    try:
        config = _build_config(function, name)
    except Exception as error:
        return variant.fail(f"{spec['function']}(variant={name!r}) raised {_short_error(error, state['code_root'])}")
    for adaptation in adaptations[before:]:
        adaptation_variants = state["adaptation_variants"].setdefault((adaptation.field, adaptation.action), [])
        adaptation_variants.append(name)
    real_class = state["config_class"]
    if not isinstance(config, real_class):
        return variant.fail(
            f"{spec['function']}(variant={name!r}) returned {type(config).__name__}, not {spec['config_class']}"
        )
    record["config_run_name"] = config.run_name

    device = spec["resolved_device"]
    cuda = device == "cuda"
    overrides = {
        "output_dir": str(Path(spec["work"]) / "runs" / name),
        "max_steps": spec["steps"],
        "eval_strategy": "no",
        "save_strategy": "no",
        "load_best_model_at_end": False,
        "per_device_train_batch_size": SMOKE_BATCH_SIZE,
        "gradient_accumulation_steps": 1,
        "warmup_steps": 0,
        "logging_steps": 1,
        "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        "fp16": bool(config.fp16 and cuda),
        "use_cpu": not cuda,
        "push_to_hub": False,
        "disable_tqdm": True,
    }
    try:
        args = dataclasses.replace(config, **overrides)
    except Exception as error:
        return variant.fail(f"cannot adjust the config for a smoke run: {_short_error(error)}")

    processor, dataset = state["processor"], state["dataset"]
    model = build_tiny_model(processor, seed=0)
    try:
        collator = collator_class(processor, model)
        sample = collator([dataset[0], dataset[1]])
    except Exception as error:
        return variant.fail(f"{collator_name}(processor, model) failed on a batch: {_short_error(error, state['code_root'])}")
    missing = [key for key in COLLATOR_KEYS if key not in sample]
    if missing:
        return variant.fail(f"{collator_name} returned a batch without {', '.join(missing)}")
    if not bool((sample["labels"] != -100).any()):
        return variant.fail(f"{collator_name} masks every label: nothing would be trained")

    seen: dict[str, Any] = {}

    class RunNameProbe(TrainerCallback):
        def _look(self) -> None:
            if wandb.run is not None:
                seen["name"] = wandb.run.name
                seen["dir"] = str(Path(wandb.run.dir).parent)

        def on_train_begin(self, args, state, control, **kwargs):
            self._look()

        def on_log(self, args, state, control, logs=None, **kwargs):
            self._look()

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
        peft_config=LoraConfig(**LORA),
        callbacks=[RunNameProbe()],
    )
    record["trainable_params"] = int(sum(p.numel() for p in trainer.model.parameters() if p.requires_grad))
    try:
        trainer.train()
    finally:
        if wandb.run is not None:
            seen.setdefault("name", wandb.run.name)
            wandb.finish()
    losses = [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    record.update(
        steps=int(trainer.state.global_step),
        losses=losses,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        wandb_run_name=seen.get("name"),
        wandb_offline_run_name=_offline_run_name(seen.get("dir")),
    )
    del trainer, model, collator
    if cuda:
        torch.cuda.empty_cache()

    problems = []
    if record["trainable_params"] <= 0:
        problems.append("no trainable parameters after LoRA wrapping")
    if record["steps"] != spec["steps"]:
        problems.append(f"trained {record['steps']} of {spec['steps']} steps")
    if not losses:
        problems.append("no training loss was logged")
    elif not all(math.isfinite(loss) for loss in losses):
        problems.append(f"non-finite loss {losses}")
    expected = record["expected_run_name"]
    if record["wandb_run_name"] is None:
        problems.append(f"no W&B run was started (report_to={args.report_to!r}; the plan reports to wandb)")
    else:
        names = {"W&B run": record["wandb_run_name"], "config run_name": record["config_run_name"]}
        if record["wandb_offline_run_name"] is not None:
            names["offline run files"] = record["wandb_offline_run_name"]
        if expected is not None:
            names["recipe"] = expected
        if len(set(names.values())) != 1:
            problems.append("run names disagree: " + ", ".join(f"{k} {v!r}" for k, v in names.items()))
    if problems:
        return variant.fail("; ".join(problems))
    record["passed"] = True
    record["detail"] = (
        f"{record['steps']} steps, loss {record['first_loss']:.4f} -> {record['last_loss']:.4f}, "
        f"W&B run {record['wandb_run_name']}"
    )
    return record


def _import_class(path: str) -> type:
    import importlib

    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for package in ("torch", "transformers", "trl", "peft", "datasets", "wandb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Train every variant of ``spec``; return the report (also written by :func:`main`)."""
    started = time.perf_counter()
    report: dict[str, Any] = {"variants": [], "warnings": [], "notes": [], "error": None, "completed": False}
    report["versions"] = _versions()

    import torch

    requested = spec["device"]
    cuda_available = torch.cuda.is_available()
    if requested == "cuda" and not cuda_available:
        report["error"] = (
            f"--device cuda was requested but torch {torch.__version__} sees no CUDA device "
            "(torch.cuda.is_available() is False); use --device cpu or --device auto"
        )
        return report
    device = "cuda" if requested == "cuda" or (requested == "auto" and cuda_available) else "cpu"
    spec["resolved_device"] = device
    report["device"] = device
    if device == "cuda":
        report["device_name"] = torch.cuda.get_device_name(0)

    import datasets  # noqa: F401  (timed with the other imports)
    import peft  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401
    import wandb  # noqa: F401

    from codemods.kit import build_nutrition_dataset, build_tiny_processor

    report["import_seconds"] = round(time.perf_counter() - started, 3)

    directory = Path(spec["directory"])
    sys.path.insert(0, str(directory))
    code_root = directory
    # The package-import check and the static half of stack compatibility share this interpreter.
    report["imports"] = probe_imports(spec.get("imports") or {})
    if not spec.get("config_class") or not spec.get("config_source"):
        report["completed"] = True
        return report
    real_class = _import_class(spec["config_class"])
    report["compat"] = check_keywords(real_class, spec["config_class"], spec.get("keywords") or [])
    if not cuda_available:
        report["compat"]["device_note"] = f"torch {torch.__version__} sees no CUDA device"
    cache: dict[str, LoadedCode] = {}
    loaded_at = time.perf_counter()
    try:
        configs = load_source(spec["config_source"], directory, cache)
        collators = load_source(spec["collator_source"], directory, cache)
    except Exception as error:
        report["error"] = f"cannot load the repository's code: {_short_error(error, code_root)}"
        return report
    report["notes"].extend(dict.fromkeys(configs.notes + collators.notes))
    report["user_import_seconds"] = round(time.perf_counter() - loaded_at, 3)

    function = configs.namespace.get(spec["function"])
    if not callable(function):
        hint = " Has the plan been applied (refactor apply)?" if spec["config_source"]["kind"] == "module" else ""
        report["error"] = f"{configs.where} defines no {spec['function']}() function.{hint}"
        if configs.notes:
            report["error"] += " Skipped while loading: " + "; ".join(configs.notes[:3])
        return report
    missing = [v["collator"] for v in spec["variants"] if v["collator"] and v["collator"] not in collators.namespace]
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        report["error"] = f"{collators.where} defines no {names} (named by the recipe's [[config_blocks]])."
        if collators.notes:
            report["error"] += " Skipped while loading: " + "; ".join(collators.notes[:3])
        return report

    adaptations: list[Adaptation] = []
    class_name = spec["config_class"].rpartition(".")[2]
    function_globals = getattr(function, "__globals__", None)
    if isinstance(function_globals, dict) and function_globals.get(class_name) is real_class:
        function_globals[class_name] = make_config_adapter(real_class, adaptations)
    build_variant_configs(function, [v["variant"] for v in spec["variants"]], adaptations, report["compat"])
    if not spec.get("adapt") and (report["compat"]["rejected"] or report["compat"]["adaptations"]):
        report["stopped"] = "the stack refuses the config (see stack compatibility); --adapt trains with the adaptation"
    if report.get("stopped") or not spec.get("train", True):
        report["completed"] = True
        return report

    setup_started = time.perf_counter()
    processor = build_tiny_processor()
    dataset = build_nutrition_dataset(num_samples=SMOKE_DATASET_SIZE, seed=0)
    report["kit_seconds"] = round(time.perf_counter() - setup_started, 3)
    _emit("setup", device=device, import_seconds=report["import_seconds"], variants=len(spec["variants"]))

    state = {
        "spec": spec,
        "function": function,
        "collators": collators,
        "config_class": real_class,
        "processor": processor,
        "dataset": dataset,
        "adaptations": adaptations,
        "adaptation_variants": {},
        "code_root": code_root,
    }
    for index, entry in enumerate(spec["variants"]):
        variant = _Variant(spec, entry, index)
        _emit("variant-start", index=index, total=len(spec["variants"]), variant=entry["variant"])
        variant_started = time.perf_counter()
        try:
            record = train_variant(state, variant)
        except Exception as error:
            record = variant.fail(f"training failed: {_short_error(error, code_root)}")
        record["wall_seconds"] = round(time.perf_counter() - variant_started, 3)
        report["variants"].append(record)
        _emit("variant-done", index=index, total=len(spec["variants"]), record=record)

    report["completed"] = True
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write(f"usage: python -m {CHILD_MODULE} SPEC.json\n")
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        report = run_child(spec)
    except BaseException as error:  # report every failure, then exit non-zero
        report = {"variants": [], "warnings": [], "completed": False, "error": _short_error(error)}
        report["traceback"] = traceback.format_exc(limit=8)
        Path(spec["result"]).write_text(json.dumps(report, default=str), encoding="utf-8")
        return 1
    Path(spec["result"]).write_text(json.dumps(report, default=str), encoding="utf-8")
    return 0 if report.get("completed") and all(v["passed"] for v in report["variants"]) else 1


if __name__ == "__main__":
    sys.exit(main())
