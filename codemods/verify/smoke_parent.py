"""Smoke training, parent side: decide what to train, then run the child process and collect its report.

The training itself runs in ``python -m codemods.verify.smoke_child SPEC.json`` so that torch,
CUDA, W&B and the repository's own modules never load into the calling process; this module
needs neither torch nor TRL.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codemods.core.workspace import split_root
from codemods.verify.interpreter import Interpreter, own_interpreter

EVENT_PREFIX = "@@smoke "
DEFAULT_TIMEOUT_S = 1800.0
CHILD_MODULE = "codemods.verify.smoke_child"
_TAIL_LINES = 40


class SmokeSetupError(RuntimeError):
    """The recipe or ROOT does not give enough to run the smoke training."""


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
    """What the child does: the package-import check, stack compatibility, then (``train``) the smoke run."""

    directory: str
    config_source: Source | None
    collator_source: Source | None
    function: str
    config_class: str
    variants: tuple[SmokeVariant, ...]
    device: str
    steps: int
    stack_notes: dict[str, str]
    train: bool = True
    adapt: bool = False  # train with the adapted config when the stack refuses a keyword
    imports: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # {module: names it must define}
    keywords: tuple[dict[str, Any], ...] = ()  # the config code's keywords, found statically (verify.compat)
    fields: tuple[str, ...] = ()  # the plan's config fields: which of them the stack lacks is reported
    before: dict[str, Any] | None = None  # the pre-migration copy trained for loss parity (verify.parity)
    before_missing: str = ""  # why there is no pre-migration code (the parity section says it)
    artifacts: str | None = None  # where W&B keeps the offline runs: beside the report

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


def imports_only_spec(root: Path, imports: dict[str, list[str]]) -> SmokeSpec:
    """A child that only checks the package imports (the smoke run cannot be set up)."""
    directory, _ = split_root(Path(root).resolve())
    return SmokeSpec(str(directory), None, None, "", "", (), "auto", 1, {}, train=False, imports=dict(imports))


def build_spec(root: Path, recipe, device: str, steps: int, **options: Any) -> SmokeSpec:
    """Decide what the smoke run loads and trains; raise :class:`SmokeSetupError` when it cannot run.

    ``options`` are the spec's optional fields (``train``, ``adapt``, ``imports``, ``keywords``).
    """
    root = Path(root).resolve()
    directory, single_file = split_root(root)
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
        fields=tuple(dict.fromkeys([f.name for f in function.fields] + list(function.library_defaults))),
        **options,
    )


def _package_path(work: Path) -> Path:
    """A directory holding only this package (a link to it): the child's import path for this tool.

    Never the directory the package is installed in: in the tool's site-packages that would put its
    torch ahead of the training environment's.
    """
    tool = work / "tool"
    tool.mkdir()
    package = Path(__file__).resolve().parents[1]
    try:
        (tool / package.name).symlink_to(package, target_is_directory=True)
    except OSError:  # no symbolic links here: a copy of the source
        import shutil

        shutil.copytree(package, tool / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    return tool


def _child_environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_package_path(work)), env.get("PYTHONPATH", "")) if p)
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


class ChildRun:
    """The smoke child, started: its output is read on a thread while the caller does other checks."""

    def __init__(
        self,
        spec: SmokeSpec,
        interpreter: Interpreter | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ):
        self.interpreter = interpreter or own_interpreter()
        self.timeout = timeout
        self._temp = tempfile.TemporaryDirectory(prefix="refactor-smoke-", ignore_cleanup_errors=True)
        work = Path(self._temp.name)
        self._result_path = work / "result.json"
        spec_path = work / "spec.json"
        spec_path.write_text(json.dumps({**spec.to_dict(), "work": str(work), "result": str(self._result_path)}))
        cwd = work / "cwd"
        cwd.mkdir()
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._timed_out = threading.Event()
        self.started = time.perf_counter()
        self._process = subprocess.Popen(
            [self.interpreter.executable, "-m", CHILD_MODULE, str(spec_path)],
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
        self._watchdog = threading.Timer(timeout, self._kill)
        self._watchdog.daemon = True
        self._watchdog.start()
        self._reader = threading.Thread(target=self._read, args=(progress,), daemon=True)
        self._reader.start()

    def _kill(self) -> None:
        self._timed_out.set()
        self._process.kill()

    def _read(self, progress: Callable[[dict[str, Any]], None] | None) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.rstrip("\n")
            if line.startswith(EVENT_PREFIX):
                try:
                    event = json.loads(line[len(EVENT_PREFIX) :])
                except json.JSONDecodeError:
                    continue
                if progress is not None:
                    progress(event)
            elif line.strip():
                self._tail.append(line.rsplit("\r", 1)[-1])

    def result(self) -> dict[str, Any]:
        """Wait for the child and return its report (a JSON-ready dict); never raises for a failed run."""
        try:
            self._reader.join()
            returncode = self._process.wait()
        finally:
            self._watchdog.cancel()
            if self._process.poll() is None:  # pragma: no cover - interrupted while waiting
                self._process.kill()
                self._process.wait()
        report: dict[str, Any] = {}
        if self._result_path.is_file():
            with contextlib.suppress(json.JSONDecodeError):
                report = json.loads(self._result_path.read_text(encoding="utf-8"))
        self._temp.cleanup()
        report.setdefault("variants", [])
        report.setdefault("warnings", [])
        report["wall_seconds"] = round(time.perf_counter() - self.started, 3)
        report["returncode"] = returncode
        report["interpreter"] = self.interpreter.executable
        if self._timed_out.is_set():
            report["error"] = f"the smoke run was stopped after {self.timeout:.0f} s"
        elif not report.get("completed") and not report.get("error"):
            report["error"] = f"the smoke process exited with status {returncode} before writing its report"
        if report.get("error"):
            report["output_tail"] = list(self._tail)
        return report


def run_smoke(
    spec: SmokeSpec,
    progress: Callable[[dict[str, Any]], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    interpreter: Interpreter | None = None,
) -> dict[str, Any]:
    """Run the child to the end and return its report.

    ``progress`` receives every event the child emits (``setup``, ``variant-start``,
    ``variant-done``). A child that crashes or times out gives a report with ``error`` set and
    the tail of its output; this function itself does not raise for a failed training.
    """
    return ChildRun(spec, interpreter, progress, timeout).result()
