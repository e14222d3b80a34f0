"""Options of the command line that carry long help texts (kept out of cli.py, which parses, calls and renders)."""

from __future__ import annotations

from enum import Enum
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
RootArgument = Annotated[
    Path,
    typer.Argument(
        metavar="ROOT",
        help="Repository directory to migrate, or a single main file (.py) or notebook (.ipynb): then only that "
        "file is migrated.",
        show_default=False,
    ),
]
MigratedRootArgument = Annotated[
    Path,
    typer.Argument(
        metavar="ROOT",
        help="The migrated repository directory, or the single main file (.py) or notebook (.ipynb) that was "
        "migrated.",
        show_default=False,
    ),
]
UndoRootArgument = Annotated[
    Path,
    typer.Argument(
        metavar="ROOT",
        help="The repository directory (or single file) given to the `refactor apply` to undo.",
        show_default=False,
    ),
]
CheckPathsArgument = Annotated[
    list[Path],
    typer.Argument(
        metavar="PATH",
        help="What to check: a repository directory, checked as a whole; or files (as pre-commit passes them), "
        "each checked within the repository that holds it, with that repository's recipe. Files that are no "
        "Python file or notebook are skipped.",
        show_default=False,
    ),
]
RecipeOption = Annotated[
    Path | None,
    typer.Option(
        "--recipe",
        help="Recipe TOML describing the plan. Default: the recipe named by \\[tool.refactor] in the nearest "
        "pyproject.toml above the path given (ROOT, or each PATH of check) that has that table, else the bundled plan.",
        show_default=False,
    ),
]
MainFileOption = Annotated[
    str | None,
    typer.Option(
        "--main-file",
        help="The repository's main notebook-script, when it is not the recipe's (e.g. train.py): a path inside "
        "ROOT. Default: \\[tool.refactor] main_file (relative to its pyproject.toml), else the recipe's.",
        show_default=False,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print only errors and the final verdict line."),
]
ExitCodeOption = Annotated[
    bool,
    typer.Option(
        "--exit-code",
        help="Exit 1 when changes are pending (a CI gate, like black --check), 0 when nothing is pending.",
    ),
]


def verbose_option(what: str):
    """``-v/--verbose``, saying what it adds to this command's output."""
    return Annotated[bool, typer.Option("--verbose", "-v", help=f"Also {what}.")]


class ReportFormat(str, Enum):
    text = "text"
    json = "json"


ReportFormatOption = Annotated[
    ReportFormat,
    typer.Option(
        "--format",
        help="text (for people) or json (for programs; the schema is codemods/schemas/<command>.schema.json).",
    ),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show diffs and tables; write nothing.")]
OnlyOption = Annotated[
    list[str] | None,
    typer.Option("--only", help="Run only this task (number or codemod name); repeatable.", show_default=False),
]
AllowDirtyOption = Annotated[
    bool, typer.Option("--allow-dirty", help="Apply even if ROOT has uncommitted changes in git.")
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Exit 1 without writing if any config behaviour change is unintended.")
]
DiffOption = Annotated[
    bool | None,
    typer.Option(
        "--diff/--no-diff",
        help="Print a unified diff per file (notebooks cell by cell). Default: on with --dry-run, off when writing.",
        show_default=False,
    ),
]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("vlm-refactor")
        except PackageNotFoundError:  # run from a checkout that was never installed
            from codemods import __version__ as installed
        typer.echo(f"refactor {installed}")
        raise typer.Exit()


VersionOption = Annotated[
    bool,
    typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit."),
]


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


CheckFormatOption = Annotated[
    CheckFormat, typer.Option("--format", help="text (rich), json, github (workflow annotations) or sarif.")
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option("--exclude", help="Glob of paths to skip, on top of .gitignore; repeatable.", show_default=False),
]
JobsOption = Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes, 1 or more (default: all cores).")]
ExitZeroOption = Annotated[
    bool, typer.Option("--exit-zero", help="Exit 0 even when stale names are found (2 still means an error).")
]
StatisticsOption = Annotated[
    bool,
    typer.Option(
        "--statistics", help="Show how many stale names there are of each old name and kind instead of each one."
    ),
]


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


SmokeOption = Annotated[
    bool, typer.Option("--smoke/--no-smoke", help="Also run a short LoRA training on the tiny Qwen2-VL kit.")
]
DeviceOption = Annotated[Device, typer.Option("--device", help="Where the smoke run trains.")]
StepsOption = Annotated[int, typer.Option("--steps", min=1, help="Training steps per variant in the smoke run.")]
ReportOption = Annotated[
    Path | None,
    typer.Option("--report", help="Write the JSON report here (default: beside the apply journal).", show_default=False),
]
BeforeOption = Annotated[
    str | None,
    typer.Option(
        "--before", help="ROOT before the migration, as a git revision (default: the apply journal).", show_default=False
    ),
]
