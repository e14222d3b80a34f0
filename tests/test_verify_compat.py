"""`refactor verify`: stack compatibility, `--adapt`, and `--python` (the user's own training interpreter).

The smoke run here happens once per module, in a second virtual environment built by the test:
it sees this machine's torch/transformers/TRL/PEFT through a ``.pth`` file but cannot import this
tool, as in a user's training environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codemods.cli import app
from codemods.core.config_class import accepted_keywords
from codemods.verify.compat import keywords_in_source
from codemods.verify.interpreter import InterpreterError, check_interpreter
from codemods.verify.report import COMPAT, IMPORTS, SMOKE
from tests.test_verify import build_migrated_fixture

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parent.parent
# A keyword transformers removed (renamed eval_strategy): planted to show the check is not a list of names.
PLANTED = 'evaluation_strategy="steps"'


def _site_packages() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def make_training_venv(directory: Path) -> Path:
    """A venv that imports this machine's training stack but not this tool (the editable install's
    finder lives in a ``.pth`` file, which a path added by another ``.pth`` file does not run)."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(directory)
    python = directory / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    (Path(purelib) / "training_stack.pth").write_text(_site_packages() + "\n", encoding="utf-8")
    return python


def _imports(python: Path, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([str(python), "-c", probe], cwd=python.parent).returncode == 0


@pytest.fixture(scope="module")
def training_python(tmp_path_factory) -> Path:
    python = make_training_venv(tmp_path_factory.mktemp("training-env") / "venv")
    assert _imports(python, "trl") and _imports(python, "torch")
    assert not _imports(python, "codemods"), "the training environment must not see this tool"
    return python


@pytest.fixture(scope="module")
def planted_repo(tmp_path_factory) -> Path:
    repo = build_migrated_fixture(tmp_path_factory.mktemp("planted"))
    config = repo / "src/training/config.py"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("        logging_steps=10,\n", f"        logging_steps=10,\n        {PLANTED},\n", 1))
    return repo


@pytest.fixture(scope="module")
def adapted_run(planted_repo, training_python, tmp_path_factory):
    """One smoke run, in the second interpreter, with --adapt."""
    report = tmp_path_factory.mktemp("report") / "report.json"
    result = runner.invoke(
        app,
        ["verify", str(planted_repo), "--adapt", "--python", str(training_python), "--device", "cpu",
         "--steps", "1", "--report", str(report)],
    )
    return result, json.loads(report.read_text(encoding="utf-8"))


def _check(data: dict, name: str) -> dict:
    return next(c for c in data["checks"] if c["name"] == name)


# ---------------------------------------------------------------------------------------------
# fast pieces
# ---------------------------------------------------------------------------------------------


def test_keywords_are_found_however_the_config_class_is_spelt():
    source = textwrap.dedent(
        """
        import dataclasses
        import trl
        from trl import SFTConfig as Config

        def make(variant):
            return Config(output_dir="o", logging_dir=f"logs-{variant}", **extra)

        args = trl.SFTConfig(tf32=True)
        kept = dataclasses.replace(create_training_config(variant="v1"), label_names=["labels"])
        other = dataclasses.replace(something_else, not_a_config=1)
        """
    )
    found = keywords_in_source(source, "config.py", "trl.SFTConfig", {"create_training_config"})
    assert [(k.name, k.line, k.function) for k in found] == [
        ("output_dir", 7, "make"),
        ("logging_dir", 7, "make"),
        ("tf32", 9, "<module>"),
        ("label_names", 10, "<module>"),
    ]
    assert found[1].value == 'f"logs-{variant}"'


def test_accepted_fields_are_read_from_the_installed_class():
    trl = pytest.importorskip("trl")
    accepted = accepted_keywords(trl.SFTConfig)
    assert accepted is not None and {"output_dir", "run_name", "max_length", "eval_strategy"} <= accepted
    assert "logging_dir" not in accepted and "evaluation_strategy" not in accepted


def test_the_child_needs_none_of_the_command_line_dependencies(tmp_path):
    """The user's environment may lack typer, rich and libcst: the child's modules never import them."""
    blocker = textwrap.dedent(
        """
        import sys
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"typer", "rich", "libcst", "rope", "pyflakes", "matplotlib"}:
                    raise ImportError(f"{name} is not installed in the training environment")
        sys.meta_path.insert(0, Blocker())
        import codemods.verify.smoke_child, codemods.verify.user_code, codemods.core.config_class
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", blocker], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_missing_or_bare_interpreter_is_bad_input(tmp_path, planted_repo):
    with pytest.raises(InterpreterError, match="no such file"):
        check_interpreter(tmp_path / "nowhere" / "python")
    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(bare)
    with pytest.raises(InterpreterError) as raised:
        check_interpreter(bare / "bin" / "python")
    message = str(raised.value)
    assert "lacks torch, transformers, trl, peft" in message and "pip install" in message

    result = runner.invoke(app, ["verify", str(planted_repo), "--python", str(bare / "bin" / "python")])
    assert result.exit_code == 2
    assert "lacks torch, transformers, trl, peft" in " ".join(result.output.split())


# ---------------------------------------------------------------------------------------------
# in the second interpreter
# ---------------------------------------------------------------------------------------------


@pytest.mark.training
def test_a_refused_keyword_fails_the_section_before_training(planted_repo, training_python, tmp_path):
    report = tmp_path / "report.json"
    result = runner.invoke(
        app, ["verify", str(planted_repo), "--python", str(training_python), "--device", "cpu", "--report", str(report)]
    )
    assert result.exit_code == 1, result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    compat = _check(data, COMPAT)
    assert compat["status"] == "failed"
    findings = {f["field"]: f for f in compat["data"]["findings"]}
    planted = findings["evaluation_strategy"]
    lines = (planted_repo / "src/training/config.py").read_text(encoding="utf-8").splitlines()
    line = next(number for number, text in enumerate(lines, 1) if PLANTED in text)
    assert planted["kind"] == "rejected" and planted["places"] == [f"src/training/config.py:{line}"]
    assert "trl 1.16" in planted["message"] and "transformers 5" in planted["message"]
    assert "drop evaluation_strategy=" in planted["message"] and "refactor apply --fit-stack" in planted["message"]
    assert "--adapt" in compat["detail"]
    smoke = _check(data, SMOKE)
    assert smoke["status"] == "skipped" and "stack" in smoke["detail"]
    assert data["outcome"] == "failed" and data["training"]["variants"] == []
    assert "Verification failed" in result.output and "stack compatibility" in result.output


@pytest.mark.training
def test_adapt_trains_in_the_second_interpreter_and_is_never_plainly_passed(adapted_run, training_python):
    result, data = adapted_run
    assert _check(data, COMPAT)["status"] == "adapted"
    assert _check(data, SMOKE)["status"] == "passed", _check(data, SMOKE)["detail"]
    assert _check(data, IMPORTS)["status"] == "passed"
    assert data["outcome"] == "passed with adaptations" and data["passed"] is False
    assert result.exit_code == 0, result.output
    assert "Passed with adaptations" in result.output and "every check passed" not in result.output

    findings = {f["field"]: f for f in _check(data, COMPAT)["data"]["findings"]}
    assert {"evaluation_strategy", "logging_dir"} <= set(findings)
    assert findings["logging_dir"]["adapted"] == "dropped"
    assert findings["logging_dir"]["variants"] == ["v1-all-tokens", "v2-assistant-only"]
    import torch

    if not torch.cuda.is_available():
        tf32 = findings["tf32"]
        assert tf32["kind"] == "refused" and tf32["adapted"] == "set to False"
        assert "sees no CUDA device" in tf32["message"]
    # The child ran in the second interpreter, imports and training alike.
    assert data["training"]["interpreter"] == str(training_python)
    assert data["versions"]["interpreter"] == str(training_python)
    assert data["training"]["imports"]["src.training.config"] == {"missing": []}


def test_a_field_the_stack_lacks_may_change_only_by_no_longer_being_set():
    from codemods.core.config_values import BehaviourChange, Impact
    from codemods.verify.compat import stack_excused

    def row(field, after, impact=Impact.UNINTENDED):
        return BehaviourChange("main.py", "training_args", field, '"./logs"', after, impact, "the plan gives …")

    rows = [row("logging_dir", "None"), row("logging_dir", '"./other"'), row("eval_steps", "None")]
    excused = stack_excused(rows, {"logging_dir"}, "trl 1.16.0 / transformers 5.23.0")
    assert [r.impact for r in excused] == [Impact.INTENDED, Impact.UNINTENDED, Impact.UNINTENDED]
    assert "(trl 1.16.0 / transformers 5.23.0) does not accept logging_dir" in excused[0].reason
