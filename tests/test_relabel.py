"""The v3 -> v2 relabel: recipe data that renames every identifier of the relabelled experiment.

Which identifiers a repository holds is found in that repository, so the tests run on
copies of target_repo and on variants with other names, an experiment the relabel must
leave alone (v3 encoder-only), and a name the relabel would define twice.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from codemods.apply.migration import plan_migration
from codemods.core.recipe import RecipeError, load_recipe, parse_recipe
from codemods.core.recipe_model import Relabel

TARGET_REPO = Path(__file__).resolve().parent.parent / "target_repo"
REPO_ROOT = Path(__file__).resolve().parent.parent
MAIN = "fine_tuning_vlm_for_object_detection_trl.py"
RELABELLED = re.compile(r"^(?:\w+_[vV]3|[vV]3_\w+)$")


def copy_target(root: Path) -> Path:
    shutil.copytree(TARGET_REPO, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def migrated_files(root: Path) -> dict[str, str]:
    """Every file of ROOT as apply would leave it (planned in memory)."""
    files = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*")
             if p.is_file() and p.suffix in (".py", ".ipynb", ".md")}
    for change in plan_migration(root, load_recipe(None, root)).changes:
        if change.after is None:
            files.pop(change.path, None)
        else:
            files[change.path] = change.after.decode("utf-8")
    return files


def identifiers(path: str, text: str) -> set[str]:
    """The NAME tokens of a Python file, or of a notebook's code cells."""
    sources = [text]
    if path.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    found = set()
    for source in sources:
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%")))
        found |= {t.string for t in tokenize.generate_tokens(io.StringIO(source + "\n").readline) if t.type == tokenize.NAME}
    return found


def test_relabel_renames_identifiers_by_label():
    relabel = Relabel("v3", "v2", exclude=("keep_v3",), exclude_containing=("encoder",))
    assert relabel.renamed("metrics_v3") == "metrics_v2"
    assert relabel.renamed("ADAPTER_PATH_V3") == "ADAPTER_PATH_V2"
    assert relabel.renamed("v3_values") == "v2_values"
    assert relabel.renamed("_iou_cb_v3") == "_iou_cb_v2"
    for untouched in ("v3", "keep_v3", "encoder_only_v3", "V3_ENCODER_ONLY", "x_v3_y", "metrics_v31", "mv3"):
        assert relabel.renamed(untouched) is None, untouched


def test_no_identifier_of_the_assistant_only_run_keeps_v3(tmp_path):
    root = copy_target(tmp_path / "repo")
    before = {p.relative_to(root).as_posix(): identifiers(p.name, p.read_text(encoding="utf-8"))
              for p in root.rglob("*") if p.suffix in (".py", ".ipynb")}
    assert any(RELABELLED.match(n) for names in before.values() for n in names), "the repository has v3 names"
    after = migrated_files(root)
    left = {path: sorted(n for n in identifiers(path, text) if RELABELLED.match(n))
            for path, text in after.items() if path.endswith((".py", ".ipynb"))}
    assert {path: names for path, names in left.items() if names} == {}
    main = after[MAIN]
    assert re.search(r"trainer_v2 = SFTTrainer\(\n(?:.*\n)*?\s+args=training_args_v2,(?:.*\n)*?\s+data_collator=collate_fn_v2", main)
    assert "metrics_v2" in main and "_iou_cb_v2" in main and "model_finetuned_v2" in main


def test_another_experiment_with_the_same_label_is_left_alone(tmp_path):
    root = copy_target(tmp_path / "repo")
    planned = (
        '\n\n# Next experiment: v3-encoder-only (LLM frozen)\n'
        'encoder_only_v3 = {"variant": "v3-encoder-only"}\n'
        'V3_ENCODER_ONLY_DIR = "./vlm_outputs/v3-encoder-only"\n'
    )
    main = root / MAIN
    main.write_text(main.read_text(encoding="utf-8") + planned, encoding="utf-8")
    after = migrated_files(root)[MAIN]
    assert planned.strip() in after  # the legacy section moves below it; its lines stay as they were


def test_a_longer_identifier_of_the_next_experiment_keeps_its_label_where_a_shorter_one_changes(tmp_path):
    """``trainer_v3`` becomes ``trainer_v2``; ``trainer_v3_encoder`` holds "encoder", the next run's: it stays.

    Apply leaves it and check does not report it: the two read the same exclusion.
    """
    root = copy_target(tmp_path / "repo")
    script = "trainer_v3_encoder = None  # next: encoder-only\nmetrics_v3_encoder = {}\nmetrics_v3_table = 1\n"
    (root / "scripts" / "next_run.py").write_text(script, encoding="utf-8")
    after = migrated_files(root)["scripts/next_run.py"]
    assert after == script.replace("metrics_v3_table", "metrics_v2_table")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    check = [sys.executable, "-m", "codemods.cli", "check", str(root), "--format", "json"]
    found = json.loads(subprocess.run(check, capture_output=True, text=True, cwd=REPO_ROOT, check=False).stdout)
    reported = {f["source_line"].split(" =")[0] for f in found if f["path"].endswith("next_run.py")}
    assert reported == {"metrics_v3_table"}, reported


def test_a_repository_with_other_v3_names_has_them_relabelled(tmp_path):
    root = copy_target(tmp_path / "repo")
    script = root / "scripts" / "compare_runs.py"
    script.write_text(
        "def compare(eval_v3, BASELINE_V3=0.5):\n"
        "    score_v3 = eval_v3['iou']\n"
        "    return score_v3 - BASELINE_V3\n\n\n"
        "RESULTS_V3 = compare({'iou': 0.8})\n",
        encoding="utf-8",
    )
    recipe = load_recipe(None, root)
    found = {r.old: r.new for r in recipe.relabelled}
    assert found["RESULTS_V3"] == "RESULTS_V2" and found["score_v3"] == "score_v2"
    after = migrated_files(root)["scripts/compare_runs.py"]
    assert "RESULTS_V2 = compare(" in after and "score_v2 = eval_v2['iou']" in after
    namespace: dict = {}
    exec(compile(after, "compare_runs.py", "exec"), namespace)
    assert namespace["RESULTS_V2"] == pytest.approx(0.3)


def test_a_relabel_that_would_define_a_name_twice_is_refused(tmp_path):
    root = copy_target(tmp_path / "repo")
    main = root / MAIN
    main.write_text(main.read_text(encoding="utf-8") + "\n\nmetrics_v2 = {'mean_iou': 0.0}\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    done = subprocess.run(
        [sys.executable, "-m", "codemods.cli", "apply", str(root), "--no-diff", "--allow-dirty"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "metrics_v2" in done.stderr
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts} == {
        p: b for p, b in before.items() if ".git" not in p.parts
    }


def test_dry_run_lists_every_relabelled_identifier(tmp_path):
    root = copy_target(tmp_path / "repo")
    done = subprocess.run(
        [sys.executable, "-m", "codemods.cli", "apply", str(root), "--dry-run", "--no-diff"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "would relabel (v3 -> v2)" in line)
    for name in ("metrics_v3 -> metrics_v2", "trainer_v3 -> trainer_v2", "ADAPTER_PATH_V3 -> ADAPTER_PATH_V2"):
        assert name in line


def test_check_reports_relabelled_names_before_apply_and_nothing_after(tmp_path):
    root = copy_target(tmp_path / "repo")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    check = [sys.executable, "-m", "codemods.cli", "check", str(root), "--format", "json"]
    before = subprocess.run(check, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert before.returncode == 1
    olds = {finding["old_name"] for finding in json.loads(before.stdout)}
    assert {"metrics_v3", "trainer_v3", "ADAPTER_PATH_V3"} <= olds
    apply = [sys.executable, "-m", "codemods.cli", "apply", str(root), "--no-diff", "--allow-dirty"]
    assert subprocess.run(apply, capture_output=True, text=True, cwd=REPO_ROOT, check=False).returncode == 0
    after = subprocess.run(check, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert after.returncode == 0, after.stdout


@pytest.mark.parametrize("label", ["v-3", "", "v3 "])
def test_a_relabel_label_must_be_letters_and_digits(label):
    text = (TARGET_REPO.parent / "codemods" / "recipes" / "consolidate_training_configs.toml").read_text(encoding="utf-8")
    text = text.replace('[[relabels]]\nold = "v3"', f'[[relabels]]\nold = "{label}"', 1)
    with pytest.raises(RecipeError, match="relabels"):
        parse_recipe(text, "variant.toml")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("# Model v3 (assistant-only) - test split", ["v3"]),
        ("# v1 vs v3, side by side", ["v3"]),
        ("# logged with the tag collator:v3", []),
        ("# the v3: run, v3; and (v3)", ["v3", "v3", "v3"]),
        ('get_collator("v3", processor)  # a value some code looks up', []),
        ("the `v3` key", []),
        ("# The V3 run, then the end.", ["V3"]),
        ("# the v3 run. Next: v3 (encoder-only)", ["v3"]),
        ('variant="v3-encoder-only"', []),
        ("Supports: v1 (all tokens), v2 (assistant-only), v3 (encoder-only), v4 (LLM-only)", []),
        ("# v3 model: the vision encoder is frozen", []),
        ('ADAPTER = "./outputs/qwen-v3/adapter"', []),
        ("python train.py --collator=v3", []),
        ("metrics_v3 = {}  # identifiers are not prose", []),
    ],
)
def test_the_label_in_prose_is_found_where_it_names_this_run(text, words):
    recipe = load_recipe(None)
    pattern = re.compile("|".join(recipe.word_guards.values()))
    assert [match.group() for match in pattern.finditer(text)] == words


def test_prose_that_names_the_run_is_relabelled_and_the_encoder_only_run_is_not(tmp_path):
    root = copy_target(tmp_path / "repo")
    notes = root / "notes.md"
    notes.write_text("Model v3 beats v1. Next: v3 (encoder-only), variant `v3-encoder-only`.\n", encoding="utf-8")
    script = root / "scripts" / "report_runs.py"
    script.write_text(
        '"""Compare v1 vs v3 on the test split."""\n\n'
        "# v3: assistant-only labels\n"
        'TITLE = "Model v3 (assistant-only)"\n'
        'NEXT = "v3-encoder-only"  # the v3 (encoder-only) run comes later\n'
        "v3 = 3  # a bare label as a variable keeps its name\n"
        'COLLATORS = {"v3": 3}  # a key, and a tag: "collator:v3"\n'
        'TAGS = ["collator:v3"]\n',
        encoding="utf-8",
    )
    after = migrated_files(root)
    assert after["notes.md"] == "Model v2 beats v1. Next: v3 (encoder-only), variant `v3-encoder-only`.\n"
    assert after["scripts/report_runs.py"] == (
        '"""Compare v1 vs v2 on the test split."""\n\n'
        "# v2: assistant-only labels\n"
        'TITLE = "Model v2 (assistant-only)"\n'
        'NEXT = "v3-encoder-only"  # the v3 (encoder-only) run comes later\n'
        "v3 = 3  # a bare label as a variable keeps its name\n"
        'COLLATORS = {"v3": 3}  # a key, and a tag: "collator:v3"\n'
        'TAGS = ["collator:v3"]\n'
    )
    main = after[MAIN]
    assert 'print("Model v2 (assistant-only) - test split")' in main
    assert "Supports: v1 (all tokens), v2 (assistant-only), v3 (encoder-only), v4 (LLM-only)" in main


def test_check_reports_the_label_in_prose_exactly_where_apply_changes_it(tmp_path):
    root = copy_target(tmp_path / "repo")
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["## Model v3 vs v1\n", "Then v3 (encoder-only)."]},
            {"cell_type": "code", "metadata": {}, "execution_count": 1,
             "source": ["# the v3 run\n", "v3 = 1\n", "print('v3 model')"],
             "outputs": [{"output_type": "stream", "name": "stdout", "text": ["v3 model\n"]}]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (root / "notebooks" / "runs.ipynb").write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    check = [sys.executable, "-m", "codemods.cli", "check", str(root), "--format", "json"]
    before = subprocess.run(check, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    found = sorted((f["cell"], f["kind"]) for f in json.loads(before.stdout)
                   if f["path"].endswith("runs.ipynb") and f["old_name"] == "v3")
    assert found == [(0, "markdown cell"), (1, "comment"), (1, "string")]
    apply = [sys.executable, "-m", "codemods.cli", "apply", str(root), "--no-diff", "--allow-dirty"]
    assert subprocess.run(apply, capture_output=True, text=True, cwd=REPO_ROOT, check=False).returncode == 0
    cells = json.loads((root / "notebooks" / "runs.ipynb").read_text(encoding="utf-8"))["cells"]
    assert "".join(cells[0]["source"]) == "## Model v2 vs v1\nThen v3 (encoder-only)."
    assert "".join(cells[1]["source"]) == "# the v2 run\nv3 = 1\nprint('v2 model')"
    assert cells[1]["outputs"][0]["text"] == ["v3 model\n"]  # a stored output records the past run
    after = subprocess.run(check, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert after.returncode == 0, after.stdout
    assert not [f for f in json.loads(after.stdout) if f["old_name"] == "v3"]


def test_a_library_import_and_a_module_name_keep_their_label(tmp_path):
    """`from torchvision.models import inception_v3` became `import inception_v2` (ImportError), and
    `from src import metrics_v3` an alias of a file no codemod renames, which check then flagged forever."""
    root = copy_target(tmp_path / "repo")
    (root / "src" / "metrics_v3.py").write_text("def score_v3():\n    return 3\n", encoding="utf-8")
    (root / "src" / "ext.py").write_text(
        "import torchvision.models as tvm\n"
        "from torchvision.models import inception_v3\n\n"
        "from src import metrics_v3 as metrics_module\n"
        "from src.metrics_v3 import score_v3\n\n"
        "OUT = (inception_v3, tvm.inception_v3, metrics_module.score_v3(), score_v3())\n",
        encoding="utf-8",
    )
    (root / "src" / "pkg_v3").mkdir()
    (root / "src" / "pkg_v3" / "__init__.py").write_text("X = 1\n", encoding="utf-8")
    (root / "src" / "use.py").write_text("from src.pkg_v3 import X\n\nprint(X)\n", encoding="utf-8")
    found = {r.old for r in load_recipe(None, root).relabelled}
    assert "score_v3" in found and not found & {"inception_v3", "metrics_v3", "pkg_v3"}
    after = migrated_files(root)
    assert after["src/ext.py"].splitlines()[1:5] == [
        "from torchvision.models import inception_v3", "", "from src import metrics_v3 as metrics_module",
        "from src.metrics_v3 import score_v2",
    ]
    assert after["src/metrics_v3.py"] == "def score_v2():\n    return 3\n"
