"""Output formats of `refactor check`: JSON, GitHub workflow commands, SARIF 2.1.0 and rich text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from codemods.check import CheckResult, Finding, find_stale
from codemods.check.formats import render_github, render_json, render_sarif, render_text
from codemods.core.recipe import load_recipe

RECIPE = load_recipe()
GITHUB_ERROR = re.compile(r"^::(error|warning) file=[^,]+,line=\d+,col=\d+::.+$")
JSON_KEYS = [
    "path", "line", "column", "byte_column", "cell", "file_line", "file_column",
    "old_name", "kind", "suggestion", "source_line", "severity",
]

SOURCE = '''\
"""Uses collate_fn_fixed_1."""
from src.data.collators import collate_fn_fixed_1, collate_fn_fixed_3

made = collate_fn_fixed_1(processor, model)  # note: collate_fn_fixed_3
status = "✅ collate_fn_fixed_3, 100% ready"


def test_collate_fn_fixed_3():
    pass
'''
NOTEBOOK = json.dumps(
    {
        "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["Run 2 uses `collate_fn_fixed_3`.\n"]},
            {
                "cell_type": "code", "execution_count": 1, "id": "b", "metadata": {},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": ["✅ collate_fn_fixed_1 created\n"]}],
                "source": ["made = collate_fn_fixed_1(p, m)\n"],
            },
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    },
    indent=1,
)


@pytest.fixture
def result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CheckResult:
    tree = {
        "src/mod.py": SOURCE,
        "dir, with: comma/x.py": "x = collate_fn_fixed_fixed1\n",
        "eval.ipynb": NOTEBOOK,
        "broken.py": "def broken(:\n    collate_fn_fixed_1\n",
    }
    for relative, text in tree.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return find_stale(Path("."), RECIPE)


def test_json_parses_with_stable_keys(result: CheckResult):
    data = json.loads(render_json(result))
    assert isinstance(data, list) and len(data) == len(result.findings) > 0
    for item in data:
        assert list(item) == JSON_KEYS
        assert isinstance(item["line"], int) and isinstance(item["column"], int) and item["line"] >= 1
    by_kind = {item["kind"]: item for item in data}
    assert by_kind["string"]["source_line"] == 'status = "✅ collate_fn_fixed_3, 100% ready"'
    assert by_kind["string"]["column"] == 13 and by_kind["string"]["byte_column"] == 15
    assert by_kind["notebook output"]["cell"] == 1
    assert by_kind["call"]["cell"] is None and by_kind["call"]["file_line"] == by_kind["call"]["line"]


def test_json_of_a_clean_tree_is_an_empty_list(tmp_path: Path):
    (tmp_path / "a.py").write_text("x = 1\n")
    assert json.loads(render_json(find_stale(tmp_path, RECIPE))) == []


def test_github_lines_are_workflow_commands(result: CheckResult):
    lines = render_github(result).splitlines()
    errors = [line for line in lines if GITHUB_ERROR.match(line)]
    assert len(errors) == len(result.findings)
    outputs = [line for line in errors if "(notebook output)" in line]
    assert outputs and all(line.startswith("::warning ") for line in outputs), "stored outputs only warn"
    assert all(line.startswith("::error ") for line in errors if line not in outputs)
    for line in errors:
        assert GITHUB_ERROR.match(line), line
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)
    assert any(line.startswith("::warning file=broken.py::") for line in lines)
    # Property values escape "," and ":"; data escapes "%".
    assert any("file=dir%2C with%3A comma/x.py,line=1,col=5::" in line for line in errors)
    notebook = [line for line in errors if "eval.ipynb" in line]
    assert notebook and all("(cell " in line for line in notebook)


def test_github_points_notebook_findings_into_the_json_file(result: CheckResult):
    raw = Path("eval.ipynb").read_text(encoding="utf-8").split("\n")
    for line in render_github(result).splitlines():
        match = re.match(r"^::error file=eval\.ipynb,line=(\d+),col=(\d+)::.*`(\w+)`", line)
        if match:
            number, column, _ = int(match[1]), int(match[2]), match[3]
            assert re.match(r"\w+", raw[number - 1][column - 1 :])


def test_github_escapes_newlines_in_messages():
    finding = Finding("a.py", 1, 1, "collate_fn_fixed_1", "string", "AllTokensCollator", "x")
    finding.suggestion = "All\nTokens%"
    text = render_github(CheckResult([finding], 1, 1, [], []))
    assert text.count("\n") == 1 and "All%0ATokens%25" in text


def _require(node: dict, *keys: str) -> None:
    for key in keys:
        assert key in node, f"missing required SARIF property {key!r} in {sorted(node)}"


def test_sarif_has_the_schemas_required_fields(result: CheckResult):
    log = json.loads(render_sarif(result, RECIPE))
    _require(log, "version", "runs", "$schema")
    assert log["version"] == "2.1.0" and "sarif-2.1.0" in log["$schema"]
    [run] = log["runs"]
    _require(run, "tool", "results")
    driver = run["tool"]["driver"]
    _require(driver, "name", "rules")
    assert driver["name"] == "refactor check"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) >= 1
    for rule in driver["rules"]:
        _require(rule, "id", "shortDescription")
        _require(rule["shortDescription"], "text")
    assert len(run["results"]) == len(result.findings)
    for item in run["results"]:
        _require(item, "ruleId", "message", "locations")
        _require(item["message"], "text")
        assert item["ruleId"] in rule_ids and rule_ids[item["ruleIndex"]] == item["ruleId"]
        location = item["locations"][0]["physicalLocation"]
        _require(location, "artifactLocation", "region")
        _require(location["artifactLocation"], "uri")
        _require(location["region"], "startLine", "startColumn")
        assert location["region"]["startLine"] >= 1 and location["region"]["startColumn"] >= 1
        assert not location["artifactLocation"]["uri"].startswith("/")
    for invocation in run["invocations"]:
        _require(invocation, "executionSuccessful")
        for notification in invocation["toolExecutionNotifications"]:
            _require(notification, "message")
    assert run["columnKind"] == "unicodeCodePoints"


def test_sarif_rules_and_locations(result: CheckResult):
    run = json.loads(render_sarif(result, RECIPE))["runs"][0]
    by_rule = {}
    for item in run["results"]:
        by_rule.setdefault(item["ruleId"], []).append(item)
    assert set(by_rule) == {"stale-name", "stale-name-in-identifier", "stale-name-in-unparsed-file"}
    [substring] = by_rule["stale-name-in-identifier"]
    assert substring["properties"]["suggestion"] == "test_assistant_only_collator"
    uris = {item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for item in run["results"]}
    assert "src/mod.py" in uris and "dir%2C%20with%3A%20comma/x.py" in uris
    notebook = [item for item in run["results"] if item["properties"].get("cell") is not None]
    assert {item["properties"]["kind"] for item in notebook} == {"markdown cell", "call", "notebook output"}
    assert "collate_fn_fixed_1" in json.dumps(run["tool"]["driver"]["rules"][0]["fullDescription"])


def test_sarif_for_an_absolute_root_uses_file_uris(tmp_path: Path):
    (tmp_path / "a.py").write_text("x = collate_fn_fixed_1\n")
    run = json.loads(render_sarif(find_stale(tmp_path, RECIPE), RECIPE))["runs"][0]
    [item] = run["results"]
    assert item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("file:///")


def test_text_is_grouped_by_file_with_the_source_line(result: CheckResult):
    console = Console(record=True, width=200, force_terminal=False)
    render_text(result, console)
    text = console.export_text()
    assert "src/mod.py  " in text and "eval.ipynb  " in text
    assert 'status = "✅ collate_fn_fixed_3, 100% ready"' in text
    assert "collate_fn_fixed_3 → AssistantOnlyCollator" in text
    assert "cell 1 " in text
    assert "warning: broken.py does not parse" in text
    assert re.search(r"✗ \d+ stale names in 4 files \(4 files checked, \d parsed\)", text)
    assert text.index("broken.py  ") < text.index("src/mod.py  ")


def test_a_notebook_with_stale_outputs_only_is_counted_as_warnings_not_as_a_failing_file():
    findings = [
        Finding("a.py", 1, 5, "collate_fn_fixed_1", "name", "AllTokensCollator", "x = collate_fn_fixed_1"),
        Finding("n.ipynb", 1, 1, "collate_fn_fixed_1", "notebook output", "AllTokensCollator", "collate_fn_fixed_1", cell=0),
        Finding("n.ipynb", 2, 1, "collate_fn_fixed_1", "notebook output", "AllTokensCollator", "collate_fn_fixed_1", cell=0),
    ]
    console = Console(record=True, width=200, force_terminal=False)
    render_text(CheckResult(findings, 2, 1, [], []), console)
    text = console.export_text()
    assert "a.py  1 stale name\n" in text and "n.ipynb  2 in stored outputs (warnings)\n" in text
    assert "✗ 1 stale name in 1 file (2 files checked, 1 parsed); 2 in stored notebook outputs" in text


def test_text_for_a_clean_tree(tmp_path: Path):
    (tmp_path / "a.py").write_text("x = 1\n")
    console = Console(record=True, width=100, force_terminal=False)
    render_text(find_stale(tmp_path, RECIPE), console)
    assert "✓ no stale names in code or text (1 file checked)" in console.export_text()


def test_text_cuts_long_lines_around_the_name():
    line = "# " + "x" * 400 + " collate_fn_fixed_1 " + "y" * 400
    finding = Finding("a.py", 1, line.index("collate") + 1, "collate_fn_fixed_1", "comment", "AllTokensCollator", line)
    console = Console(record=True, width=400, force_terminal=False)
    render_text(CheckResult([finding], 1, 1, [], []), console)
    excerpt = [row for row in console.export_text().splitlines() if "collate_fn_fixed_1 " in row and "xxx" in row]
    assert excerpt and len(excerpt[0]) < 200 and "…" in excerpt[0]


# ---------------------------------------------------------------------- through the CLI
def test_cli_check_formats_and_exit_codes(result: CheckResult):
    from codemods.cli import app

    runner = CliRunner()
    outcome = runner.invoke(app, ["check", ".", "--format", "json"])
    assert outcome.exit_code == 1, outcome.output
    assert len(json.loads(outcome.stdout)) == len(result.findings)
    github = runner.invoke(app, ["check", ".", "--format", "github", "--exclude", "broken.py"])
    assert github.exit_code == 1
    assert all(GITHUB_ERROR.match(line) for line in github.stdout.splitlines() if line.strip())
    sarif = runner.invoke(app, ["check", ".", "--format", "sarif"])
    assert json.loads(sarif.stdout)["version"] == "2.1.0"
    assert runner.invoke(app, ["check", "does-not-exist"]).exit_code == 2


def test_cli_check_is_clean_on_a_clean_tree(tmp_path: Path):
    from codemods.cli import app

    (tmp_path / "a.py").write_text("x = AllTokensCollator()\n")
    outcome = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert outcome.exit_code == 0, outcome.output
    assert "no stale names" in outcome.output


def test_pre_commit_hook_definition():
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load((Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "refactor-check"]
    assert hook["entry"] == "refactor check" and hook["language"] == "python"
    assert hook["pass_filenames"] is True and "args" not in hook  # each changed file, checked in its repository
    assert set(hook["types_or"]) == {"python", "jupyter"}


def test_github_and_sarif_paths_start_at_the_checkout_when_run_from_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """GitHub places an annotation by its path from the checkout's root; `../src/mod.py` would land nowhere."""
    import subprocess

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mod.py").write_text(SOURCE, encoding="utf-8")
    (tmp_path / "nb").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path / "nb")
    found = find_stale(Path("../src/mod.py"), RECIPE)
    assert found.findings and all(f.path == "../src/mod.py" for f in found.findings)
    files = set(re.findall(r"file=([^,]+),", render_github(found)))
    assert files == {"src/mod.py"}
    run = json.loads(render_sarif(found, RECIPE))["runs"][0]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"src/mod.py"}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"


def test_keywords_of_calls_are_warnings_named_as_such(tmp_path: Path):
    """A keyword names the callee's parameter: `dict(collate_fn_v3=1)` or a library's keeps its name after apply."""
    (tmp_path / "k.py").write_text("D = dict(collate_fn_v3=1)\nE = make(collate_fn_v3=collate_fn_v3)\n")
    result = find_stale(tmp_path, load_recipe(), jobs=1)
    kinds = [(f.line, f.column, f.kind, f.severity) for f in result.findings]
    assert kinds == [(1, 10, "keyword", "warning"), (2, 10, "keyword", "warning"),
                     (2, 24, "keyword argument value", "error")]
    console = Console(record=True, width=300, force_terminal=False)
    render_text(result, console)
    text = console.export_text()
    assert "k.py  1 stale name; 2 keywords\n" in text
    assert "; 2 keywords (warnings: each names a parameter of what it calls; a library's keeps its name)" in text


def test_a_keyword_that_a_string_of_the_same_code_names_stays_an_error(tmp_path: Path):
    """`kwargs["collate_fn_v3"]` is renamed with the strings while `f(collate_fn_v3=...)` is kept: a KeyError
    that check must not pass, before apply (the old name in the string) or after it (the new one)."""
    before = 'def f(**kwargs):\n    return kwargs["collate_fn_v3"]\n\n\nf(collate_fn_v3=3)\n'
    after = before.replace('kwargs["collate_fn_v3"]', 'kwargs["collate_fn_v2"]')
    for name, text in (("before.py", before), ("after.py", after)):
        (tmp_path / name).write_text(text)
    result = find_stale(tmp_path, load_recipe(), jobs=1)
    keywords = {(f.path.rsplit("/", 1)[-1], f.kind, f.severity) for f in result.findings if f.line == 5}
    assert keywords == {("before.py", "name", "error"), ("after.py", "name", "error")}
