"""`refactor apply --fit-stack`: the config function written so the installed config class accepts it.

What the class accepts is asked of the class (its dataclass fields); the plan's text stays as it
is except the left-out lines, kept as comments that say why. Without the flag the plan's text is
written byte for byte (the golden tests hold that).
"""

from __future__ import annotations

import ast
import dataclasses

import pytest
from typer.testing import CliRunner

from codemods.apply.engines.config_function import render_config_function
from codemods.apply.engines.stack_fit import OPTION, fit_function
from codemods.cli import app
from codemods.core.config_class import accepted_keywords
from codemods.core.recipe import load_recipe
from codemods.verify.compat import config_keywords
from tests.test_apply_target_repo import make_repo

runner = CliRunner()
ROOT = "./vlm_outputs"


@pytest.fixture(scope="module")
def plan():
    return load_recipe().config_function


@pytest.fixture(scope="module")
def accepted():
    trl = pytest.importorskip("trl")
    return accepted_keywords(trl.SFTConfig)


def _returned_keywords(source: str) -> list[str]:
    function = ast.parse(source).body[0]
    call = next(node for node in ast.walk(function) if isinstance(node, ast.Return)).value
    return [keyword.arg for keyword in call.keywords]


def _function_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("def create_training_config(")))
    return lines[start : lines.index("    )", start) + 1]


def test_fields_the_installed_class_lacks_are_commented_out_with_the_reason(plan, accepted):
    fit = fit_function(plan, accepted, "trl X / transformers Y")
    lacking = {f.name for f in plan.fields} - accepted
    assert set(fit.fields) == lacking and "logging_dir" in lacking  # TRL 1.16 / transformers 5 dropped it
    assert set(fit.locals) == {"base_logging_dir"}

    written = fit.render(render_config_function(plan, ROOT))
    planned = render_config_function(plan, ROOT)
    assert set(_returned_keywords(written)) <= accepted
    changed = [(old, new) for old, new in zip(planned.splitlines(), written.splitlines(), strict=True) if old != new]
    assert len(planned.splitlines()) == len(written.splitlines())
    assert len(changed) == len(lacking) + 1
    for old, new in changed:
        assert new.strip().startswith(f"# {old.strip()}  # left out by {OPTION}: ")
    assert "SFTConfig in trl X / transformers Y does not accept logging_dir" in written
    # The fitted function, as the other engines model it, no longer sets what it left out.
    assert "logging_dir" not in {f.name for f in fit.fitted.fields}
    assert "logging_dir" not in fit.fitted.path_fields and "logging_dir" not in fit.fitted.stack_notes


def test_the_fit_follows_the_class_it_is_given(plan):
    """No field is special: a config class without tf32 loses tf32, and keeps logging_dir."""
    fields = {f.name for f in plan.fields} - {"tf32"}
    OlderConfig = dataclasses.make_dataclass("OlderConfig", [(name, object, None) for name in sorted(fields)])
    fit = fit_function(plan, accepted_keywords(OlderConfig), "older")
    assert set(fit.fields) == {"tf32"} and not fit.locals
    written = fit.render(render_config_function(plan, ROOT))
    assert "        # tf32=True,  # left out by --fit-stack" in written
    assert '        logging_dir=f"{base_logging_dir}-{variant}",\n' in written
    assert fit_function(plan, None, "any").fields == {}  # a class taking **kwargs accepts everything


def test_apply_fit_stack_writes_code_the_installed_stack_accepts(tmp_path, accepted):
    plain = make_repo(tmp_path / "plain")
    fitted = make_repo(tmp_path / "fitted")
    assert runner.invoke(app, ["apply", str(plain), "--no-diff"]).exit_code == 0
    result = runner.invoke(app, ["apply", str(fitted), "--no-diff", "--fit-stack", "-v"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "create_training_config() written without logging_dir= (--fit-stack)" in output
    assert "create_training_config() sets logging_dir=" not in output  # the stack warning no longer applies
    # An old-factory caller's logging_dir= would be set with dataclasses.replace() and raise: left out, said.
    assert "scripts/train.py:171 create_sft_config(...): left out logging_dir (--fit-stack" in output

    recipe = load_recipe()
    keywords = config_keywords(fitted, recipe)
    assert keywords and {k.name for k in keywords} <= accepted, [k for k in keywords if k.name not in accepted]
    assert "logging_dir" in {k.name for k in config_keywords(plain, recipe)}

    # In the function, only the left-out lines differ from the default apply, each carrying its comment.
    config = "src/training/config.py"
    before, after = (_function_lines((repo / config).read_text(encoding="utf-8")) for repo in (plain, fitted))
    assert len(before) == len(after)
    differing = [new for old, new in zip(before, after, strict=True) if old != new]
    assert differing and all(f"left out by {OPTION}" in line for line in differing)

    # The behaviour table names --fit-stack as the reason logging_dir changes, and --keep-behaviour pins
    # every other field back without setting the left-out one again: --strict passes.
    kept = make_repo(tmp_path / "kept")
    report = runner.invoke(app, ["apply", str(kept), "--fit-stack", "--keep-behaviour", "--strict", "--no-diff"])
    assert report.exit_code == 0, report.output
    rows = [line for line in report.output.splitlines() if "logging_dir" in line and "│" in line]
    assert rows and all("intended: left out by --fit-stack" in row for row in rows), rows
    assert {k.name for k in config_keywords(kept, recipe)} <= accepted
