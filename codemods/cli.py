"""The ``refactor`` command line: parse, call, render. Nothing else lives here."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from codemods.cli_options import (
    AdaptOption,
    AllowDirtyOption,
    ClearStaleOutputsOption,
    DiffOption,
    DryRunOption,
    FitStackOption,
    KeepBehaviourOption,
    KeepPathsOption,
    OnlyOption,
    PythonOption,
    ReportFormat,
    ReportFormatOption,
    StrictOption,
)
from codemods.cli_params import install as _convert_without_pydantic
from codemods.consoles import plain, stderr_console, stdout_console
from codemods.core.preflight import RootError, check_root, missing_main_file, nothing_of_the_recipe
from codemods.core.project_settings import MainFileError, main_file_argument
from codemods.core.recipe import RecipeError, load_recipe
from codemods.core.workspace import Workspace, WorkspaceError

app = typer.Typer(
    help=(
        "Carry out a written refactoring plan on a VLM training repository.\n\n"
        "The plan is a recipe (the bundled one is 'Clean Up & Consolidate Training Configs'): "
        "`status` shows which of its tasks are pending, `apply --dry-run` shows every change "
        "as a diff plus a table of config behaviour changes, `apply` writes all files or none, "
        "`undo` restores them, `check` guards against stale names in CI, and `verify` proves "
        "the migrated code still trains."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

_convert_without_pydantic()  # half a second per run otherwise (see cli_params)

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2

RootArgument = Annotated[
    Path,
    typer.Argument(
        help="Repository directory to migrate, or a single main file (.py) or notebook (.ipynb): then only "
        "that file is migrated.",
        show_default=False,
    ),
]
RecipeOption = Annotated[
    Path | None,
    typer.Option(
        "--recipe",
        help="Recipe TOML describing the plan. Default: \\[tool.refactor] recipe in ROOT's pyproject.toml, "
        "else the bundled plan.",
        show_default=False,
    ),
]
MainFileOption = Annotated[
    str | None,
    typer.Option(
        "--main-file",
        help="The repository's main notebook-script, when it is not the recipe's (e.g. train.py): a path inside "
        "ROOT. Default: \\[tool.refactor] main_file in ROOT's pyproject.toml, else the recipe's.",
        show_default=False,
    ),
]


def _fail(message: str) -> typer.Exit:
    stderr_console().print(f"[bold red]error:[/] {plain(message)}")
    return typer.Exit(EXIT_BAD_INPUT)


def _recover_interrupted(root: Path) -> None:
    """Roll back what a killed `refactor apply` or `undo` left half-written, and say so, before anything else."""
    from codemods.core.disk import LockBusy
    from codemods.core.journal import JournalError, recover

    if not root.exists():
        return
    try:
        recovered = recover(root)
    except LockBusy as busy:
        stderr_console().print(f"[yellow]warning:[/] {plain(str(busy))}; what follows may be out of date")
        return
    except (JournalError, WorkspaceError, OSError) as error:
        raise _fail(f"cannot recover an interrupted transaction: {error}") from None
    for done in recovered:
        stderr_console().print(
            f"[yellow]recovered:[/] an interrupted `refactor {plain(done.label)}` was rolled back; "
            f"{len(done.restored)} file(s) restored to their exact previous bytes"
            + (f" ({plain(', '.join(done.restored))})" if done.restored else "")
        )


def _refuse_if_nothing_of_the_recipe(root: Path, plan) -> None:
    """Nothing to do is success only where the plan has been carried out, not in the wrong directory."""
    try:
        reason = nothing_of_the_recipe(root, plan)
    except WorkspaceError as error:
        raise _fail(str(error)) from None
    if reason:
        raise _fail(reason)


def _recipe(root: Path, recipe: Path | None, main_file: str | None = None):
    """The recipe for ROOT (with ROOT's own main file), once ROOT is a directory, a Python file or a notebook."""
    try:
        check_root(root)
    except RootError as error:
        raise _fail(str(error)) from None
    try:
        return load_recipe(recipe, root, main_file_argument(root, main_file) if main_file else None)
    except MainFileError as error:
        raise _fail(str(error)) from None
    except RecipeError as error:
        raise _fail(f"bad recipe: {error}") from None


def _say_if_main_file_missing(root: Path, plan) -> None:
    """Without its main file the tasks that edit it show "not applicable": say why, and how to name yours."""
    try:
        message = missing_main_file(root, plan)
    except WorkspaceError:
        return
    if message:
        stderr_console().print(f"[yellow]warning:[/] {plain(message)}")


@app.command()
def status(
    root: RootArgument,
    recipe: RecipeOption = None,
    main_file: MainFileOption = None,
    clear_stale_outputs: ClearStaleOutputsOption = False,
    keep_behaviour: KeepBehaviourOption = False,
    keep_paths: KeepPathsOption = False,
    fit_stack: FitStackOption = False,
    output_format: ReportFormatOption = ReportFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also say what each task does.")] = False,
) -> None:
    """Show the plan's tasks and whether each is pending, done or not applicable for ROOT.

    States come from the same planning pass `apply` makes (which files would each task change?),
    never from a marker file; give it the planning options you give apply. Exit codes: 0 shown, 2 bad
    input (ROOT missing, not a Python file or notebook, or a directory holding nothing of the recipe; a bad
    recipe).
    """
    from codemods.apply.migration import TaskState, task_states
    from codemods.apply.output import show_status
    from codemods.apply.progress import planning_progress
    from codemods.apply.session import Refusal

    _recover_interrupted(root)
    plan = _recipe(root, recipe, main_file)
    _say_if_main_file_missing(root, plan)
    try:
        options = {
            "clear_stale_outputs": clear_stale_outputs, "keep_behaviour": keep_behaviour, "keep_paths": keep_paths,
            "fit_stack": fit_stack,
        }
        with planning_progress(stdout_console(), output_format is ReportFormat.text) as progress:
            states = task_states(root, plan, options, progress)
    except (WorkspaceError, Refusal) as error:
        raise _fail(str(error)) from None
    if all(outcome.state is not TaskState.PENDING for outcome in states):
        _refuse_if_nothing_of_the_recipe(root, plan)
    show_status(stdout_console(), plan, states, root, output_format=output_format.value, verbose=verbose)


@app.command()
def apply(
    root: RootArgument,
    dry_run: DryRunOption = False,
    recipe: RecipeOption = None,
    main_file: MainFileOption = None,
    only: OnlyOption = None,
    allow_dirty: AllowDirtyOption = False,
    strict: StrictOption = False,
    clear_stale_outputs: ClearStaleOutputsOption = False,
    keep_behaviour: KeepBehaviourOption = False,
    keep_paths: KeepPathsOption = False,
    fit_stack: FitStackOption = False,
    diff: DiffOption = None,
    output_format: ReportFormatOption = ReportFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list informational notes.")] = False,
) -> None:
    """Carry out the plan on ROOT: every change is computed in memory, then all files are written or none.

    Exit codes: 0 success (or nothing to do), 1 --strict found unintended behaviour changes, 2 bad input
    (ROOT missing, not a Python file or notebook, or a directory holding nothing of the recipe; a bad recipe;
    a dirty git tree; a name the plan would define twice; or a task that refuses to run safely).
    """
    from codemods.apply.migration import plan_migration
    from codemods.apply.output import show_apply
    from codemods.apply.progress import planning_progress
    from codemods.apply.render_json import ApplyOutcome
    from codemods.apply.session import Refusal
    from codemods.core.disk import Interrupted, LockBusy
    from codemods.core.journal import commit

    _recover_interrupted(root)
    plan = _recipe(root, recipe, main_file)
    _say_if_main_file_missing(root, plan)
    try:
        if not dry_run and not allow_dirty:
            dirty = Workspace(root).is_dirty()
            if dirty:
                raise _fail(
                    "ROOT has uncommitted changes (" + ", ".join(dirty[:5]) + ("…" if len(dirty) > 5 else "") + "); "
                    "commit or stash them first, or pass --allow-dirty"
                )
        options = {
            "clear_stale_outputs": clear_stale_outputs, "keep_behaviour": keep_behaviour, "keep_paths": keep_paths,
            "fit_stack": fit_stack,
        }
        with planning_progress(stdout_console(), output_format is ReportFormat.text) as progress:
            migration = plan_migration(root, plan, only, options=options, progress=progress)
    except (Refusal, WorkspaceError) as error:
        raise _fail(f"{error}\nnothing was written") from None

    def show(outcome: ApplyOutcome, journal: str | None = None) -> None:
        show_apply(stdout_console(), migration, root, outcome, output_format=output_format.value,
                   show_diff=dry_run if diff is None else diff, verbose=verbose, journal=journal)

    if not migration.changes:
        _refuse_if_nothing_of_the_recipe(root, plan)
        show(ApplyOutcome.NOTHING_TO_DO)
        raise typer.Exit(EXIT_OK)
    unintended = migration.report.unintended_changes
    if strict and unintended:
        show(ApplyOutcome.REFUSED)
        stderr_console().print(
            f"[bold red]--strict:[/] {len(unintended)} unintended behaviour change(s); nothing was written."
        )
        raise typer.Exit(EXIT_FINDINGS)
    if dry_run:
        show(ApplyOutcome.DRY_RUN)
        raise typer.Exit(EXIT_OK)
    try:
        result = commit(migration.context.workspace)
    except (OSError, LockBusy, WorkspaceError) as error:
        raise _fail(f"{error}\nnothing was written: every file is as it was") from None
    except (KeyboardInterrupt, Interrupted) as interruption:
        stderr_console().print(f"[bold red]interrupted[/] ({plain(str(interruption) or 'Ctrl-C')}): every file was restored")
        raise typer.Exit(130) from None
    show(ApplyOutcome.WRITTEN, journal=str(result.journal))


@app.command()
def undo(
    root: RootArgument,
    force: Annotated[bool, typer.Option("--force", help="Restore even files edited after the migration.")] = False,
) -> None:
    """Restore the files of the last `refactor apply` on ROOT to their exact previous bytes and modes."""
    from codemods.core.disk import Interrupted, LockBusy
    from codemods.core.journal import UndoError
    from codemods.core.journal import undo as undo_migration

    if not root.exists():
        raise _fail(f"{root} does not exist")
    _recover_interrupted(root)
    try:
        restored = undo_migration(root, force=force)
    except (UndoError, WorkspaceError, LockBusy, OSError) as error:
        raise _fail(f"{error}" + ("" if isinstance(error, UndoError) else "\nnothing was restored")) from None
    except (KeyboardInterrupt, Interrupted):
        stderr_console().print("[bold red]interrupted:[/] undo was rolled back; the files are as they were")
        raise typer.Exit(130) from None
    for path in restored:
        stdout_console().print(f"restored {plain(path)}")
    stdout_console().print(f"[green]Undone:[/] {len(restored)} file(s) restored.")


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


@app.command()
def check(
    root: RootArgument,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="text (rich), json, github (workflow annotations) or sarif.")
    ] = OutputFormat.text,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Glob of paths to skip, on top of .gitignore; repeatable.", show_default=False),
    ] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also say which files were skipped and why (symlinks, syntax).")
    ] = False,
    recipe: RecipeOption = None,
    main_file: MainFileOption = None,
) -> None:
    """Fail when the recipe's old names appear outside the legacy and deprecated-alias sections.

    Scans Python files and notebooks (code, markdown and stored outputs). Columns are 1-based and counted
    in characters. A line ending in `# refactor: allow-stale` is allowed. Old names in stored notebook
    outputs are reported as warnings (they record past runs) and do not fail the check.
    Exit codes: 0 clean, 1 stale names found, 2 error (ROOT missing or unreadable, not a Python file or
    notebook, or holding none to check; a bad recipe; an unreadable file).
    """
    from codemods.check import CheckError, find_stale
    from codemods.check.formats import render_github, render_json, render_sarif, render_text

    _recover_interrupted(root)
    plan = _recipe(root, recipe, main_file)
    progress = output_format is OutputFormat.text and sys.stderr.isatty()
    try:
        result = find_stale(root, plan, exclude=exclude or (), jobs=jobs, progress=progress)
    except CheckError as error:
        raise _fail(str(error)) from None
    if result.files_scanned == 0 and not result.errors:
        # A check that read nothing is a wrong path or an --exclude that hides everything, not a clean tree.
        hidden = " (after --exclude)" if exclude else ""
        raise _fail(f"nothing to check: {root} holds no Python file or notebook{hidden}")
    if output_format is OutputFormat.text:
        render_text(result, stdout_console())
        if verbose:
            for note in result.notes:
                stdout_console().print(f"[dim]note: {plain(note)}[/]")
    else:
        renderers = {
            OutputFormat.json: render_json,
            OutputFormat.github: render_github,
            OutputFormat.sarif: lambda r: render_sarif(r, plan),
        }
        sys.stdout.write(renderers[output_format](result))
        if verbose:
            for note in result.notes:
                stderr_console().print(f"note: {plain(note)}")
    raise typer.Exit(result.exit_code)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@app.command()
def verify(
    root: RootArgument,
    smoke: Annotated[
        bool, typer.Option("--smoke/--no-smoke", help="Also run a short LoRA training on the tiny Qwen2-VL kit.")
    ] = True,
    device: Annotated[Device, typer.Option("--device", help="Where the smoke run trains.")] = Device.auto,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Training steps per variant in the smoke run.")] = 5,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the JSON report here (default: beside the apply journal).", show_default=False)
    ] = None,
    recipe: RecipeOption = None,
    main_file: MainFileOption = None,
    adapt: AdaptOption = False,
    python: PythonOption = None,
    before: Annotated[
        str | None, typer.Option("--before", help="ROOT before the migration, as a git revision (default: the apply journal).", show_default=False)
    ] = None,
) -> None:
    """Prove the migrated ROOT is sound: no stale names, files parse, the stack accepts the config, and (with
    --smoke) it still trains.

    Verify runs the repository's own code (it imports the migrated modules, and trains with --smoke), and
    says so before it does. Exit codes: 0 every check passed (or, with --adapt, passed with adaptations),
    1 a check failed (a keyword the stack refuses, without --adapt), 2 bad input (ROOT missing, not a
    Python file or notebook, or holding nothing of the recipe; a bad recipe; a --python interpreter that
    does not exist or lacks torch, transformers, trl or peft).
    """
    from codemods.verify import render_verification, run_verification
    from codemods.verify.before import BeforeError
    from codemods.verify.behaviour import behaviour_tables
    from codemods.verify.interpreter import InterpreterError, check_interpreter
    from codemods.verify.report import default_report_path, render_artifacts, write_report

    _recover_interrupted(root)
    plan = _recipe(root, recipe, main_file)
    _refuse_if_nothing_of_the_recipe(root, plan)
    try:
        interpreter = check_interpreter(python) if python is not None else None
    except InterpreterError as error:
        raise _fail(str(error)) from None
    report_path = report or default_report_path(root)
    try:
        outcome = run_verification(root, plan, smoke=smoke, device=device.value, steps=steps, adapt=adapt,
                                   interpreter=interpreter, before_rev=before, report_path=report_path)
    except BeforeError as error:
        raise _fail(str(error)) from None
    render_verification(outcome, stdout_console())
    for table in behaviour_tables(outcome):
        stdout_console().print(table)
    render_artifacts(write_report(outcome, report_path), stdout_console())
    raise typer.Exit(outcome.exit_code)


if __name__ == "__main__":  # pragma: no cover
    app()
