"""The interpreter the smoke child runs in: this tool's own, or the user's training environment (``--python``).

The user's environment has torch/transformers/TRL/PEFT but not this tool, and may lack its
command-line dependencies (typer, rich, libcst). The child needs none of them: it runs from this
package's source, put on its path alone (never the tool's whole site-packages, whose torch would
shadow the user's). Before anything runs, the interpreter is asked, without importing them,
whether it has what the child imports; a missing one is bad input, named.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# What the smoke child imports before it reads the repository (the kit needs transformers' own deps).
CHILD_PACKAGES = ("torch", "transformers", "trl", "peft", "datasets", "wandb")
_MINIMUM_PYTHON = (3, 10)
_PROBE_TIMEOUT_S = 120
_MARKER = "@@interpreter "
_PROBE = r"""
import importlib.util, json, sys
from importlib import metadata
found = {"python": "%d.%d.%d" % sys.version_info[:3], "version_info": list(sys.version_info[:2]),
         "executable": sys.executable, "missing": [], "versions": {}}
for name in sys.argv[1:]:
    if importlib.util.find_spec(name) is None:
        found["missing"].append(name)
        continue
    try:
        found["versions"][name] = metadata.version(name)
    except Exception:
        found["versions"][name] = "unknown"
print("@@interpreter " + json.dumps(found))
"""


class InterpreterError(RuntimeError):
    """The interpreter given with ``--python`` cannot run the smoke child."""


@dataclass(frozen=True)
class Interpreter:
    executable: str
    python: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    own: bool = True  # this tool's interpreter (no --python)


def own_interpreter() -> Interpreter:
    return Interpreter(sys.executable)


def check_interpreter(python: str | os.PathLike[str], packages: tuple[str, ...] = CHILD_PACKAGES) -> Interpreter:
    """Ask ``python`` whether it can run the child; raise :class:`InterpreterError` saying why not."""
    path = Path(python).expanduser()
    if not path.exists():
        raise InterpreterError(f"--python {python}: no such file (give the python executable of your training environment)")
    if path.is_dir() or not os.access(path, os.X_OK):
        raise InterpreterError(f"--python {python}: not an executable file (give e.g. .venv/bin/python)")
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
    try:
        completed = subprocess.run(
            [str(path), "-c", _PROBE, *packages],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            env=environment,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InterpreterError(f"--python {python}: cannot run it ({error})") from None
    lines = [line for line in completed.stdout.splitlines() if line.startswith(_MARKER)]
    if not lines:
        said = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or [f"exit status {completed.returncode}"]
        raise InterpreterError(f"--python {python}: is it a Python interpreter? It said: {said[0]}")
    found = json.loads(lines[-1][len(_MARKER) :])
    if tuple(found["version_info"]) < _MINIMUM_PYTHON:
        wanted = ".".join(map(str, _MINIMUM_PYTHON))
        raise InterpreterError(f"--python {python}: Python {found['python']}; the smoke run needs Python {wanted} or newer")
    if found["missing"]:
        raise InterpreterError(
            f"--python {python} (Python {found['python']}) lacks {', '.join(found['missing'])}; the smoke run needs "
            f"{', '.join(packages)} there. Install them in that environment (pip install {' '.join(found['missing'])}) "
            "or point --python at the environment you train in"
        )
    return Interpreter(str(path), found["python"], found["versions"], own=False)
