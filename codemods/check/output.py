"""What `refactor check` prints, in the format asked for, at the verbosity asked for.

``text`` is for people; ``json``, ``github`` and ``sarif`` (see :mod:`codemods.check.formats`)
are for programs and are printed whole at every verbosity, their notes going to
stderr with ``-v``. ``--statistics`` replaces the findings with one line (or JSON
object) per old name and kind. ``-q`` keeps the errors (on stderr) and the verdict line.
"""

from __future__ import annotations

import sys

from codemods.check.findings import CheckResult
from codemods.check.formats import render_github, render_json, render_sarif, render_text
from codemods.check.statistics import render_statistics_json, render_statistics_text
from codemods.consoles import plain, stderr_console, stdout_console
from codemods.core.recipe import Recipe
from codemods.verbosity import verdict_only

TEXT, JSON, GITHUB, SARIF = "text", "json", "github", "sarif"


def show_check(
    result: CheckResult, recipe: Recipe | None, output_format: str = TEXT, *,
    verbose: bool = False, quiet: bool = False, statistics: bool = False,
) -> None:
    if output_format == TEXT:
        with verdict_only(stdout_console(), quiet) as console:
            (render_statistics_text if statistics else render_text)(result, console)
            for note in result.notes if verbose and not quiet else ():
                console.print(f"[dim]note: {plain(note)}[/]")
        for error in result.errors if quiet else ():
            stderr_console().print(f"[red]error:[/] {plain(error)}")
        return
    if statistics and output_format == JSON:
        sys.stdout.write(render_statistics_json(result))
    elif output_format == SARIF:
        sys.stdout.write(render_sarif(result, recipe) if recipe is not None else render_json(result))
    else:
        sys.stdout.write({JSON: render_json, GITHUB: render_github}[output_format](result))
    for note in result.notes if verbose else ():
        stderr_console().print(f"note: {plain(note)}")
