"""Running the check over a tree: listing, the ``git grep`` pre-filter, worker processes, the progress bar.

Files are listed by ``git ls-files`` (or one ``os.scandir`` walk outside git).
A cheap text pre-filter picks the files that mention an old name at all: in a
git work tree ``git grep -F -l`` (started before the listing, so both run at
once), elsewhere the scanner reads every file's bytes and tests them with
``in``. Many candidate files are spread over worker processes, each running a
:class:`codemods.check.scan._Scanner`.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import posixpath
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from codemods.check.findings import CheckError, CheckResult, Finding
from codemods.check.scan import _Outcome, _Scanner
from codemods.core.git_grep import GitGrep
from codemods.core.kinds import NOTEBOOK_OUTPUT, UNPARSED_TEXT
from codemods.core.links import LINK_OUT, links_out_holding
from codemods.core.recipe import Recipe
from codemods.core.relabel import literals as relabel_literals
from codemods.core.relabel import with_relabelled
from codemods.core.workspace import Workspace, WorkspaceError

SUFFIXES = (".py", ".ipynb")
# Below this many files to read, or candidate files to parse, one process is faster than starting workers.
PARALLEL_MIN_FILES = 1500
PARALLEL_MIN_CANDIDATES = 64
# Below these a progress bar would only flicker.
PROGRESS_MIN_FILES = 2000
PROGRESS_MIN_CANDIDATES = 200

_WORKER: _Scanner | None = None


def _init_worker(scanner: _Scanner) -> None:
    global _WORKER
    _WORKER = scanner


def _scan_chunk(relatives: list[str]) -> _Outcome:
    assert _WORKER is not None
    return _WORKER.scan_many(relatives)


def excluded(relative: str, patterns: Sequence[str]) -> bool:
    """Whether ``--exclude`` globs leave this file out: a glob matches the path, a parent or (without ``/``) a name."""
    if not patterns:
        return False
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        pattern = raw.strip()
        while pattern.startswith("./"):
            pattern = pattern[2:]
        pattern = pattern.rstrip("/")
        if not pattern:
            continue
        variants = {pattern, pattern[3:]} if pattern.startswith("**/") else {pattern}
        for glob in variants:
            if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes):
                return True
            if "/" not in glob and any(fnmatch.fnmatchcase(part, glob) for part in parts):
                return True
    return False


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _display_root(root: Path) -> str:
    text = root.as_posix()
    return posixpath.normpath(text) if text not in ("", ".") else "."


def find_stale(
    root: Path,
    recipe: Recipe,
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    progress: bool = False,
    *,
    prefilter: str = "auto",
) -> CheckResult:
    """Every old name of the recipe under ROOT outside the allowed places.

    ``exclude``: globs (``--exclude``) matched against paths inside ROOT, their
    parent directories and, without a ``/``, single names. ``jobs``: worker
    processes (default: the usable cores; 1 keeps everything in this process).
    ``progress``: a progress bar on stderr for long runs. ``prefilter``: how
    files are picked for a closer look: ``"git"`` (``git grep -F -l``, in a git
    work tree), ``"python"`` (read every file and test its bytes) or ``"auto"``
    (git where possible). Raises :class:`CheckError` when ROOT cannot be read.
    """
    if prefilter not in ("auto", "git", "python"):
        raise ValueError(f"prefilter must be 'auto', 'git' or 'python', not {prefilter!r}")
    root = Path(root)
    if not root.exists():
        raise CheckError(f"{root}: no such file or directory")
    if not os.access(root, os.R_OK | (os.X_OK if root.is_dir() else 0)):
        raise CheckError(f"{root}: permission denied")
    try:
        workspace = Workspace(root)
    except (WorkspaceError, OSError) as error:
        raise CheckError(str(error)) from None
    notes: list[str] = []
    grep = None
    if prefilter != "python" and workspace.git_root is not None and workspace.single_file is None:
        # One grep runs while the files are listed: for the old names, and for what relabelled names hold.
        words = [*recipe.old_names, *recipe.prose_relabels, *relabel_literals(recipe.relabels)]
        grep = GitGrep.start(workspace.directory, words, SUFFIXES)
        classifier = _ClassifierImport()  # and LibCST loads meanwhile, in case a file holds an old name
    else:
        classifier = None
    try:
        listed = workspace.files(SUFFIXES, trust_index=True)
    except (WorkspaceError, OSError) as error:
        if grep is not None:
            grep.cancel()
        raise CheckError(str(error)) from None
    relatives = [r for r in listed if not excluded(r, exclude)]

    to_scan = relatives
    prefiltered = False
    matched = grep.finish() if grep is not None else None
    if grep is not None and matched is None:
        notes.append(f"git grep failed ({grep.problem}); every file was read instead")
    elif matched is not None:
        to_scan = [r for r in relatives if r in matched]
        prefiltered = True
    recipe = with_relabelled(recipe, root, None if matched is None else {r for r in listed if r in matched})
    scanner = _Scanner(str(workspace.directory), _display_root(root), recipe, workspace.single_file)
    notes += [f"{scanner.display(r)}: skipped, {why}" for r, why in sorted(workspace.skipped_symlinks.items())]
    errors = [f"{scanner.display(r)}: cannot list: {why}" for r, why in sorted(workspace.unlistable.items())]
    errors += [
        f"{scanner.display(r)}: {LINK_OUT.format(target=target)}: replace the link with the file, or migrate that "
        "file where it lies" for r, target in sorted(links_out_holding(workspace, scanner.needles).items())
    ]

    if classifier is not None and to_scan:
        classifier.wait()  # before any fork: a child must not inherit a half-held import lock
    jobs = _cpu_count() if jobs is None else max(1, jobs)
    heavy = len(to_scan) >= (PARALLEL_MIN_CANDIDATES if prefiltered else PARALLEL_MIN_FILES)
    long_run = len(to_scan) >= (PROGRESS_MIN_CANDIDATES if prefiltered else PROGRESS_MIN_FILES)
    bar = _ProgressBar(len(to_scan)) if progress and long_run else None
    if jobs > 1 and heavy:
        if prefiltered and to_scan:
            import libcst  # noqa: F401 - imported once here, inherited by forked workers
        try:
            outcome = _scan_parallel(scanner, to_scan, jobs, bar)
        except (OSError, RuntimeError) as error:  # no process pool here: scan in this process
            notes.append(f"worker processes unavailable ({error}); scanned in one process")
            outcome = _scan_serial(scanner, to_scan, bar)
    else:
        outcome = _scan_serial(scanner, to_scan, bar)

    findings = sorted(outcome.findings, key=_order)
    unparsed = sorted({path for path, _ in outcome.unparsed})
    notes += outcome.notes
    notes += [f"{path}: {reason}; its old names are reported as {UNPARSED_TEXT!r}" for path, reason in outcome.unparsed]
    return CheckResult(
        findings=findings,
        files_scanned=len(relatives),
        files_parsed=outcome.parsed,
        unparsed=unparsed,
        errors=errors + outcome.errors,
        notes=notes,
        files_matched=outcome.matched,
        root=scanner.display_root,
    )


class _ClassifierImport:
    """Imports the occurrence classifier (LibCST, a quarter of a second) on a thread.

    ``git grep`` and the file listing run in other processes meanwhile, so on a
    repository with old names the import costs no wall time; on a clean one the
    thread is simply never waited for.
    """

    def __init__(self) -> None:
        self._thread = threading.Thread(target=self._load, name="import-classifier", daemon=True)
        self._thread.start()

    @staticmethod
    def _load() -> None:
        try:
            importlib.import_module("codemods.core.code_kinds")
        except Exception:  # noqa: BLE001 - the scan imports it again and reports the error there
            pass

    def wait(self) -> None:
        self._thread.join()


def _order(finding: Finding) -> tuple:
    """By file; in a notebook by cell, its source before its outputs, each in the order of the file."""
    return (
        finding.path,
        finding.cell if finding.cell is not None else -1,
        finding.kind == NOTEBOOK_OUTPUT,
        finding.file_line if finding.file_line is not None else finding.line,
        finding.file_column if finding.file_column is not None else finding.column,
    )


def _scan_serial(scanner: _Scanner, relatives: list[str], bar) -> _Outcome:
    if bar is None:
        return scanner.scan_many(relatives)
    outcome = _Outcome()
    step = 200
    with bar as (progress, task):
        for start in range(0, len(relatives), step):
            outcome.merge(scanner.scan_many(relatives[start : start + step]))
            progress.advance(task, len(relatives[start : start + step]))
    return outcome


def _scan_parallel(scanner: _Scanner, relatives: list[str], jobs: int, bar) -> _Outcome:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Contiguous slices, a few per worker so that a slow slice does not leave a core idle.
    count = max(jobs * 4, 1)
    size = -(-len(relatives) // count)
    chunks = [relatives[i : i + size] for i in range(0, len(relatives), size)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork") if sys.platform == "linux" and "fork" in methods else None
    outcome = _Outcome()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(scanner,)) as pool:
        # Workers start (fork) on the first submit, before any progress-bar thread exists.
        futures = {pool.submit(_scan_chunk, chunk): len(chunk) for chunk in chunks}
        if bar is None:
            for future in as_completed(futures):
                outcome.merge(future.result())
        else:
            with bar as (progress, task):
                for future in as_completed(futures):
                    outcome.merge(future.result())
                    progress.advance(task, futures[future])
    return outcome


class _ProgressBar:
    def __init__(self, total: int):
        self.total = total

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self.progress.__enter__()
        task = self.progress.add_task("files", total=self.total)
        return self.progress, task

    def __exit__(self, *exc_info) -> None:
        self.progress.__exit__(*exc_info)
