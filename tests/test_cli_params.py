"""The plain converter gives every parameter of the CLI what typer's pydantic one gives, errors included."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer import _click
from typer import _coercion as typer_coercion
from typer import core as typer_core

from codemods.cli import app
from codemods.cli_params import is_plain

# What a command line can hand a parameter: strings, and for a flag its own bool.
SAMPLES = ["true", "no", "Off", "5", "1", "0", "-3", " 7 ", "x", "1.5", "", "text", "json", "bogus", "cuda", "target_repo", "a/b.py", "é"]


def _parameters():
    group = typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        for param in command.params:
            if isinstance(param, typer_core._TyperParameter):
                yield name, command, param


def _outcome(runtime, value, param, ctx):
    try:
        return ("value", runtime.coerce(value, param=param, ctx=ctx))
    except _click.exceptions.BadParameter as error:
        return ("error", error.message)


@pytest.mark.parametrize("name, command, param", list(_parameters()), ids=lambda v: getattr(v, "name", str(v)))
def test_plain_conversion_agrees_with_typer(name, command, param):
    descriptor = param.type_descriptor
    assert is_plain(descriptor.annotation), f"{name} {param.name}: {descriptor.annotation} would load pydantic"
    ours = typer_core.build_runtime_param(descriptor)
    theirs = typer_coercion.build_runtime_param(descriptor)
    assert type(ours).__name__ == "PlainRuntimeParam"
    ctx = _click.Context(command)
    samples = [*SAMPLES, True, False] if descriptor.annotation is bool else SAMPLES
    values = [(s,) for s in samples] if param.multiple or param.nargs == -1 else samples
    for value in [*values, None]:
        assert _outcome(ours, value, param, ctx) == _outcome(theirs, value, param, ctx), (name, param.name, value)


def test_a_check_run_does_not_import_pydantic(tmp_path):
    (tmp_path / "clean.py").write_text("x = 1\n")
    code = (
        "import sys\nfrom codemods.cli import app\n"
        "try:\n    app(['check', sys.argv[1], '--format', 'json', '--jobs', '1'])\n"
        "except SystemExit as done:\n    print('exit', done.code, 'pydantic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.stdout.strip().splitlines()[-1] == "exit 0 False", done.stdout + done.stderr
