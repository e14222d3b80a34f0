"""What `apply`, `status`, `check` and `verify` print: JSON that matches the published schemas, diffs a
person can read and `git apply` can take, notebooks cell by cell, a short summary after a real apply,
and a progress display that only a terminal sees and that is gone when the output starts.

Every run is the real command line, in a subprocess, on throwaway git copies of target_repo.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import jsonschema
import nbformat
import pytest
from test_apply_target_repo import git, make_repo

from codemods.apply.notebook_diff import cell_diffs
from codemods.apply.render import diff_text
from codemods.core.workspace import FileChange

PROJECT = Path(__file__).resolve().parent.parent
SCHEMAS = PROJECT / "codemods" / "schemas"
MAIN = "fine_tuning_vlm_for_object_detection_trl"
EXTRA_NOTEBOOK = "notebooks/compare_collators.ipynb"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def refactor(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI with stdout piped, as in CI and in `refactor ... > file`."""
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "FORCE_COLOR")}
    command = [sys.executable, "-m", "codemods.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT)


def in_a_terminal(*args: str | Path, columns: int = 120) -> tuple[int, str]:
    """The CLI with stdout and stderr on a pseudo-terminal: everything it drew, escape sequences included."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    command = [sys.executable, "-m", "codemods.cli", *map(str, args)]
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=PROJECT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(), b"".join(chunks).decode("utf-8", "replace")


def final_screen(raw: str) -> list[str]:
    """The lines left on the terminal once ``raw`` has been drawn (carriage returns, erasures and cursor-up)."""
    lines, row, column = [""], 0, 0
    for token in re.finditer(r"\x1b\[([0-9;?]*)([A-Za-z])|\r|\n|[^\x1b\r\n]+", raw):
        text = token.group()
        if text == "\r":
            column = 0
        elif text == "\n":
            row, column = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif token.group(2):
            argument, command = token.group(1), token.group(2)
            if command == "A":
                row = max(0, row - int(argument or 1))
            elif command == "K":
                lines[row] = "" if argument == "2" else lines[row][:column]
        else:
            line = lines[row].ljust(column)
            lines[row] = line[:column] + text + line[column + len(text):]
            column += len(text)
    return [line.rstrip() for line in lines]


def validate(document: object, schema: str) -> None:
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / schema).read_text(encoding="utf-8"))).validate(document)


def extra_notebook() -> str:
    """An unpaired notebook (nbformat 4.4, no cell ids) that uses an old name, with a stored output."""
    notebook = nbformat.v4.new_notebook()
    notebook.nbformat_minor = 4
    code = nbformat.v4.new_code_cell(
        "from src.data.collators import collate_fn_fixed_1\n\ncollator = collate_fn_fixed_1(processor, model)\nprint('ok')"
    )
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok\n")]
    notebook.cells = [nbformat.v4.new_markdown_cell("# Comparing collators"), code]
    for cell in notebook.cells:
        cell.pop("id", None)
    return nbformat.writes(notebook, version=4)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A copy nobody writes to: dry runs, status and check only."""
    return make_repo(tmp_path_factory.mktemp("fresh") / "repo")


@pytest.fixture(scope="module")
def dry_run(fresh) -> str:
    result = refactor("apply", fresh, "--dry-run")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def dry_run_json(fresh) -> dict:
    result = refactor("apply", fresh, "--dry-run", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> tuple[Path, str]:
    """A copy after a real apply (text output, diff off by default)."""
    root = make_repo(tmp_path_factory.mktemp("migrated") / "repo")
    result = refactor("apply", root)
    assert result.returncode == 0, result.stderr
    return root, result.stdout


@pytest.fixture(scope="module")
def variant(tmp_path_factory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("variant") / "repo")
    (root / EXTRA_NOTEBOOK).write_text(extra_notebook(), encoding="utf-8")
    git(root, "add", EXTRA_NOTEBOOK)
    git(root, "commit", "-qm", "a notebook of its own")
    return root


# ------------------------------------------------------------------ JSON and schemas
def test_every_schema_is_a_draft_2020_12_schema_shipped_with_the_package():
    names = sorted(path.name for path in SCHEMAS.glob("*.schema.json"))
    assert names == [
        "apply.schema.json", "check-statistics.schema.json", "check.schema.json", "status.schema.json",
        "verify-report.schema.json",
    ]
    for name in names:
        schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
    pyproject = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"schemas/*.json"' in pyproject


def test_dry_run_json_holds_the_plan_changes_tables_notes_and_outcome(dry_run_json):
    validate(dry_run_json, "apply.schema.json")
    assert dry_run_json["outcome"] == "dry run" and dry_run_json["journal"] is None
    tasks = {task["id"]: task for task in dry_run_json["tasks"]}
    assert [tasks[str(n)]["state"] for n in range(1, 8)] == ["pending"] * 7
    assert tasks["1"]["files"] == ["analyze_tokens.py"]
    actions = {change["path"]: change["action"] for change in dry_run_json["changes"]}
    assert actions["analyze_tokens.py"] == "delete" and actions[f"{MAIN}.py"] == "modify"
    main = next(change for change in dry_run_json["changes"] if change["path"] == f"{MAIN}.py")
    assert main["diff"].startswith(f"--- a/{MAIN}.py\n+++ b/{MAIN}.py\n@@ ")
    notebook = next(change for change in dry_run_json["changes"] if change["path"] == f"{MAIN}.ipynb")
    assert any(cell["change"] == "moved" and cell["outputs"] == "kept" for cell in notebook["cells"])
    rows = {(row["block"], row["field"]): row for row in dry_run_json["behaviour_changes"]}
    assert rows[("training_args_v3", "label_names")]["impact"] == "unintended"
    assert rows[("training_args_v3", "label_names")]["before"] == '["labels"]'
    cells = [note for note in dry_run_json["notes"] if note["cell"] is not None]
    assert cells and all(note["path"].endswith(".ipynb") for note in cells)
    assert dry_run_json["summary"]["unintended_behaviour_changes"] == len(
        [row for row in dry_run_json["behaviour_changes"] if row["impact"] == "unintended"]
    )


def test_status_json_before_and_after_the_migration(fresh, migrated):
    before = refactor("status", fresh, "--format", "json")
    after = refactor("status", migrated[0], "--format", "json")
    for result in (before, after):
        assert result.returncode == 0, result.stderr
        validate(json.loads(result.stdout), "status.schema.json")
    assert {task["state"] for task in json.loads(before.stdout)["tasks"]} == {"pending"}
    assert "pending" not in {task["state"] for task in json.loads(after.stdout)["tasks"]}


def test_apply_json_after_writing_names_the_journal_then_has_nothing_to_do(tmp_path):
    root = make_repo(tmp_path / "repo")
    written = refactor("apply", root, "--format", "json")
    assert written.returncode == 0, written.stderr
    document = json.loads(written.stdout)
    validate(document, "apply.schema.json")
    assert document["outcome"] == "written" and Path(document["journal"]).is_file()
    assert document["summary"]["tasks_carried_out"] == [*(str(n) for n in range(1, 8)), "notebooks"]
    again = refactor("apply", root, "--format", "json", "--allow-dirty")
    assert again.returncode == 0, again.stderr
    validate(json.loads(again.stdout), "apply.schema.json")
    assert json.loads(again.stdout)["outcome"] == "nothing to do" and json.loads(again.stdout)["changes"] == []


def test_strict_refusal_is_json_too(fresh):
    result = refactor("apply", fresh, "--dry-run", "--strict", "--format", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    validate(document, "apply.schema.json")
    assert document["outcome"] == "refused" and document["summary"]["unintended_behaviour_changes"] > 0


def test_check_json_matches_its_schema(fresh, migrated):
    stale = refactor("check", fresh, "--format", "json")
    assert stale.returncode == 1, stale.stderr
    findings = json.loads(stale.stdout)
    validate(findings, "check.schema.json")
    assert any(finding["cell"] is not None for finding in findings)
    clean = refactor("check", migrated[0], "--format", "json")
    validate(json.loads(clean.stdout), "check.schema.json")
    counted = refactor("check", fresh, "--statistics", "--format", "json")
    validate(json.loads(counted.stdout), "check-statistics.schema.json")
    assert sum(row["count"] for row in json.loads(counted.stdout)) == len(findings)


def test_verify_report_matches_its_schema(migrated, tmp_path):
    report = tmp_path / "report.json"
    result = refactor("verify", migrated[0], "--no-smoke", "--adapt", "--report", report)
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(report.read_text(encoding="utf-8"))
    validate(document, "verify-report.schema.json")
    assert {check["name"] for check in document["checks"]} >= {"stale names", "smoke training"}


@pytest.mark.training
def test_a_smoke_run_report_matches_the_schema_too(migrated, tmp_path):
    report = tmp_path / "report.json"
    result = refactor("verify", migrated[0], "--adapt", "--steps", "1", "--device", "cpu", "--report", report)
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(report.read_text(encoding="utf-8"))
    validate(document, "verify-report.schema.json")
    assert document["training"]["variants"] and document["timings"]["training_process"] > 0


# ------------------------------------------------------------------ diffs
def _file_sections(output: str) -> dict[str, str]:
    """Each plain unified diff in the output, by path: from its ``---`` line to the next file or notebook."""
    sections: dict[str, str] = {}
    lines = output.splitlines(keepends=True)
    current = None
    for index, line in enumerate(lines):
        next_line = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith("--- ") and next_line.startswith("+++ "):
            name = next_line[4:].strip() if next_line.strip() != "+++ /dev/null" else line[4:].strip()
            current = name.removeprefix("a/").removeprefix("b/")
            sections[current] = ""
        elif line.startswith("notebook ") or line[:1] not in (" ", "+", "-", "@", "\\"):
            current = None
        if current is not None:
            sections[current] += line
    return sections


def test_the_python_part_of_a_dry_run_is_a_patch_git_applies(dry_run, fresh, migrated, tmp_path):
    sections = _file_sections(dry_run)
    python = {path: text for path, text in sections.items() if path.endswith(".py")}
    assert f"{MAIN}.py" in python and "src/data/collators.py" in python and "analyze_tokens.py" in python
    patch = tmp_path / "python.patch"
    patch.write_text("".join(python.values()), encoding="utf-8")
    checked = subprocess.run(["git", "apply", "--check", str(patch)], cwd=fresh, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    # Applied to another copy, the patch gives exactly the Python files a real apply writes.
    copy = make_repo(tmp_path / "patched")
    subprocess.run(["git", "apply", str(patch)], cwd=copy, check=True)
    for path in python:
        expected, got = migrated[0] / path, copy / path
        assert expected.exists() == got.exists(), path
        if expected.exists():
            assert got.read_bytes() == expected.read_bytes(), path


def test_a_notebook_is_shown_cell_by_cell_without_json(dry_run):
    start = dry_run.index(f"notebook {MAIN}.ipynb: ")
    section = dry_run[start:dry_run.index(f"--- a/{MAIN}.py")]
    headers = re.findall(rf"^{re.escape(MAIN)}\.ipynb:cell (\d+) \((code|markdown)\)(.*)$", section, re.MULTILINE)
    assert len(headers) > 10
    assert any("outputs kept" in rest for _, _, rest in headers)
    assert any("moved from cell" in rest for _, _, rest in headers)
    assert "+class AllTokensCollator:" in section.splitlines() or "+class AllTokensCollator" in section
    for json_syntax in ('"source": [', '"cell_type"', '"outputs"', '\\n",', '"execution_count"'):
        assert json_syntax not in section, json_syntax
    assert "-    collate_fn = collators.collate_fn_fixed_1(processor, model)" in dry_run.splitlines()


def test_an_unpaired_notebook_without_cell_ids_is_diffed_by_cell(variant):
    text = refactor("apply", variant, "--dry-run")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    header = lines.index(f"{EXTRA_NOTEBOOK}:cell 1 (code) — outputs kept")
    hunk = lines[header + 1 : header + 10]
    assert "-collator = collate_fn_fixed_1(processor, model)" in hunk
    assert "+collator = AllTokensCollator(processor, model)" in hunk
    assert f"{EXTRA_NOTEBOOK}:cell 0 (markdown)" not in lines  # unchanged cells are not listed
    document = json.loads(refactor("apply", variant, "--dry-run", "--format", "json").stdout)
    validate(document, "apply.schema.json")
    (change,) = [change for change in document["changes"] if change["path"] == EXTRA_NOTEBOOK]
    assert [(cell["cell"], cell["change"], cell["outputs"]) for cell in change["cells"]] == [(1, "modified", "kept")]


def _notebook(*cells: nbformat.NotebookNode) -> bytes:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = list(cells)
    return nbformat.writes(notebook).encode()


def test_cleared_outputs_and_removed_cells_are_said_in_words():
    kept = nbformat.v4.new_code_cell("x = 1", id="a")
    shown = nbformat.v4.new_code_cell("print(x)", id="b")
    shown.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    gone = nbformat.v4.new_markdown_cell("old note", id="c")
    cleared = nbformat.v4.new_code_cell("print(x)", id="b")
    change = FileChange("n.ipynb", _notebook(kept, shown, gone), _notebook(kept, cleared))
    assert [(cell.index, cell.change, cell.outputs) for cell in cell_diffs(change)] == [
        (1, "modified", "cleared"), (2, "removed", "none")
    ]
    shown_text = diff_text(change)
    assert "n.ipynb:cell 1 (code) — outputs cleared\n" in shown_text
    assert "n.ipynb:cell 2 (markdown) — removed" in shown_text and "-old note\n" in shown_text
    broken = FileChange("n.ipynb", b"{not json", b"{still not json")
    assert diff_text(broken).startswith("--- a/n.ipynb\n+++ b/n.ipynb\n")


# ------------------------------------------------------------------ real apply
def test_the_undo_line_is_a_command_a_shell_runs_as_printed(tmp_path):
    root = make_repo(tmp_path / "my proj $HOME 'q'" / "repo")
    status = git(root, "status", "--porcelain")
    applied = refactor("apply", root)
    assert applied.returncode == 0, applied.stderr
    line = next(line for line in applied.stdout.splitlines() if line.startswith("Undo with: "))
    command = line.removeprefix("Undo with: ").replace("refactor", f"{sys.executable} -m codemods.cli", 1)
    undone = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=PROJECT)
    assert undone.returncode == 0, (line, undone.stderr)
    assert git(root, "status", "--porcelain") == status


def test_a_real_apply_prints_a_short_summary_not_the_diff(migrated, dry_run):
    root, output = migrated
    assert not [line for line in output.splitlines() if line.startswith(("@@", "+++ ", "--- "))]
    assert "Applied: 14 file(s) written (13 modified, 1 deleted); 8 task(s) carried out: 1, 2, 3, 4, 5, 6, 7, notebooks" in output
    assert "  deleted   analyze_tokens.py\n" in output
    assert any(" label_names " in line for line in output.splitlines())  # the behaviour table
    assert f"Undo with: refactor undo {root}\n" in output
    assert len(output.splitlines()) < len(dry_run.splitlines()) / 5


def test_diff_on_a_real_apply_when_asked(tmp_path):
    root = make_repo(tmp_path / "repo")
    result = refactor("apply", root, "--diff", "--only", "1")
    assert result.returncode == 0, result.stderr
    assert "--- a/analyze_tokens.py\n+++ /dev/null\n@@ " in result.stdout
    assert "Applied: 1 file(s) written (1 deleted); 1 task(s) carried out: 1" in result.stdout


# ------------------------------------------------------------------ terminal
@pytest.mark.parametrize("columns", [40, 120])
def test_in_a_terminal_the_diff_is_coloured_whole_lines_without_a_panel(fresh, columns):
    code, raw = in_a_terminal("apply", fresh, "--dry-run", "--only", "4", columns=columns)
    assert code == 0, raw
    assert "\x1b[" in raw  # coloured
    screen = final_screen(raw)
    assert "-    collate_fn = collators.collate_fn_fixed_1(processor, model)" in screen
    assert "+    collate_fn = collators.AllTokensCollator(processor, model)" in screen
    assert not [line for line in screen if re.match(r"[│┃|] *[-+@]", line)]


def test_progress_is_drawn_on_a_terminal_and_erased(fresh):
    for command in (["status", fresh], ["apply", fresh, "--dry-run", "--no-diff"]):
        code, raw = in_a_terminal(*command)
        assert code == 0, raw
        plain = ANSI.sub("", raw)
        assert "planning task 1: Delete analyze_tokens.py" in plain
        assert re.search(r"\d+ file\(s\) changed so far", plain)
        assert "\x1b[2K" in raw  # the progress line is erased ...
        screen = final_screen(raw)
        assert not [line for line in screen if "planning" in line or "changed so far" in line]
        assert any(line.startswith("Clean Up & Consolidate Training Configs") or line.startswith("Summary")
                   for line in screen)


def test_nothing_but_output_in_a_pipe(fresh):
    for command in (["status", fresh], ["apply", fresh, "--dry-run", "--no-diff"]):
        result = refactor(*command)
        assert result.returncode == 0, result.stderr
        for stream in (result.stdout, result.stderr):
            assert "planning" not in stream and "changed so far" not in stream
            assert "\x1b" not in stream and "\r" not in stream
            assert not re.search("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]", stream)  # the spinner


def test_json_on_a_terminal_is_still_only_json(fresh):
    code, raw = in_a_terminal("status", fresh, "--format", "json")
    assert code == 0, raw
    assert "\x1b" not in raw
    validate(json.loads(raw.replace("\r\n", "\n")), "status.schema.json")


def test_the_python_part_of_a_dry_run_of_a_crlf_repository_is_a_patch_git_applies(tmp_path):
    """CRLF files keep their line ends in the printed diff (rich would drop the \\r)."""
    repo = tmp_path / "crlf"
    shutil.copytree(PROJECT / "target_repo", repo, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    for path in repo.rglob("*.py"):
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "core.autocrlf=false", "add", "-A"], cwd=repo, check=True)
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "FORCE_COLOR")}
    done = subprocess.run([sys.executable, "-m", "codemods.cli", "apply", str(repo), "--dry-run"],
                          capture_output=True, env=env, cwd=PROJECT, check=False)
    assert done.returncode == 0, done.stderr.decode()
    sections = _file_sections(done.stdout.decode("utf-8"))
    python = "".join(text for path, text in sections.items() if path.endswith(".py"))
    assert "\r\n" in python
    patch = tmp_path / "python.patch"
    patch.write_bytes(python.encode("utf-8"))
    checked = subprocess.run(["git", "apply", "--check", str(patch)], cwd=repo, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
