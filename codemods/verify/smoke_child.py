"""Smoke training: prove that a migrated repository still trains.

For every variant of the recipe's ``[[config_blocks]]`` the user's own config function and
collator class are loaded from ROOT, the config is built exactly as the user's code builds it
(through a compatibility adapter when the installed TRL refuses one of its keywords), only what
a short run needs is overridden, and a few LoRA steps run through TRL's real ``SFTTrainer`` on
the tiny offline Qwen2-VL kit with W&B in offline mode.

The training runs in a child process (``python -m codemods.verify.smoke SPEC.json``) so that torch,
CUDA, W&B and the user's modules never leak into the calling process. The parent side
(:func:`build_spec`, :func:`run_smoke`) needs neither torch nor TRL.
"""

from __future__ import annotations
import __future__ as future_features

import ast
import collections
import contextlib
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

EVENT_PREFIX = "@@smoke "
DEFAULT_TIMEOUT_S = 1800.0
SMOKE_BATCH_SIZE = 2
SMOKE_DATASET_SIZE = 16
LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
COLLATOR_KEYS = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "labels")
_TAIL_LINES = 40


class SmokeSetupError(RuntimeError):
    """The recipe or ROOT does not give enough to run the smoke training."""


# =============================================================================
# Parent side: what to train, and running the child process
# =============================================================================


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a definition comes from: an importable module of ROOT, or the main file."""

    kind: str  # "module" or "main"
    path: str  # relative to the repository directory
    module: str = ""  # dotted module name when kind == "module"


@dataclasses.dataclass(frozen=True)
class SmokeVariant:
    variant: str
    collator: str | None
    expected_run_name: str | None


@dataclasses.dataclass(frozen=True)
class SmokeSpec:
    directory: str
    config_source: Source
    collator_source: Source
    function: str
    config_class: str
    variants: tuple[SmokeVariant, ...]
    device: str
    steps: int
    stack_notes: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def dotted_module(relative_path: str) -> str:
    """``src/training/config.py`` -> ``src.training.config`` (a package ``__init__`` -> the package)."""
    parts = list(Path(relative_path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def expected_run_name(recipe, variant: str) -> str | None:
    """The W&B run name the recipe's config function gives ``variant`` (its ``run_name`` field, evaluated)."""
    function = recipe.config_function
    if function is None:
        return None
    for field in function.fields:
        if field.name == "run_name":
            try:
                value = eval(compile(field.value, "<recipe run_name>", "eval"), {"__builtins__": {}}, {"variant": variant})
            except Exception:  # the field needs more than the variant: nothing to compare with
                return None
            return value if isinstance(value, str) else None
    return None


def _source(directory: Path, single_file: str | None, recipe_path: str | None, main_file: str) -> Source | None:
    if single_file is None and recipe_path and (directory / recipe_path).is_file():
        return Source("module", recipe_path, dotted_module(recipe_path))
    main = single_file or main_file
    if (directory / main).is_file():
        return Source("main", main)
    return None


def build_spec(root: Path, recipe, device: str, steps: int) -> SmokeSpec:
    """Decide what the smoke run loads and trains; raise :class:`SmokeSetupError` when it cannot run."""
    root = Path(root).resolve()
    single_file = root.name if root.is_file() else None
    directory = root.parent if root.is_file() else root
    function = recipe.config_function
    if function is None:
        raise SmokeSetupError("the recipe has no [config_function]: there is no config function to train with")
    if not recipe.config_blocks:
        raise SmokeSetupError("the recipe lists no [[config_blocks]]: there is no variant to train")
    config_path = recipe.config_module.path if recipe.config_module else None
    collators_path = recipe.data_package.collators if recipe.data_package else None
    config_source = _source(directory, single_file, config_path, recipe.main_file)
    collator_source = _source(directory, single_file, collators_path, recipe.main_file)
    if config_source is None or collator_source is None:
        wanted = " or ".join(p for p in (config_path, recipe.main_file) if p)
        raise SmokeSetupError(f"{root} has neither {wanted}: nothing defines {function.name}()")
    unnamed = [block.variant for block in recipe.config_blocks if not block.collator]
    if unnamed:
        raise SmokeSetupError(
            "the recipe's [[config_blocks]] for " + ", ".join(repr(v) for v in unnamed) + " name no collator: "
            'add collator = "ClassName" (the class that variant trains with)'
        )
    variants = tuple(
        SmokeVariant(block.variant, block.collator, expected_run_name(recipe, block.variant))
        for block in recipe.config_blocks
    )
    return SmokeSpec(
        directory=str(directory),
        config_source=config_source,
        collator_source=collator_source,
        function=function.name,
        config_class=function.config_class,
        variants=variants,
        device=device,
        steps=steps,
        stack_notes=dict(function.stack_notes),
    )


def _child_environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    scratch = work / "tmp"
    scratch.mkdir(exist_ok=True)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": str(scratch),
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
            "WANDB_DIR": str(work),
            "WANDB_CONFIG_DIR": str(work / "wandb-config"),
            "WANDB_CACHE_DIR": str(work / "wandb-cache"),
            "WANDB_DATA_DIR": str(work / "wandb-data"),
            "WANDB_DISABLE_GIT": "true",
            "WANDB_DISABLE_CODE": "true",
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    return env


def run_smoke(
    spec: SmokeSpec,
    progress: Callable[[dict[str, Any]], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Run the smoke training in a child process and return its report (a JSON-ready dict).

    ``progress`` receives every event the child emits (``setup``, ``variant-start``,
    ``variant-done``). A child that crashes or times out gives a report with ``error`` set and
    the tail of its output; this function itself does not raise for a failed training.
    """
    with tempfile.TemporaryDirectory(prefix="refactor-smoke-", ignore_cleanup_errors=True) as temp:
        work = Path(temp)
        spec_path = work / "spec.json"
        result_path = work / "result.json"
        spec_path.write_text(json.dumps({**spec.to_dict(), "work": str(work), "result": str(result_path)}))
        command = [sys.executable, "-m", "codemods.verify.smoke", str(spec_path)]
        cwd = work / "cwd"
        cwd.mkdir()
        started = time.perf_counter()
        tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=_child_environment(work),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(timeout, _kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip("\n")
                if line.startswith(EVENT_PREFIX):
                    try:
                        event = json.loads(line[len(EVENT_PREFIX) :])
                    except json.JSONDecodeError:
                        continue
                    if progress is not None:
                        progress(event)
                elif line.strip():
                    tail.append(line.rsplit("\r", 1)[-1])
            returncode = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:  # pragma: no cover - interrupted while reading
                process.kill()
                process.wait()
        report: dict[str, Any] = {}
        if result_path.is_file():
            with contextlib.suppress(json.JSONDecodeError):
                report = json.loads(result_path.read_text(encoding="utf-8"))
        report.setdefault("variants", [])
        report.setdefault("warnings", [])
        report["wall_seconds"] = round(time.perf_counter() - started, 3)
        report["returncode"] = returncode
        if timed_out.is_set():
            report["error"] = f"the smoke run was stopped after {timeout:.0f} s"
        elif not report.get("completed") and not report.get("error"):
            report["error"] = f"the smoke process exited with status {returncode} before writing its report"
        if report.get("error"):
            report["output_tail"] = list(tail)
        return report


# =============================================================================
# Child side: loading the user's code
# =============================================================================


@dataclasses.dataclass
class LoadedCode:
    namespace: dict[str, Any]
    where: str
    notes: list[str] = dataclasses.field(default_factory=list)


def _is_literal_assignment(node: ast.stmt) -> bool:
    if not isinstance(node, ast.Assign) or not all(isinstance(t, ast.Name) for t in node.targets):
        return False
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def load_main_definitions(path: Path) -> LoadedCode:
    """Run a notebook-style main file's definitions only.

    Its top-level ``import`` statements, ``def``/``class`` definitions and assignments of literal
    constants are executed, one statement at a time, in a fresh namespace; everything else (the
    cells that load data, build models or train) is skipped. An import that fails is skipped with
    a note (notebook-only packages such as IPython are often missing).
    """
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(future_features, alias.name, None)
                if feature is not None:
                    flags |= feature.compiler_flag
    namespace: dict[str, Any] = {"__name__": f"__refactor_smoke_{path.stem}__", "__file__": str(path)}
    loaded = LoadedCode(namespace, str(path.name))
    wanted = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if not (isinstance(node, wanted) or _is_literal_assignment(node)):
            continue
        code = compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec", flags=flags, dont_inherit=True)
        try:
            exec(code, namespace)
        except ImportError as error:
            loaded.notes.append(f"{path.name}:{node.lineno}: skipped an import ({error})")
        except Exception as error:  # a definition that needs a skipped import or cell
            loaded.notes.append(f"{path.name}:{node.lineno}: skipped ({type(error).__name__}: {error})")
    return loaded


def load_source(source: dict[str, Any], directory: Path, cache: dict[str, LoadedCode]) -> LoadedCode:
    key = f"{source['kind']}:{source['path']}"
    if key in cache:
        return cache[key]
    if source["kind"] == "module":
        import importlib

        module = importlib.import_module(source["module"])
        loaded = LoadedCode(vars(module), source["path"])
    else:
        loaded = load_main_definitions(directory / source["path"])
    cache[key] = loaded
    return loaded


# =============================================================================
# Child side: the compatibility adapter for the config class
# =============================================================================

_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")
_CUDA_ONLY_FLAGS = ("tf32", "bf16")


@dataclasses.dataclass
class Adaptation:
    field: str
    action: str
    error: str
    value: Any


def make_config_adapter(real_class: type, adaptations: list[Adaptation]) -> Callable[..., Any]:
    """A stand-in for the config class that builds the real one, adapting what the stack refuses.

    Each refusal is observed, never assumed: the real constructor runs first with the keywords as
    given; a keyword it does not know (``TypeError``) is dropped, and ``tf32``/``bf16`` are turned
    off when the constructor refuses them on this machine (``ValueError`` without a suitable CUDA
    GPU). Every change is appended to ``adaptations``.
    """

    def adapted(*args: Any, **kwargs: Any) -> Any:
        for _ in range(len(kwargs) + 2):
            try:
                return real_class(*args, **kwargs)
            except TypeError as error:
                match = _UNEXPECTED_KEYWORD.search(str(error))
                if not match or match.group(1) not in kwargs:
                    raise
                name = match.group(1)
                adaptations.append(Adaptation(name, "dropped", f"TypeError: {error}", kwargs.pop(name)))
            except ValueError as error:
                message = str(error)
                flag = next((f for f in _CUDA_ONLY_FLAGS if f in message.lower() and kwargs.get(f)), None)
                if flag is None:
                    raise
                adaptations.append(Adaptation(flag, "set to False", f"ValueError: {message}", kwargs[flag]))
                kwargs[flag] = False
        return real_class(*args, **kwargs)

    adapted.__name__ = real_class.__name__
    adapted.__qualname__ = real_class.__qualname__
    adapted.__wrapped__ = real_class  # type: ignore[attr-defined]
    return adapted


def describe_adaptation(adaptation: Adaptation, function: str, class_path: str, trl_version: str) -> str:
    value = repr(adaptation.value)
    if adaptation.action == "dropped":
        change = (
            f"remove {adaptation.field}= from {function}()"
            + (" (TensorBoard logs: set TENSORBOARD_LOGGING_DIR instead)" if adaptation.field == "logging_dir" else "")
        )
        text = (
            f"{function}() passes {adaptation.field}={value}, which {class_path} in trl {trl_version} does not accept "
            f"({adaptation.error}); the smoke run dropped it. Change: {change}."
        )
    else:
        text = (
            f"{function}() passes {adaptation.field}={value}, which {class_path} in trl {trl_version} refuses on this "
            f"machine ({adaptation.error}); the smoke run set {adaptation.field}=False. Change: keep it for CUDA "
            f"training, or write {adaptation.field}=torch.cuda.is_available() so the config also builds without a GPU."
        )
    return text


# =============================================================================
# Child side: training one variant
# =============================================================================


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
    import trl
    import wandb  # noqa: F401

    from codemods.kit import build_nutrition_dataset, build_tiny_processor

    report["import_seconds"] = round(time.perf_counter() - started, 3)

    directory = Path(spec["directory"])
    sys.path.insert(0, str(directory))
    code_root = directory
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

    real_class = _import_class(spec["config_class"])
    adaptations: list[Adaptation] = []
    class_name = spec["config_class"].rpartition(".")[2]
    function_globals = getattr(function, "__globals__", None)
    if isinstance(function_globals, dict) and function_globals.get(class_name) is real_class:
        function_globals[class_name] = make_config_adapter(real_class, adaptations)

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

    seen = set()
    for adaptation in adaptations:
        key = (adaptation.field, adaptation.action)
        if key in seen:
            continue
        seen.add(key)
        report["warnings"].append(
            {
                "field": adaptation.field,
                "action": adaptation.action,
                "variants": state["adaptation_variants"].get(key, []),
                "message": describe_adaptation(
                    adaptation,
                    spec["function"],
                    spec["config_class"],
                    trl.__version__,
                ),
                "stack_note": spec["stack_notes"].get(adaptation.field, ""),
            }
        )
    report["completed"] = True
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m codemods.verify.smoke SPEC.json\n")
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
