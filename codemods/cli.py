"""The ``refactor`` command line: parse, call, render. Nothing else lives here."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from codemods.cli_help import APP_HELP
from codemods.cli_help import install as _conventional_help
from codemods.cli_options import (
    AdaptOption,
    AllowDirtyOption,
    BeforeOption,
    CheckFormat,
    CheckFormatOption,
    CheckPathsArgument,
    ClearStaleOutputsOption,
    Device,
    DeviceOption,
    DiffOption,
    DryRunOption,
    ExcludeOption,
    ExitCodeOption,
    ExitZeroOption,
    FitStackOption,
    JobsOption,
    KeepBehaviourOption,
    KeepPathsOption,
    MainFileOption,
    MigratedRootArgument,
    OnlyOption,
    PythonOption,
    QuietOption,
    RecipeOption,
    ReportFormat,
    ReportFormatOption,
    ReportOption,
    RootArgument,
    SmokeOption,
    StatisticsOption,
    StepsOption,
    StrictOption,
    UndoRootArgument,
    VersionOption,
    verbose_option,
)
from codemods.cli_params import install as _convert_without_pydantic
from codemods.cli_recovery import interrupted
from codemods.cli_recovery import recover_interrupted as _recover_interrupted
from codemods.consoles import plain, stderr_console, stdout_console
from codemods.core.preflight import RootError, check_root, missing_main_file, nothing_of_the_recipe
from codemods.core.project_settings import MainFileError, discover_settings, main_file_argument
from codemods.core.recipe import RecipeError, load_recipe
from codemods.core.workspace import Workspace, WorkspaceError
from codemods.verbosity import verdict_only

app = typer.Typer(
    help=APP_HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

_convert_without_pydantic()  # half a second per run otherwise (see cli_params)

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


@app.callback()
def _main(version: VersionOption = False) -> None:
    """Options that come before the command."""


def _fail(message: str) -> typer.Exit:
    stderr_console().print(f"[bold red]error:[/] {plain(message)}")
    return typer.Exit(EXIT_BAD_INPUT)


def _refuse_if_nothing_of_the_recipe(root: Path, plan) -> None:
    """Nothing to do is success only where the plan has been carried out, not in the wrong directory."""
    try:
        reason = nothing_of_the_recipe(root, plan)
    except WorkspaceError as error:
        raise _fail(str(error)) from None
    if reason:
        raise _fail(reason)


def _recipe(root: Path, recipe: Path | None, main_file: str | None = None, *, relabel: bool = True, quiet: bool = False):
    """The recipe for ROOT (with ROOT's own main file), once ROOT is a directory, a Python file or a notebook."""
    try:
        check_root(root)
    except RootError as error:
        raise _fail(str(error)) from None
    try:
        plan = load_recipe(recipe, root, main_file_argument(root, main_file) if main_file else None, relabel=relabel)
        warnings = discover_settings(root).warnings if recipe is None and not quiet else ()
    except MainFileError as error:
        raise _fail(str(error)) from None
    except RecipeError as error:
        raise _fail(f"bad recipe: {error}") from None
    for warning in warnings:
        stderr_console().print(f"[yellow]warning:[/] {plain(warning)}")
    return plan


def _say_if_main_file_missing(root: Path, plan, quiet: bool = False) -> None:
    """Without its main file the tasks that edit it show "not applicable": say why, and how to name yours."""
    try:
        message = missing_main_file(root, plan)
    except WorkspaceError:
        return
    if message and not quiet:
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
    quiet: QuietOption = False,
    exit_code: ExitCodeOption = False,
) -> None:
    """Show the plan's tasks and whether each is pending, done or not applicable for ROOT.

    States come from the same planning pass `apply` makes (which files would each task change?),
    never from a marker file; give it the planning options you give apply. A task whose target is not
    in ROOT and never was is not applicable, not done.

    Exit codes: 0 shown (with --exit-code: nothing pending), 1 with --exit-code: a task is pending, 2 bad
    input (ROOT missing, not a Python file or notebook, or a directory holding nothing of the recipe; a bad
    recipe; a task that refuses to run safely, as `apply` would).
    """
    from codemods.apply.migration import TaskState, task_states
    from codemods.apply.output import show_status
    from codemods.apply.progress import planning_progress
    from codemods.apply.session import Refusal
    from codemods.apply.verdicts import blocked_tasks, pending_tasks, status_verdict

    _recover_interrupted(root)
    plan = _recipe(root, recipe, main_file, quiet=quiet)
    _say_if_main_file_missing(root, plan, quiet)
    try:
        options = {
            "clear_stale_outputs": clear_stale_outputs, "keep_behaviour": keep_behaviour, "keep_paths": keep_paths,
            "fit_stack": fit_stack,
        }
        with planning_progress(stdout_console(), output_format is ReportFormat.text and not quiet) as progress:
            states = task_states(root, plan, options, progress)
    except (WorkspaceError, Refusal) as error:
        raise _fail(str(error)) from None
    if all(outcome.state is not TaskState.PENDING for outcome in states):
        _refuse_if_nothing_of_the_recipe(root, plan)
    with verdict_only(stdout_console(), quiet) as console:
        show_status(console, plan, states, root, output_format=output_format.value, verbose=verbose)
        if output_format is ReportFormat.text:
            console.print(status_verdict(states))
    blocked = blocked_tasks(states)
    if blocked:
        raise _fail(f"{len(blocked)} task(s) refuse to run (task {', '.join(blocked)}); `refactor apply` would refuse too")
    raise typer.Exit(EXIT_FINDINGS if exit_code and pending_tasks(states) else EXIT_OK)


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
    quiet: QuietOption = False,
    exit_code: ExitCodeOption = False,
) -> None:
    """Carry out the plan on ROOT: every change is computed in memory, then all files are written or none.

    Exit codes: 0 success (or nothing to do), 1 --strict found unintended behaviour changes, or with
    --exit-code changes were pending (a dry run that would change files, an apply that wrote some), 2 bad input
    (ROOT missing, not a Python file or notebook, or a directory holding nothing of the recipe; a bad recipe;
    a dirty git tree; a name the plan would define twice; or a task that refuses to run safely).
    """
    from codemods.apply.migration import plan_migration, uncommitted_changes
    from codemods.apply.output import show_apply
    from codemods.apply.progress import planning_progress
    from codemods.apply.render_json import ApplyOutcome
    from codemods.apply.session import Refusal
    from codemods.core.disk import Interrupted, LockBusy
    from codemods.core.journal import commit

    _recover_interrupted(root)
    plan = _recipe(root, recipe, main_file, quiet=quiet)
    _say_if_main_file_missing(root, plan, quiet)
    try:
        dirty = None if dry_run or allow_dirty else uncommitted_changes(root)
        if dirty:
            raise _fail(dirty)
        options = {
            "clear_stale_outputs": clear_stale_outputs, "keep_behaviour": keep_behaviour, "keep_paths": keep_paths,
            "fit_stack": fit_stack, "dry_run": dry_run,
        }
        with planning_progress(stdout_console(), output_format is ReportFormat.text and not quiet) as progress:
            migration = plan_migration(root, plan, only, options=options, progress=progress)
    except (Refusal, WorkspaceError) as error:
        raise _fail(f"{error}\nnothing was written") from None

    def show(outcome: ApplyOutcome, journal: str | None = None) -> None:
        with verdict_only(stdout_console(), quiet) as console:
            show_apply(console, migration, root, outcome, output_format=output_format.value,
                       show_diff=dry_run if diff is None else diff, verbose=verbose, journal=journal)

    if not migration.changes:
        _refuse_if_nothing_of_the_recipe(root, plan)
        show(ApplyOutcome.NOTHING_TO_DO)
        raise typer.Exit(EXIT_OK)
    if strict and migration.report.unintended_changes:
        show(ApplyOutcome.REFUSED)
        raise typer.Exit(EXIT_FINDINGS)
    if dry_run:
        show(ApplyOutcome.DRY_RUN)
        raise typer.Exit(EXIT_FINDINGS if exit_code else EXIT_OK)
    try:
        result = commit(migration.context.workspace)
    except (OSError, LockBusy, WorkspaceError) as error:
        raise _fail(f"{error}\nnothing was written: every file is as it was") from None
    except (KeyboardInterrupt, Interrupted) as interruption:
        raise interrupted(f"({interruption or 'Ctrl-C'}): every file was restored") from None
    if result.interrupted_after_commit:
        raise interrupted(f"after the migration was written: it stands, whole (journal {result.journal}). "
                          f"Undo with: refactor undo {shlex.quote(str(root))}")
    show(ApplyOutcome.WRITTEN, journal=str(result.journal))
    raise typer.Exit(EXIT_FINDINGS if exit_code else EXIT_OK)


@app.command()
def undo(
    root: UndoRootArgument,
    force: Annotated[bool, typer.Option("--force", help="Restore even files edited after the migration.")] = False,
    verbose: verbose_option("list every restored file; undo always does, so -v changes nothing here") = False,
    quiet: QuietOption = False,
) -> None:
    """Restore the files of the last `refactor apply` on ROOT to their exact previous bytes and modes."""
    from codemods.core.disk import Interrupted, LockBusy
    from codemods.core.journal import UndoError
    from codemods.core.journal import undo as undo_migration

    if not root.exists():
        raise _fail(f"{root} does not exist")
    _recover_interrupted(root)
    try:
        undone = undo_migration(root, force=force)
    except (UndoError, WorkspaceError, LockBusy, OSError) as error:
        raise _fail(f"{error}" + ("" if isinstance(error, UndoError) else "\nnothing was restored")) from None
    except (KeyboardInterrupt, Interrupted) as interruption:
        raise interrupted(f"({interruption or 'Ctrl-C'}): undo was rolled back; the files are as they were") from None
    restored = undone.paths
    if undone.interrupted_after_commit:
        raise interrupted(f"after the undo was written: {len(restored)} file(s) are restored")
    for path in restored if not quiet else ():
        stdout_console().print(f"restored {plain(path)}")
    stdout_console().print(f"[green]Undone:[/] {len(restored)} file(s) restored.")
    staged = Workspace(root).staged_otherwise(list(restored))
    if staged:
        listed = " ".join(plain(shlex.quote(path)) for path in staged)
        stderr_console().print(
            f"[yellow]warning:[/] the migration is still staged in git for {len(staged)} file(s) (added after apply); "
            f"a commit now would record it. Unstage it with: git restore --staged -- {listed}",
            soft_wrap=True,
        )


@app.command()
def check(
    paths: CheckPathsArgument,
    output_format: CheckFormatOption = CheckFormat.text,
    exclude: ExcludeOption = None,
    jobs: JobsOption = None,
    verbose: verbose_option("say which files were skipped and why (symlinks, syntax)") = False,
    quiet: QuietOption = False,
    statistics: StatisticsOption = False,
    exit_zero: ExitZeroOption = False,
    recipe: RecipeOption = None,
    main_file: MainFileOption = None,
) -> None:
    """Fail when the recipe's old names appear outside the legacy and deprecated-alias sections.

    Scans Python files and notebooks (code, markdown and stored outputs). Columns are 1-based and counted
    in characters. A line ending in `# refactor: allow-stale` is allowed. Old names in stored notebook
    outputs are reported as warnings (they record past runs) and do not fail the check.

    Given files (as a pre-commit hook passes them), each is checked within the repository that holds it,
    with the recipe that repository's pyproject.toml names; other files are skipped.

    Exit codes: 0 clean (always, with --exit-zero, unless an error), 1 stale names found, 2 error (a PATH
    missing or unreadable, a directory holding nothing to check; a bad recipe; an unreadable file).
    """
    from codemods.check import CheckError
    from codemods.check.output import show_check
    from codemods.check.paths import check_paths

    def recipe_for(root: Path):
        _recover_interrupted(root)
        return _recipe(root, recipe, main_file, relabel=False, quiet=quiet)  # the check greps for relabels

    progress = output_format is CheckFormat.text and not quiet and sys.stderr.isatty()
    try:
        if len(paths) == 1:
            check_root(paths[0])  # one PATH is a ROOT; among several, what the check does not read is skipped
        result, plan = check_paths(paths, recipe_for, exclude or (), jobs, progress)
    except (CheckError, RootError) as error:
        raise _fail(str(error)) from None
    show_check(result, plan, output_format.value, verbose=verbose, quiet=quiet, statistics=statistics)
    raise typer.Exit(result.exit_code if not exit_zero or result.errors else EXIT_OK)


@app.command()
def verify(
    root: MigratedRootArgument,
    smoke: SmokeOption = True,
    device: DeviceOption = Device.auto,
    steps: StepsOption = 5,
    report: ReportOption = None,
    recipe: RecipeOption = None,
    main_file: MainFileOption = None,
    adapt: AdaptOption = False,
    python: PythonOption = None,
    before: BeforeOption = None,
    verbose: verbose_option("show every check; verify always does, so -v changes nothing here") = False,
    quiet: QuietOption = False,
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
    from codemods.verify import report as reports
    from codemods.verify.before import BeforeError
    from codemods.verify.behaviour import behaviour_tables
    from codemods.verify.interpreter import InterpreterError, check_interpreter

    _recover_interrupted(root)
    plan = _recipe(root, recipe, main_file, quiet=quiet)
    _refuse_if_nothing_of_the_recipe(root, plan)
    try:
        interpreter = check_interpreter(python) if python is not None else None
    except InterpreterError as error:
        raise _fail(str(error)) from None
    report_path = report or reports.default_report_path(root)
    if problem := reports.report_path_problem(report_path):
        raise _fail(problem)
    try:
        outcome = run_verification(root, plan, smoke=smoke, device=device.value, steps=steps, adapt=adapt,
                                   **({"progress": None} if quiet else {}),  # -q: the verdict line only
                                   interpreter=interpreter, before_rev=before, report_path=report_path)
    except BeforeError as error:
        raise _fail(str(error)) from None
    with verdict_only(stdout_console(), quiet) as console:
        render_verification(outcome, console, behaviour_tables(outcome))
    try:
        artifacts = reports.write_report(outcome, report_path)
    except OSError as error:
        raise _fail(f"cannot write the report {report_path}: {error.strerror or error}") from None
    if not quiet:
        reports.render_artifacts(artifacts, stdout_console())
    raise typer.Exit(outcome.exit_code)


_conventional_help(app)  # after every command is registered

if __name__ == "__main__":  # pragma: no cover
    app()
