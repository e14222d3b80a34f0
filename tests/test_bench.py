"""`make bench`: every row function on tiny inputs; the shape of its rows, never its timings."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from benchmarks import bench
from benchmarks.measure import ROW_KEYS, Row, copy_target_repo, render_table, write_results
from benchmarks.rope_row import changed_identifiers, compare, row_rename_vs_rope
from benchmarks.rows import changed_python_files, row_apply_cli, rows_check, rows_planning
from benchmarks.scale import make_user_tree, rows_scale
from codemods.core.recipe import load_recipe

RECIPE = load_recipe()
MAIN = RECIPE.main_file

# A repository small enough to plan in a second or two: the three collators, defined twice and used.
TINY = {
    MAIN: """
        class collate_fn_fixed_1:
            def __init__(self, processor, model):
                self.processor = processor


        class collate_fn_fixed_3(collate_fn_fixed_1):
            pass


        class collate_fn_fixed_fixed1:
            pass


        collator = collate_fn_fixed_3(None, None)
        """,
    "src/__init__.py": "",
    "src/data/__init__.py": "",
    "src/data/collators.py": """
        class collate_fn_fixed_1:
            pass


        class collate_fn_fixed_3:
            pass


        class collate_fn_fixed_fixed1:
            pass
        """,
    "user.py": """
        from src.data.collators import collate_fn_fixed_1, collate_fn_fixed_3

        first = collate_fn_fixed_1()
        label = "collate_fn_fixed_3 is not an identifier here"
        """,
}


@pytest.fixture
def tiny_source(tmp_path: Path) -> Path:
    source = tmp_path / "tiny_source"
    for relative, text in TINY.items():
        path = source / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return source


def assert_row_shape(row: Row) -> dict:
    data = json.loads(json.dumps(row.to_dict()))
    assert tuple(data)[: len(ROW_KEYS)] == ROW_KEYS
    assert isinstance(data["name"], str) and isinstance(data["anchor"], str)
    assert isinstance(data["target"], (int, float)) and isinstance(data["pass"], bool)
    for key in ("ours_s", "anchor_s", "ratio"):
        assert data[key] is None or data[key] >= 0
    assert data["pass"] == (data["ratio"] is not None and data["ratio"] <= data["target"])
    return data


def test_rows_1_to_3_on_a_tiny_repository(tmp_path, tiny_source):
    copy = copy_target_repo(tmp_path / "copy", source=tiny_source)
    files = changed_python_files(copy, RECIPE)
    assert MAIN in files and "src/data/collators.py" in files
    rows = [row_apply_cli(copy, files, repeat=1), *rows_planning(copy, RECIPE, files, repeat=1)]
    for row in rows:
        assert_row_shape(row)
    assert [row.target for row in rows] == [5.0, 3.0, 1.2]
    out = tmp_path / "out" / "results.json"
    write_results(rows, out)
    assert [r["name"] for r in json.loads(out.read_text())] == [r.name for r in rows]
    assert rows[0].name in render_table(rows)


def test_rope_and_ours_change_the_same_identifiers(tmp_path, tiny_source):
    copy = copy_target_repo(tmp_path / "copy", source=tiny_source)
    row = row_rename_vs_rope(copy, RECIPE, repeat=1)
    data = assert_row_shape(row)
    assert data["target"] == 0.05
    # main: 3 definitions, 1 base class, 1 call; collators: 3 definitions; user.py: 2 imports, 1 call.
    assert data["rope_identifiers"] == data["ours_identifiers"] == 11
    assert data["same_identifiers"] is True and data["identifier_differences"] == []
    # The floors: the files any rename must parse (main, collators, user.py), timed by both parsers.
    assert data["files_holding_names"] == 3
    assert data["libcst_parse_s"] > 0 and data["ast_parse_s"] > 0
    assert data["target_s"] == round(data["anchor_s"] * 0.05, 4)


def test_identifier_comparison_reports_where_the_sides_differ():
    assert changed_identifiers("a = old\nold()\n# old\n", "a = new\nold()\n# old\n", ("old",)) == {"old": 1}
    extra = compare({("x.py", "old"): 2}, {("x.py", "old"): 1, ("y.py", "old"): 1})
    assert extra["same_identifiers"] is False
    assert (extra["rope_identifiers"], extra["ours_identifiers"]) == (2, 2)
    assert [(d["path"], d["rope"], d["ours"]) for d in extra["identifier_differences"]] == [("x.py", 2, 1), ("y.py", 0, 1)]


def test_row_5_on_a_tiny_generated_tree(tmp_path):
    rows = rows_check(tmp_path, RECIPE, files=60, lines=40, seed=7, repeat=1, jobs=1)
    assert [row.name for row in rows] == ["check (CLI)", "check (in-process find_stale)"]
    for row in rows:
        data = assert_row_shape(row)
        assert data["planted_found"] is True, data["problems"]
    assert 0 < rows[0].extra["cli_start_s"]  # the CLI's floor, timed beside it


def test_row_6_on_tiny_user_trees(tmp_path, tiny_source):
    tree = make_user_tree(tmp_path / "shape", files=9, source=tiny_source)
    assert sum(1 for _ in tree.rglob("*.py")) == 9
    extra = next((tree / "experiments").rglob("*.py")).read_text(encoding="utf-8")
    assert "from src.data.collators import collate_fn_fixed" in extra
    rows = rows_scale(tmp_path, small=6, large=9, repeat=1, source=tiny_source)
    time_row, memory_row = (assert_row_shape(row) for row in rows)
    assert time_row["target"] == 1.2 and memory_row["target"] == 1.0
    assert memory_row["peak_rss_mib"] > 0 and memory_row["anchor"] == "1 GiB"


def test_the_check_wing_helpers_stay_importable_from_bench():
    assert bench.generate_tree and bench._verify_check and bench._PLANTS
