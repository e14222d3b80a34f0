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

import gc
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from codemods.core.config_class import stack_versions
from codemods.verify.parity import BeforeCode, load_before, run_parity
from codemods.verify.smoke_parent import CHILD_MODULE, EVENT_PREFIX
from codemods.verify.smoke_training import new_record, train_once, train_variant
from codemods.verify.user_code import (
    Adaptation,
    LoadedCode,
    build_variant_configs,
    check_keywords,
    load_source,
    make_config_adapter,
    probe_imports,
)

SMOKE_DATASET_SIZE = 16


def _emit(event: str, **data: Any) -> None:
    sys.stdout.write(EVENT_PREFIX + json.dumps({"event": event, **data}, default=str) + "\n")
    sys.stdout.flush()


def _short_error(error: BaseException, *code_roots: Path) -> str:
    message = f"{type(error).__name__}: {error}"
    if code_roots:
        frames = [
            f for f in traceback.extract_tb(error.__traceback__) if any(str(root) in f.filename for root in code_roots)
        ]
        if frames:
            frame = frames[-1]
            message += f" (at {Path(frame.filename).name}:{frame.lineno})"
    return message


def _import_class(path: str) -> type:
    import importlib

    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def _versions() -> dict[str, str]:
    return stack_versions(("torch", "transformers", "trl", "peft", "datasets", "wandb"))


def _prepare_environment(spec: dict[str, Any]) -> None:
    """Set before torch and W&B start: both read these once."""
    # cuBLAS uses reproducible kernels only when this is set before CUDA starts; loss parity needs them.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if spec.get("artifacts"):
        # The offline runs land beside the report, kept for `wandb sync`.
        Path(spec["artifacts"]).mkdir(parents=True, exist_ok=True)
        os.environ["WANDB_DIR"] = spec["artifacts"]


def _map_packages_once() -> None:
    """Serve ``importlib.metadata.packages_distributions()`` from its first result.

    transformers and TRL each call it while they are imported, and it reads the file list of
    every installed distribution (seconds in a large environment). Nothing is installed in
    between, so the second call can only repeat the first.
    """
    import functools
    import importlib.metadata

    if not hasattr(importlib.metadata.packages_distributions, "cache_info"):
        importlib.metadata.packages_distributions = functools.cache(importlib.metadata.packages_distributions)


def _start_device(report: dict[str, Any], device: str) -> None:
    import torch

    started = time.perf_counter()
    if device == "cuda":
        report["device_name"] = torch.cuda.get_device_name(0)
        torch.zeros(1, device="cuda").add_(1)
        torch.cuda.synchronize()
    else:
        report["device_name"] = platform.processor() or platform.machine() or "cpu"
    report["timings"]["cuda_start"] = round(time.perf_counter() - started, 3) if device == "cuda" else 0.0


def _load_before_code(spec: dict[str, Any], config_class: type, report: dict[str, Any]) -> BeforeCode | None:
    """The pre-migration code for loss parity, or None (``report["parity"]`` says why)."""
    before = spec.get("before")
    if not before:
        report["parity"] = {"status": "skipped", "detail": spec.get("before_missing") or "no code before the migration"}
        return None
    report["parity"] = {"status": "pending", "source": before["description"], "detail": ""}
    try:
        return load_before(before, spec["directory"], config_class)
    except Exception as error:
        report["parity"].update(status="failed", detail=f"cannot load the code before the migration: {_short_error(error)}")
        return None


def _parity_summary(report: dict[str, Any]) -> None:
    """The parity verdict over every variant: failed if one differs, passed if all match, else skipped."""
    parity = report["parity"]
    if parity["status"] != "pending":
        return
    results = {record["variant"]: record["parity"] for record in report["variants"] if record.get("parity")}
    failed = [f"{variant}: {result['detail']}" for variant, result in results.items() if result["status"] == "failed"]
    if failed:
        parity.update(status="failed", detail="; ".join(failed))
    elif results and all(result["status"] == "passed" for result in results.values()):
        first = next(iter(results.values()))
        parity.update(status="passed", detail=f"{len(results)} variant(s) train as before ({first['detail']})")
    else:
        details = [f"{variant}: {result['detail']}" for variant, result in results.items()]
        parity.update(status="skipped", detail="; ".join(details) or "no variant trained")


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Train every variant of ``spec``; return the report (also written by :func:`main`)."""
    started = time.perf_counter()
    report: dict[str, Any] = {"variants": [], "warnings": [], "notes": [], "error": None, "completed": False}
    report["versions"] = _versions()
    timings: dict[str, Any] = {"variants": {}, "parity_variants": {}, "parity": 0.0}
    report["timings"] = timings
    _prepare_environment(spec)
    _map_packages_once()

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

    import datasets  # noqa: F401  (timed with the other imports)
    import peft  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401
    import wandb  # noqa: F401

    from codemods.kit import build_nutrition_dataset, build_tiny_processor

    # Every object the imports made lives until the end: the trainer's gc.collect() calls
    # (accelerate frees device memory between runs) then skip them instead of scanning millions.
    gc.freeze()
    report["import_seconds"] = timings["imports"] = round(time.perf_counter() - started, 3)
    _start_device(report, device)
    if device == "cuda" and spec.get("before"):
        torch.use_deterministic_algorithms(True, warn_only=True)

    directory = Path(spec["directory"])
    sys.path.insert(0, str(directory))
    code_root = directory
    # The package-import check and the static half of stack compatibility share this interpreter.
    report["imports"] = probe_imports(spec.get("imports") or {})
    if not spec.get("config_class") or not spec.get("config_source"):
        report["completed"] = True
        return report
    real_class = _import_class(spec["config_class"])
    report["compat"] = check_keywords(
        real_class, spec["config_class"], spec.get("keywords") or [], spec.get("fields") or []
    )
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
    report["user_import_seconds"] = timings["user_code"] = round(time.perf_counter() - loaded_at, 3)

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
    report["kit_seconds"] = timings["kit"] = round(time.perf_counter() - setup_started, 3)
    before_code = _load_before_code(spec, real_class, report)
    before_root = Path(spec["before"]["directory"]) if before_code is not None else None
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
    state["describe"] = lambda error: _short_error(error, code_root)
    for index, entry in enumerate(spec["variants"]):
        _emit("variant-start", index=index, total=len(spec["variants"]), variant=entry["variant"])
        variant_started = time.perf_counter()
        try:
            record = train_variant(state, entry, state["describe"])
        except Exception as error:
            record = {**new_record(spec, entry), "detail": f"training failed: {_short_error(error, code_root)}"}
        record["wall_seconds"] = timings["variants"][entry["variant"]] = round(time.perf_counter() - variant_started, 3)
        if before_code is not None:
            parity_started = time.perf_counter()
            record["parity"] = run_parity(
                state, before_code, entry, record["losses"], train_once, lambda error: _short_error(error, before_root)
            )
            seconds = round(time.perf_counter() - parity_started, 3)
            record["parity"]["wall_seconds"] = timings["parity_variants"][entry["variant"]] = seconds
            timings["parity"] = round(timings["parity"] + seconds, 3)
        report["variants"].append(record)
        _emit("variant-done", index=index, total=len(spec["variants"]), record=record)
    _parity_summary(report)

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
