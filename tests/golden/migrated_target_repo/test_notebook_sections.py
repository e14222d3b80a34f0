"""
Quick checks for the notebook script and for the SFT settings it relies on.

Run with:  python -m pytest test_notebook_sections.py -q
or simply: python test_notebook_sections.py

The notebook itself needs a GPU and the 7B model, so nothing here executes it.
These tests only look at its structure and build a small SFTConfig of their own
with the flags the custom collators depend on.
"""
import ast
import re
import tempfile
from pathlib import Path

NOTEBOOK_PY = Path(__file__).parent / "fine_tuning_vlm_for_object_detection_trl.py"
MARKER = re.compile(r"^# %%( \[markdown\])?( .*)?$")


def split_cells(text):
    """Split a jupytext percent script into (kind, lines) tuples (header excluded)."""
    cells = []
    current = None
    for line in text.split("\n"):
        match = MARKER.match(line)
        if match:
            current = ("markdown" if match.group(1) else "code", [])
            cells.append(current)
        elif current is not None:
            current[1].append(line)
    return cells


def test_notebook_parses():
    source = NOTEBOOK_PY.read_text(encoding="utf-8")
    ast.parse(source)


def test_jupytext_header():
    lines = NOTEBOOK_PY.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "# ---"
    header = "\n".join(lines[: lines.index("# ---", 1) + 1])
    assert "formats: ipynb,py:percent" in header
    assert "format_name: percent" in header


def test_markdown_cells_are_comments():
    cells = split_cells(NOTEBOOK_PY.read_text(encoding="utf-8"))
    assert len(cells) > 50
    for kind, lines in cells:
        if kind != "markdown":
            continue
        for line in lines:
            assert line == "" or line.startswith("#"), line


def test_every_marker_follows_a_blank_line():
    lines = NOTEBOOK_PY.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if MARKER.match(line) and i > 0:
            assert lines[i - 1] == "", f"line {i + 1}: marker without a blank line before it"


def build_test_config(output_dir):
    """Small CPU-friendly SFTConfig with the data flags used for multimodal training."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=output_dir,
        max_steps=2,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=1,
        gradient_checkpointing=False,
        learning_rate=2e-5,
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        remove_unused_columns=False,
        dataset_text_field="",
        dataset_kwargs={"skip_prepare_dataset": True},
        report_to="none",
        bf16=False,
        use_cpu=True,
    )


def test_sft_config_keeps_columns():
    import pytest

    pytest.importorskip("trl")
    with tempfile.TemporaryDirectory() as tmp:
        config = build_test_config(tmp)
        assert config.remove_unused_columns is False
        assert config.dataset_kwargs["skip_prepare_dataset"] is True
        assert config.gradient_checkpointing is False
        assert config.report_to in ([], "none", ["none"])


if __name__ == "__main__":
    test_notebook_parses()
    test_jupytext_header()
    test_markdown_cells_are_comments()
    test_every_marker_follows_a_blank_line()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_test_config(tmp)
        print(f"SFTConfig ok: output_dir={cfg.output_dir}, max_steps={cfg.max_steps}")
    print("all notebook section checks passed")
