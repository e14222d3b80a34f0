"""Smoke training, child side: one short LoRA run of TRL's ``SFTTrainer`` with a given config and collator.

The migrated code's run (the smoke check) and the pre-migration code's run (loss parity) go
through :func:`train_once` alike: same overrides, same seed, same batches, so the only
difference between two runs is the user's config and collator.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codemods.verify.smoke_probes import (
    label_masking,
    make_gradient_probe,
    masking_problems,
    snapshot,
    training_problems,
    weights_changed,
)

SMOKE_BATCH_SIZE = 2
SEED = 0
LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
COLLATOR_KEYS = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "labels")


class TrainingSetupError(RuntimeError):
    """The config or collator cannot be used for a run; the message is the report's detail."""


def offline_run_name(run_dir: str | None) -> str | None:
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


def smoke_arguments(config: Any, spec: dict[str, Any], label: str, report: bool) -> Any:
    """The user's config with only what a short run needs overridden (``report``: keep its ``report_to``)."""
    import torch

    cuda = spec["resolved_device"] == "cuda"
    overrides = {
        "output_dir": str(Path(spec["work"]) / "runs" / label),
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
    if not report:
        overrides["report_to"] = []
    try:
        return dataclasses.replace(config, **overrides)
    except Exception as error:
        raise TrainingSetupError(f"cannot adjust the config for a smoke run: {type(error).__name__}: {error}") from error


def train_once(state: dict[str, Any], config: Any, collator_class: type, label: str, report: bool) -> dict[str, Any]:
    """Train ``spec["steps"]`` LoRA steps; returns losses, probes and (with ``report``) the W&B run's names.

    Raises :class:`TrainingSetupError` when the collator cannot build a batch; anything the
    trainer raises propagates.
    """
    import torch
    import transformers
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTTrainer

    from codemods.kit import build_tiny_model

    spec, processor, dataset = state["spec"], state["processor"], state["dataset"]
    describe = state.get("describe") or (lambda error: f"{type(error).__name__}: {error}")
    setup_started = time.perf_counter()
    args = smoke_arguments(config, spec, label, report)
    name = collator_class.__name__
    model = build_tiny_model(processor, seed=SEED)
    try:
        collator = collator_class(processor, model)
        sample = collator([dataset[0], dataset[1]])
    except Exception as error:
        raise TrainingSetupError(f"{name}(processor, model) failed on a batch: {describe(error)}") from error
    missing = [key for key in COLLATOR_KEYS if key not in sample]
    if missing:
        raise TrainingSetupError(f"{name} returned a batch without {', '.join(missing)}")
    masking = label_masking(collator, dataset, model.config, processor.tokenizer)

    seen: dict[str, Any] = {}

    class RunNameProbe(TrainerCallback):
        def _look(self) -> None:
            import wandb

            if wandb.run is not None:
                seen["name"] = wandb.run.name
                seen["dir"] = str(Path(wandb.run.dir).parent)

        def on_train_begin(self, args, state, control, **kwargs):
            # Runs after WandbCallback's on_train_begin, which starts the W&B run.
            seen["wandb_start_seconds"] = round(time.perf_counter() - started, 3)
            self._look()

        def on_log(self, args, state, control, logs=None, **kwargs):
            self._look()

    gradients = make_gradient_probe(TrainerCallback)
    # Same RNG state for every run: LoRA's initial weights and the batch order depend on nothing else.
    transformers.set_seed(SEED)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
        peft_config=LoraConfig(**LORA),
        callbacks=[RunNameProbe(), gradients] if report else [gradients],
    )
    gradients.model = trainer.model
    initial = snapshot(trainer.model)
    setup_seconds = time.perf_counter() - setup_started
    started = time.perf_counter()
    try:
        trainer.train()
    finally:
        if report:
            import wandb

            if wandb.run is not None:
                seen.setdefault("name", wandb.run.name)
                seen.setdefault("dir", str(Path(wandb.run.dir).parent))
                wandb.finish()
    steps_seconds = time.perf_counter() - started
    losses = [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    result = {
        "steps": int(trainer.state.global_step),
        "losses": losses,
        "trainable_params": int(sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)),
        "label_masking": masking,
        "gradients": gradients.summary(),
        "weights": weights_changed(initial, trainer.model),
        "report_to": list(args.report_to or []),
        "wandb_run_name": seen.get("name"),
        "wandb_run_dir": seen.get("dir"),
        "wandb_offline_run_name": offline_run_name(seen.get("dir")),
        "setup_seconds": round(setup_seconds, 3),
        "wandb_start_seconds": seen.get("wandb_start_seconds"),
        "steps_seconds": round(steps_seconds, 3),
    }
    del trainer, model, collator
    if spec["resolved_device"] == "cuda":
        torch.cuda.empty_cache()
    return result


def new_record(spec: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """A variant's report entry before anything ran (the keys are part of the report format)."""
    return {
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
        "wandb_run_dir": None,
        "label_masking": None,
        "gradients": None,
        "weights": None,
        "wall_seconds": 0.0,
    }


def _run_name_problems(record: dict[str, Any], report_to: list[str]) -> list[str]:
    if record["wandb_run_name"] is None:
        return [f"no W&B run was started (report_to={report_to!r}; the plan reports to wandb)"]
    names = {"W&B run": record["wandb_run_name"], "config run_name": record["config_run_name"]}
    if record["wandb_offline_run_name"] is not None:
        names["offline run files"] = record["wandb_offline_run_name"]
    if record["expected_run_name"] is not None:
        names["recipe"] = record["expected_run_name"]
    if len(set(names.values())) != 1:
        return ["run names disagree: " + ", ".join(f"{k} {v!r}" for k, v in names.items())]
    return []


def train_variant(state: dict[str, Any], entry: dict[str, Any], describe: Callable[[BaseException], str]) -> dict[str, Any]:
    """The migrated code's run of one variant: build its config as the user's code does, train, judge."""
    spec = state["spec"]
    record = new_record(spec, entry)
    name, collator_name = entry["variant"], entry["collator"]
    collator_class = state["collators"].namespace.get(collator_name)
    if collator_class is None:
        return {**record, "detail": f"{state['collators'].where} defines no {collator_name} (the collator of {name!r})"}
    try:
        config = state["function"](variant=name)
    except Exception as error:
        return {**record, "detail": f"{spec['function']}(variant={name!r}) raised {describe(error)}"}
    if not isinstance(config, state["config_class"]):
        return {**record, "detail": f"{spec['function']}(variant={name!r}) returned {type(config).__name__}, not {spec['config_class']}"}
    record["config_run_name"] = config.run_name
    try:
        run = train_once(state, config, collator_class, name, report=True)
    except TrainingSetupError as error:
        return {**record, "detail": str(error)}
    losses = run["losses"]
    record.update({key: run[key] for key in ("steps", "losses", "trainable_params", "label_masking", "gradients", "weights")})
    record.update({key: run[key] for key in ("wandb_run_name", "wandb_offline_run_name", "wandb_run_dir")})
    record["timings"] = {key: run[key] for key in ("setup_seconds", "wandb_start_seconds", "steps_seconds")}
    record.update(first_loss=losses[0] if losses else None, last_loss=losses[-1] if losses else None)

    problems = masking_problems(collator_name, run["label_masking"])
    if record["trainable_params"] <= 0:
        problems.append("no trainable parameters after LoRA wrapping")
    if record["steps"] != spec["steps"]:
        problems.append(f"trained {record['steps']} of {spec['steps']} steps")
    if not losses:
        problems.append("no training loss was logged")
    elif not all(math.isfinite(loss) for loss in losses):
        problems.append(f"non-finite loss {losses}")
    problems += training_problems(run["gradients"], run["weights"])
    problems += _run_name_problems(record, run["report_to"])
    if problems:
        record["detail"] = "; ".join(problems)
        return record
    record["passed"] = True
    record["detail"] = (
        f"{record['steps']} steps, loss {record['first_loss']:.4f} -> {record['last_loss']:.4f}, "
        f"{run['label_masking']['share']:.1%} of tokens trained, W&B run {record['wandb_run_name']}"
    )
    return record
