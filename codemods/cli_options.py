"""Options of the command line that carry long help texts (kept out of cli.py, which parses, calls and renders)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

FitStackOption = Annotated[
    bool,
    typer.Option(
        "--fit-stack",
        help="Write the config function so the installed config class (e.g. TRL's SFTConfig) accepts it: fields "
        "it does not take (asked of the class itself) are left out, each line that differs from the plan kept "
        "as a comment saying why. By default the function is the plan's text byte for byte.",
    ),
]
AdaptOption = Annotated[
    bool,
    typer.Option(
        "--adapt",
        help="When the installed stack refuses a config keyword, train anyway with it adapted (dropped, or "
        "the flag turned off); the outcome is then 'passed with adaptations', never plainly passed.",
    ),
]
PythonOption = Annotated[
    Path | None,
    typer.Option(
        "--python",
        help="Run the imports, the stack check and the smoke run in this interpreter (your training "
        "environment's python, with torch, transformers, trl, peft); this tool need not be installed there.",
        show_default=False,
    ),
]
ClearStaleOutputsOption = Annotated[
    bool,
    typer.Option("--clear-stale-outputs", help="Clear stored notebook outputs that still show old names (every notebook)."),
]
KeepBehaviourOption = Annotated[
    bool,
    typer.Option(
        "--keep-behaviour",
        help="Keep every config field as it was, except the changes the plan intends (fields derived from "
        "the variant, the plan's overrides): fields the config function would change are pinned to their "
        "old values, passed to it or set with dataclasses.replace(<call>, field=old value, ...). The "
        "behaviour table marks them kept, so --strict passes when every old value is known.",
    ),
]
KeepPathsOption = Annotated[
    bool,
    typer.Option(
        "--keep-paths",
        help="Leave literal copies of the directories a replaced config now writes elsewhere (an evaluation "
        "notebook's adapter path, a script's default) as they are; they are listed as still pointing at "
        "the old place. By default they follow the new directories.",
    ),
]
