"""Output formats of ``refactor check``: text (rich), JSON, GitHub workflow commands and SARIF 2.1.0.

Text is for people (grouped by file, with the source line). The other three are
for machines and never include colour, progress or summaries:

* ``json``: a list of findings, each with the keys of :meth:`Finding.to_dict`
  in that order;
* ``github``: one ``::error file=…,line=…,col=…::message`` line per finding (a
  ``::warning`` for a file that does not parse and an ``::error`` for a file
  that cannot be read), which GitHub Actions turns into annotations;
* ``sarif``: a SARIF 2.1.0 log for code-scanning upload, columns counted in
  Unicode code points (``columnKind: unicodeCodePoints``), like everywhere else.

Notebook findings point into the ``.ipynb`` file itself (``file_line``/
``file_column``) in ``github`` and ``sarif``, and name the cell in the message.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from rich.console import Console
from rich.text import Text

from codemods import __version__ as _VERSION
from codemods.check.findings import CheckResult, Finding
from codemods.consoles import plain, visible
from codemods.core.kinds import IDENTIFIER_CONTAINING, KEYWORD, NOTEBOOK_OUTPUT, UNPARSED_TEXT
from codemods.core.recipe import Recipe
from codemods.core.workspace import git_toplevel

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "refactor check"

# SARIF rules: every finding is one of these.
RULE_STALE = "stale-name"
RULE_STALE_IN_IDENTIFIER = "stale-name-in-identifier"
RULE_UNPARSED = "stale-name-in-unparsed-file"
_SOURCE_WIDTH = 160
# What json.dumps leaves raw but a terminal may obey: DEL, C1 controls, bidi overrides.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _json(data: object) -> str:
    """JSON keeping every character of the data, with each control character as a ``\\uXXXX`` escape."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n"


def _message(finding: Finding) -> str:
    where = f" (cell {finding.cell}, line {finding.line})" if finding.cell is not None else ""
    if finding.kind == IDENTIFIER_CONTAINING:
        return (
            f"identifier containing the old name `{finding.old_name}`{where}: rename it to `{finding.suggestion}`"
        )
    kind = "text of a file that does not parse" if finding.kind == UNPARSED_TEXT else finding.kind
    return f"old name `{finding.old_name}` ({kind}){where}: use `{finding.suggestion}`"


def _rule(finding: Finding) -> str:
    if finding.kind == UNPARSED_TEXT:
        return RULE_UNPARSED
    if finding.kind == IDENTIFIER_CONTAINING:
        return RULE_STALE_IN_IDENTIFIER
    return RULE_STALE


def _file_position(finding: Finding) -> tuple[int, int]:
    line = finding.file_line if finding.file_line is not None else finding.line
    column = finding.file_column if finding.file_column is not None else finding.column
    return line, column


# ------------------------------------------------------------------------ json
def render_json(result: CheckResult) -> str:
    """A JSON list of findings (stable keys, see ``Finding.to_dict``)."""
    return _json([f.to_dict() for f in result.findings])


# ---------------------------------------------------------------------- github
def _escape_data(text: str) -> str:
    # A runner echoes the command into the log, where a control character would reach the terminal.
    return visible(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _checkout() -> Path:
    """Where annotation paths start: the git checkout around the working directory (GitHub's workspace)."""
    cwd = Path.cwd().resolve()
    return git_toplevel(cwd) or cwd


def _from_checkout(path: str, checkout: Path) -> str:
    """``path`` (as the check was given it) relative to the checkout, when it lies inside it."""
    if Path(path).is_absolute():
        return path
    full = Path(os.path.normpath(Path.cwd().resolve() / path))
    try:
        return full.relative_to(checkout).as_posix()
    except ValueError:
        return path


def render_github(result: CheckResult) -> str:
    """GitHub Actions workflow commands, one line per finding; paths from the checkout's root (`../` would not land)."""
    lines = []
    checkout = _checkout()
    for finding in result.findings:
        line, column = _file_position(finding)
        path = _from_checkout(finding.path, checkout)
        lines.append(
            f"::{finding.severity} file={_escape_property(path)},line={line},col={column}::"
            f"{_escape_data(_message(finding))}"
        )
    for path in result.unparsed:
        file = _from_checkout(path.split(" (cell ", 1)[0], checkout)
        lines.append(
            f"::warning file={_escape_property(file)}::"
            f"{_escape_data(f'{path} does not parse; its old names are reported from its text')}"
        )
    for error in result.errors:
        lines.append(f"::error title={_escape_property(TOOL_NAME)}::{_escape_data(error)}")
    return "".join(f"{line}\n" for line in lines)


# ----------------------------------------------------------------------- sarif
def _uri(path: str) -> tuple[str, bool]:
    """A SARIF artifact URI: relative (to the checkout) when the path is, else a file URI."""
    if posixpath.isabs(path) or Path(path).is_absolute():
        return Path(path).resolve().as_uri(), False
    return quote(PurePosixPath(path).as_posix(), safe="/"), True


def _rules(recipe: Recipe) -> list[dict]:
    renames = ", ".join(f"{old} -> {new}" for old, new in sorted(recipe.old_names.items()))
    plan = recipe.title or recipe.name
    return [
        {
            "id": RULE_STALE,
            "name": "StaleName",
            "shortDescription": {"text": "An old name retired by the refactoring plan is used again."},
            "fullDescription": {
                "text": f"The plan \"{plan}\" renamed these names: {renames}. They are allowed only in the "
                "legacy and deprecated-alias sections, or on a line marked `# refactor: allow-stale`."
            },
            "help": {"text": f"Use the new name. Renames of the plan: {renames}."},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["maintainability", "refactoring"]},
        },
        {
            "id": RULE_STALE_IN_IDENTIFIER,
            "name": "StaleNameInIdentifier",
            "shortDescription": {"text": "An identifier contains an old name retired by the refactoring plan."},
            "fullDescription": {
                "text": "A longer identifier (for example a test function) still spells an old name; the "
                "suggestion splices the new name in, following the recipe's rename policy."
            },
            "help": {"text": "Rename the identifier to the suggested spelling."},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["maintainability", "refactoring"]},
        },
        {
            "id": RULE_UNPARSED,
            "name": "StaleNameInUnparsedFile",
            "shortDescription": {"text": "An old name in a file that does not parse."},
            "fullDescription": {
                "text": "The file could not be parsed, so the occurrence was found in its text and its kind is "
                "unknown."
            },
            "help": {"text": "Fix the syntax error or the old name; run the check again."},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["maintainability", "refactoring"]},
        },
    ]


def render_sarif(result: CheckResult, recipe: Recipe) -> str:
    """A SARIF 2.1.0 log with one run, its rules and one result per finding."""
    rules = _rules(recipe)
    index = {rule["id"]: number for number, rule in enumerate(rules)}
    results = []
    checkout = _checkout()
    for finding in result.findings:
        line, column = _file_position(finding)
        uri, relative = _uri(_from_checkout(finding.path, checkout))
        artifact = {"uri": uri, **({"uriBaseId": "%SRCROOT%"} if relative else {})}
        properties = {"kind": finding.kind, "oldName": finding.old_name, "suggestion": finding.suggestion}
        if finding.cell is not None:
            properties.update(cell=finding.cell, cellLine=finding.line, cellColumn=finding.column)
        rule = _rule(finding)
        results.append(
            {
                "ruleId": rule,
                "ruleIndex": index[rule],
                "level": finding.severity,
                "message": {"text": _message(finding)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": artifact,
                            "region": {
                                "startLine": line,
                                "startColumn": column,
                                "endLine": line,
                                "endColumn": column + len(finding.old_name),
                                "snippet": {"text": finding.source_line},
                            },
                        }
                    }
                ],
                "properties": properties,
            }
        )
    notifications = [
        {"level": "warning", "message": {"text": f"{path} does not parse; its old names were found in its text"}}
        for path in result.unparsed
    ]
    notifications += [{"level": "error", "message": {"text": error}} for error in result.errors]
    run = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "semanticVersion": _VERSION,
                "informationUri": "https://sarifweb.azurewebsites.net/",
                "rules": rules,
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"uri": checkout.as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "invocations": [
            {
                "executionSuccessful": not result.errors,
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": results,
    }
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return _json(log)


# ------------------------------------------------------------------------ text
def _source_excerpt(finding: Finding) -> Text:
    """The source line, cut around the name when long, with the name highlighted."""
    line = finding.source_line.replace("\t", " ")
    start = finding.column - 1
    if finding.kind == IDENTIFIER_CONTAINING:
        end = start
        while end < len(line) and (line[end].isalnum() or line[end] == "_"):
            end += 1
        width = max(end - start, len(finding.old_name))
    else:
        width = len(finding.old_name)
    left = 0
    if len(line) > _SOURCE_WIDTH:
        left = max(0, min(start - _SOURCE_WIDTH // 3, len(line) - _SOURCE_WIDTH))
        line = line[left : left + _SOURCE_WIDTH]
    text = Text("    ")
    if left:
        text.append("…", style="dim")
    # Each piece is made visible on its own, so the highlight stays on the name.
    line = line.rstrip()
    name_start, name_end = start - left, start - left + width
    text.append(visible(line[:name_start]))
    text.append(visible(line[name_start:name_end]), style="bold red")
    text.append(visible(line[name_end:]))
    if left + _SOURCE_WIDTH < len(finding.source_line):
        text.append("…", style="dim")
    return text


def _file_count(findings: list[Finding]) -> str:
    """``3 stale names``, ``2 stale names; 5 in stored outputs`` or ``5 in stored outputs (warnings)``."""
    errors = sum(1 for finding in findings if finding.severity == "error")
    parts = [f"{errors} stale name{'s' if errors != 1 else ''}"] if errors else []
    parts += [f"{count} {in_file}" for count, _, in_file, _ in _warnings(findings)]
    return "; ".join(parts) + ("" if errors else " (warnings)")


def _warnings(findings: list[Finding]) -> list[tuple[int, str, str, str]]:
    """The warnings by what they are: (count, as the summary says it, as a file's header does, what to do)."""
    counts = Counter(finding.kind for finding in findings if finding.severity != "error")
    found = []
    if counts[NOTEBOOK_OUTPUT]:
        found.append((counts[NOTEBOOK_OUTPUT], "in stored notebook outputs", "in stored outputs",
                      "clear them or re-run the notebook"))
    if counts[KEYWORD]:
        keywords = "keyword" + ("s" if counts[KEYWORD] != 1 else "")
        found.append((counts[KEYWORD], keywords, keywords,
                      "each names a parameter of what it calls; a library's keeps its name"))
    return found


def render_text(result: CheckResult, console: Console) -> None:
    """Findings grouped by file, each with its source line; then warnings and a summary line."""
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for finding in result.findings:
        by_file[finding.path].append(finding)
    for path, findings in by_file.items():
        count = _file_count(findings)
        console.print(Text.assemble((visible(path, one_line=True), "bold"), "  ", (count, "dim")))
        for finding in findings:
            where = f"cell {finding.cell} " if finding.cell is not None else ""
            position = f"{where}{finding.line}:{finding.column}"
            header = Text.assemble(
                "  ", (f"{position:>10}", "cyan"), "  ", (finding.old_name, "red"), " → ",
                (finding.suggestion, "green"), "  ", (f"({finding.kind})", "dim"),
            )
            console.print(header, soft_wrap=True)
            console.print(_source_excerpt(finding), soft_wrap=True, highlight=False)
        console.print()
    for path in result.unparsed:
        console.print(f"[yellow]warning:[/] {plain(visible(path, one_line=True))} does not parse; its old names were found in its text")
    for error in result.errors:
        console.print(f"[red]error:[/] {plain(error)}")
    files = len({finding.path for finding in result.failures})  # a notebook with stale outputs only fails nothing
    scanned = f"{result.files_scanned} file{'s' if result.files_scanned != 1 else ''} checked"
    stored = "".join(f"; {count} {what} (warnings: {why})" for count, what, _, why in _warnings(result.findings))
    if result.failures:
        console.print(
            f"[bold red]✗ {len(result.failures)} stale name{'s' if len(result.failures) != 1 else ''}[/] "
            f"in {files} file{'s' if files != 1 else ''} ({scanned}, {result.files_parsed} parsed){stored}"
        )
    elif result.errors:
        console.print(f"[bold red]✗ the check could not read every file[/] ({scanned})")
    else:
        console.print(f"[bold green]✓ no stale names in code or text[/] ({scanned}){stored}")
