"""Fuzzing the whole migration with generated programs that use the recipe's names.

Each example takes a hypothesmith-generated program, plants the recipe's names in it
(identifiers renamed to old names, plus fragments in the shapes the plan rewrites:
collator definitions and uses, ``SFTConfig(...)`` blocks, the deprecated config
factories, imports of the superseded script, clashes with the new names) and places it
in a throwaway copy of ``target_repo``:

- *single*: as a single-file ROOT (the one-shot migration of a main notebook-script),
  together with a slice of the bundled main notebook-script;
- *repo*: as an extra module, and spliced into the main notebook-script and the other
  Python files of the copy, migrated as a whole repository.

Then the migration is planned (in memory), committed, and planned again. Properties:
planning either succeeds or refuses cleanly (``Refusal`` / ``WorkspaceError``, what
`apply` turns into exit 2 with a message), every written Python file compiles and reads
no global name it does not bind (unless it read that name, renamed, before), every
written notebook is JSON, exactly the planned files change on disk (every other file
keeps its bytes), a file without any of the recipe's names is left alone, and a second
plan over the migrated tree changes nothing.

The normal test run makes a few hundred examples; ``REFACTOR_FUZZ=1`` (``make fuzz``)
makes thousands (``REFACTOR_FUZZ_EXAMPLES`` / ``REFACTOR_FUZZ_REPO_EXAMPLES`` override
the two counts) and keeps going past a failure, so that the summary printed at the end
counts examples, outcomes, refusals by kind, known bugs and failures by kind, and
``test_no_failures`` shows the smallest example of each failure.
"""

from __future__ import annotations

import atexit
import builtins
import json
import os
import re
import shutil
import symtable
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import hypothesmith
import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codemods.apply.migration import plan_migration
from codemods.apply.session import Refusal
from codemods.core.journal import commit
from codemods.core.recipe import load_recipe
from codemods.core.sections import banner_title
from codemods.core.workspace import WorkspaceError

TARGET = Path(__file__).resolve().parent.parent / "target_repo"
RECIPE = load_recipe()

FUZZ = os.environ.get("REFACTOR_FUZZ", "") not in ("", "0")
SINGLE_EXAMPLES = int(os.environ.get("REFACTOR_FUZZ_EXAMPLES") or (5000 if FUZZ else 200))
REPO_EXAMPLES = int(os.environ.get("REFACTOR_FUZZ_REPO_EXAMPLES") or (200 if FUZZ else 3))

# ------------------------------------------------------------------ the recipe's names


def _dotted(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


_function = RECIPE.config_function
_module = RECIPE.config_module
_data = RECIPE.data_package
_superseded = RECIPE.superseded_script

# Every name the plan retires: renamed collators and variables, the legacy class, the deprecated factories.
OLD_NAMES = sorted(RECIPE.old_names)
COLLATOR_NAMES = sorted({r.old for r in RECIPE.all_renames})
NEW_NAMES = sorted(
    set(RECIPE.old_names.values())
    | ({_function.name} if _function else set())
    | (set(_data.exports) if _data else set())
    | {b.new_target for b in RECIPE.config_blocks if b.new_target}
)
CONFIG_TARGETS = sorted({b.target for b in RECIPE.config_blocks}) or ["training_args"]
CONFIG_CLASS = _function.config_class_name if _function else "SFTConfig"
CONFIG_CLASS_MODULE = _function.config_class_module if _function else "trl"
CONFIG_KEYWORDS = sorted(
    ({p.name for p in _function.parameters} | {f.name for f in _function.fields} | set(_function.library_defaults))
    if _function
    else {"output_dir"}
)
DEPRECATED = sorted(d.old for d in _module.deprecated) if _module else OLD_NAMES
CONFIG_MODULES = [_dotted(p) for p in (_module.path, _module.package_init)] if _module else ["config"]
COLLATOR_MODULES = [_dotted(p) for p in (_data.collators, _data.package_init)] if _data else ["collators"]
SUPERSEDED = [_superseded.module, _superseded.superseded_by] if _superseded else ["superseded"]
# A file mentioning none of these must come out of the migration untouched.
TRIGGERS = sorted(
    set(OLD_NAMES) | set(NEW_NAMES) | set(CONFIG_TARGETS) | {CONFIG_CLASS, CONFIG_CLASS_MODULE} | set(SUPERSEDED)
)
# Files the recipe names (the main notebook-script, the packages it updates): changed whatever they hold.
RECIPE_PATHS = {
    RECIPE.main_file,
    *((_superseded.path,) if _superseded else ()),
    *((_module.path, _module.package_init) if _module else ()),
    *((_data.collators, _data.package_init) if _data else ()),
}
NAME_POOL = sorted(set(OLD_NAMES) | set(CONFIG_TARGETS) | set(NEW_NAMES))

# ------------------------------------------------------------------ fragments
# Statements in the shapes the plan rewrites. Placeholders: {name}/{other} old names (or config
# targets), {collator} a renamed collator, {target} a config block's variable, {cls} the config
# class, {cls_module} its module, {dep} a deprecated factory, {new} a new name, {kwargs} config
# keywords, {collators} / {config} a module of the data / training package, {superseded} the
# superseded script's module or its replacement.

FRAGMENTS = [
    "def {collator}(processor, model):\n    def collate(examples):\n        return examples\n    return collate\n",
    'class {collator}:\n    """Uses {other}."""\n\n    def __init__(self, processor):\n        self.processor = processor\n\n'
    "    def __call__(self, examples):\n        return {other}(examples)\n",
    "{name} = {other}(processor, model)\n",
    "from {collators} import {collator}\n",
    "from {collators} import {collator} as {other}\n",
    "from {collators} import {collator}, {other}\n",
    "import {collators}\ncollator = {collators}.{collator}(processor)\n",
    "import {collators} as _c\n_c.{collator}(1)\n",
    'print("\u2705 {name} created")\n',
    'print(f"[{name}] {{len(examples)}}")\n',
    "value = 0  # uses {name}\n",
    "# c = {name}(p, m)\npass\n",
    '__all__ = ["{name}", "{other}"]\n',
    "def use(collator: {collator} = None) -> {other}:\n    return collator\n",
    "{name}.debug = True\n",
    "a, {name} = 1, 2\n",
    "trainer = SFTTrainer(model=model, args={target}, data_collator={collator})\n",
    "def shadow({name}):\n    return {name}\n",
    'table = {{"v1": {name}, "v2": {other}}}\n',
    'def documented():\n    """Call {name}.\n\n    >>> {name}(1, 2)\n    ... {other}\n    """\n',
    "def make():\n    global {name}\n    {name} = {other}\n",
    "def outer():\n    {name} = 1\n    def inner():\n        nonlocal {name}\n        {name} += 1\n    return inner\n",
    "handler = lambda {name}: {name}\n",
    "items = [{name} for {name} in range(3)]\n",
    "try:\n    pass\nexcept Exception as {name}:\n    pass\n",
    "with open('x') as {name}:\n    pass\n",
    "for {name} in ():\n    pass\n",
    "del {name}\n",
    "test_{name} = {name}\n",
    "def test_{name}():\n    assert {name}\n",
    "class Test{new}:\n    {name} = {other}\n",
    "{name}: {other} = None\n",
    "({name} := {other})\n",
    "match command:\n    case {collators}.{collator}():\n        pass\n    case {{'k': {name}}}:\n        pass\n",
    "from {cls_module} import {cls}\n",
    "import {cls_module}\n",
    "{target} = {cls}({kwargs})\n",
    "{target} = {cls_module}.{cls}({kwargs})\n",
    "if True:\n    {target} = {cls}({kwargs})\n",
    "def build():\n    {target} = {cls}({kwargs})\n    return {target}\n",
    "{target} = {cls}({kwargs})\n{target}.output_dir\nprint({target})\n",
    "{target} = {cls}({kwargs})\n{target} = {cls}({kwargs})\n",
    "{target}, other = {cls}({kwargs}), 1\n",
    "def {dep}(output_dir: str = './outputs', **kwargs) -> {cls}:\n    return {cls}(output_dir=output_dir, **kwargs)\n",
    "{target} = {dep}({kwargs})\n",
    "from {config} import {dep}\n",
    "from {config} import {dep} as factory\n",
    "import {config}\n{target} = {config}.{dep}()\n",
    "import {superseded}\n",
    "from {superseded} import main\n",
    "{superseded}.main()\n",
    "def {new}(variant):\n    return None\n",
    "class {new}:\n    pass\n",
    "{new} = {name}\n",
]

_VALUES = [
    "1", "0.5", "2e-5", '"steps"', "True", "False", "None", '"./outputs/run"', 'f"./outputs/{run}"',
    "run", "[1, 2]", '{"skip_prepare_dataset": True}', '""', "(1,)", "-1", '"wandb"',
]


@st.composite
def config_kwargs(draw) -> str:
    names = draw(st.lists(st.sampled_from(CONFIG_KEYWORDS), max_size=6, unique=True))
    parts = [f"{name}={draw(st.sampled_from(_VALUES))}" for name in names]
    if draw(st.booleans()) and draw(st.booleans()):
        parts.insert(0, draw(st.sampled_from(_VALUES)))
    if draw(st.booleans()) and draw(st.booleans()):
        parts.append("**extra")
    return ", ".join(parts)


@st.composite
def fragments(draw) -> str:
    template = draw(st.sampled_from(FRAGMENTS))
    return template.format(
        name=draw(st.sampled_from(NAME_POOL)),
        other=draw(st.sampled_from(NAME_POOL)),
        collator=draw(st.sampled_from(COLLATOR_NAMES)),
        target=draw(st.sampled_from(CONFIG_TARGETS)),
        cls=CONFIG_CLASS,
        cls_module=CONFIG_CLASS_MODULE,
        dep=draw(st.sampled_from(DEPRECATED)),
        new=draw(st.sampled_from(NEW_NAMES)),
        kwargs=draw(config_kwargs()),
        collators=draw(st.sampled_from(COLLATOR_MODULES)),
        config=draw(st.sampled_from(CONFIG_MODULES)),
        superseded=draw(st.sampled_from(SUPERSEDED)),
    )


# ------------------------------------------------------------------ programs

# No auto-targeting: an example draws several programs, and each would set the same target labels.
PROGRAMS = st.one_of(hypothesmith.from_node(cst.Module, auto_target=False), hypothesmith.from_grammar(auto_target=False))


def _parse(source: str) -> cst.Module | None:
    try:
        return cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None


class _Planter(cst.CSTTransformer):
    """Renames identifiers to the recipe's names and inserts fragments into indented blocks."""

    def __init__(self, renames: dict[str, str], nested: dict[int, list[cst.BaseStatement]]):
        self.renames, self.nested, self.blocks = renames, nested, 0

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.renames[updated.value]) if updated.value in self.renames else updated

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> cst.IndentedBlock:
        index, self.blocks = self.blocks, self.blocks + 1
        if index not in self.nested:
            return updated
        return updated.with_changes(body=(*updated.body, *self.nested[index]))


class _Names(cst.CSTVisitor):
    def __init__(self):
        self.names: set[str] = set()
        self.blocks = 0

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.blocks += 1


def _statements(source: str) -> list[cst.BaseStatement]:
    module = _parse(source)
    return list(module.body) if module is not None else []


@st.composite
def planted_programs(draw) -> str:
    """A generated program with old names planted in it: renamed identifiers and inserted fragments."""
    source = draw(PROGRAMS)
    module = _parse(source)
    chosen = draw(st.lists(fragments(), max_size=6))
    if module is None:  # generated by the grammar, but not LibCST's: planted as text around it
        return "".join(chosen[: len(chosen) // 2]) + source + "".join(chosen[len(chosen) // 2 :])
    names = _Names()
    module.visit(names)
    renames: dict[str, str] = {}
    candidates = sorted(names.names)
    if candidates:
        for identifier in draw(st.lists(st.sampled_from(candidates), max_size=3, unique=True)):
            renames[identifier] = draw(st.sampled_from(NAME_POOL))
    nested: dict[int, list[cst.BaseStatement]] = {}
    top: list[tuple[int, list[cst.BaseStatement]]] = []
    for fragment in chosen:
        statements = _statements(fragment)
        if names.blocks and draw(st.booleans()):
            nested.setdefault(draw(st.integers(0, names.blocks - 1)), []).extend(statements)
        else:
            top.append((draw(st.integers(0, len(module.body))), statements))
    module = module.visit(_Planter(renames, nested))
    body = list(module.body)
    for position, statements in sorted(top, key=lambda item: -item[0]):
        body[position:position] = statements
    return module.with_changes(body=body).code


BOM = "\ufeff"
# How a planted file is written: mostly as generated, sometimes with CRLF line ends and/or a UTF-8 BOM.
FILE_STYLES = st.sampled_from(["", "", "", "", "crlf", "bom", "crlf bom"])


def in_style(text: str, style: str) -> str:
    if "crlf" in style and "\r" not in text:
        text = text.replace("\n", "\r\n")
    if "bom" in style:
        text = BOM + text
    return text


def _compiles(source: str | bytes) -> bool:
    if isinstance(source, str):
        source = source.removeprefix(BOM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "<fuzz>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return False
    return True


_ALWAYS_BOUND = set(dir(builtins)) | {
    "__file__", "__name__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__", "__path__",
    "__annotations__", "__dict__", "__class__", "__qualname__", "__module__", "__debug__",
}


# A star import, exec, or a write to the namespace itself may bind any name.
_BINDS_ANYTHING = re.compile(
    r"\bimport\s*\*|\bexec\s*\(|\b(?:globals|vars|locals)\s*\(\s*\)\s*(?:\[[^\]]*\]\s*=(?!=)|\.\s*(?:update|setdefault|__setitem__))"
)


def unbound_names(source: str | bytes) -> set[str] | None:
    """Names the module reads from its global namespace but never binds (None: unknowable or no code)."""
    if isinstance(source, bytes):
        source = source.decode("utf-8", errors="surrogateescape")
    source = source.removeprefix(BOM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            top = symtable.symtable(source, "<fuzz>", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None
    bound: set[str] = set()
    read: set[str] = set()
    tables = [top]
    while tables:
        table = tables.pop()
        tables.extend(table.get_children())
        for symbol in table.get_symbols():
            name = symbol.get_name()
            if table is top and (symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()):
                bound.add(name)
            elif table is not top and symbol.is_declared_global() and symbol.is_assigned():
                bound.add(name)
            if symbol.is_referenced() and (table is top or symbol.is_global()):
                read.add(name)
    if _BINDS_ANYTHING.search(source):
        return None
    return read - bound - _ALWAYS_BOUND


@cache
def _pristine_module(path: str) -> cst.Module:
    return cst.parse_module((TARGET / path).read_text(encoding="utf-8"))


def _insertion_floor(module: cst.Module) -> int:
    """The first top-level position after a module docstring and ``from __future__`` imports."""
    floor = 0
    for index, statement in enumerate(module.body):
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            break
        small = statement.body[0]
        docstring = index == 0 and isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString)
        future = isinstance(small, cst.ImportFrom) and isinstance(small.module, cst.Name) and small.module.value == "__future__"
        if not (docstring or future):
            break
        floor = index + 1
    return floor


def _spliced(path: str, program: str, position: int) -> str:
    """``program`` inserted among the top-level statements of a target_repo file."""
    host = _pristine_module(path)
    statements = _statements(program)
    if not statements and program.strip():  # not LibCST's Python: appended as text
        return host.code + "\n" + program
    floor = _insertion_floor(host)
    at = floor + position % (len(host.body) - floor + 1)
    return host.with_changes(body=[*host.body[:at], *statements, *host.body[at:]]).code


# ------------------------------------------------------------------ the throwaway copy


class RepositoryCopy:
    """One copy of target_repo per process; every example leaves it as it found it."""

    def __init__(self):
        self.parent = Path(tempfile.mkdtemp(prefix="refactor-fuzz-"))
        atexit.register(shutil.rmtree, self.parent, True)
        self.root = self.parent / "repo"
        shutil.copytree(TARGET, self.root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.pristine = self.snapshot()

    def snapshot(self) -> dict[str, bytes]:
        files = {}
        for directory, subdirectories, names in os.walk(self.root):
            subdirectories[:] = [d for d in subdirectories if d != ".refactor"]
            for name in names:
                path = Path(directory, name)
                files[path.relative_to(self.root).as_posix()] = path.read_bytes()
        return files

    def write(self, files: dict[str, bytes]) -> None:
        for relative, data in files.items():
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def restore(self) -> None:
        shutil.rmtree(self.root / ".refactor", ignore_errors=True)
        current = self.snapshot()
        for relative in current.keys() - self.pristine.keys():
            (self.root / relative).unlink()
        self.write({p: data for p, data in self.pristine.items() if current.get(p) != data})


@cache
def repository_copy() -> RepositoryCopy:
    return RepositoryCopy()


# ------------------------------------------------------------------ counts and known bugs


@dataclass
class Tally:
    examples: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    refusals: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    known: Counter = field(default_factory=Counter)
    # failure kind -> the smallest planted files that showed it
    reproducers: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        total = sum(self.examples.values())
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.examples.items()))
        outcomes = ", ".join(f"{kind} {n}" for kind, n in sorted(self.outcomes.items()))
        return (
            f"fuzz summary: {total} examples ({kinds}); {outcomes}; "
            f"{sum(self.refusals.values())} clean refusals in {len(self.refusals)} kinds; "
            f"{sum(self.known.values())} showing known bugs; "
            f"{sum(self.failures.values())} failures in {len(self.failures)} kinds; {self.seconds:.0f}s"
        )

    def record_failure(self, kind: str, example: dict[str, str]) -> None:
        self.failures[kind] += 1
        known = self.reproducers.get(kind)
        if known is None or sum(map(len, example.values())) < sum(map(len, known.values())):
            self.reproducers[kind] = example


TALLY = Tally()
KEEP_GOING = os.environ.get("REFACTOR_FUZZ_KEEP_GOING", "1" if FUZZ else "0") not in ("", "0")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\d+")

# Known bugs (none now), each with a strict xfail regression test: an example that shows one is
# tallied as a known bug instead of failing, until the fix lands (then the regression test passes,
# strict xfail turns that into a failure, and the entry goes).
KNOWN_BUGS: dict[str, Callable[[BaseException], bool]] = {}


def refusal_kind(error: Exception) -> str:
    if isinstance(error, Refusal):
        return f"task {error.task}: {_QUOTED.sub('…', error.message)[:100]}"
    return f"workspace: {_QUOTED.sub('…', str(error))[:100]}"


def _innermost_tool_frame(error: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/codemods/" in f.filename.replace(os.sep, "/")]
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{frame.filename.replace(os.sep, '/').split('/codemods/', 1)[1]}:{frame.lineno}"


def known_bug(error: BaseException) -> str | None:
    return next((name for name, shows in KNOWN_BUGS.items() if shows(error)), None)


def failure_kind(error: BaseException) -> str:
    if isinstance(error, PropertyFailure):
        return str(error).split(":", 1)[0]
    return f"{type(error).__name__}: {str(error)[:80]} (codemods/{_innermost_tool_frame(error)})"


class _SummaryReporter:
    """Prints the tally at the end of the session, after the test results."""

    def pytest_terminal_summary(self, terminalreporter):
        if not TALLY.examples:
            return
        terminalreporter.write_line("")
        terminalreporter.write_line(TALLY.line())
        for kind, count in TALLY.refusals.most_common():
            terminalreporter.write_line(f"  refused {count:>5}  {kind}")
        for kind, count in TALLY.known.most_common():
            terminalreporter.write_line(f"  known   {count:>5}  {kind}")
        for kind, count in TALLY.failures.most_common():
            terminalreporter.write_line(f"  FAILED  {count:>5}  {kind}")


_REPORTER = _SummaryReporter()


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    if not request.config.pluginmanager.is_registered(_REPORTER):
        request.config.pluginmanager.register(_REPORTER, "refactor-fuzz-summary")
    yield


# ------------------------------------------------------------------ one example


class PropertyFailure(AssertionError):
    """A property that does not hold; ``changes`` (of a second plan) and ``texts`` (migrated files) tell known bugs apart."""

    def __init__(self, message: str, changes: list | None = None, texts: dict[str, bytes] | None = None):
        super().__init__(message)
        self.changes, self.texts = changes or [], texts or {}


def _fail(kind: str, detail: str, changes: list | None = None, texts: dict[str, bytes] | None = None) -> None:
    raise PropertyFailure(f"{kind}: {detail}", changes, texts)


def migrate_and_check(
    copy: RepositoryCopy, root: Path, planted: dict[str, str], label: str, example: dict[str, str]
) -> str:
    """Plan, commit and re-plan over the copy with ``planted`` files written; the outcome's name.

    ``planted`` maps relative paths to the text written there; ``example`` says what was
    planted where, short enough to report (a program, not the file it was spliced into). A property that does not hold
    raises PropertyFailure, an unexpected exception of the tool propagates; with KEEP_GOING
    both are only tallied (``test_no_failures`` then reports them).
    """
    TALLY.examples[label] += 1
    started = time.perf_counter()
    try:
        outcome = _migrate_and_check(copy, root, planted)
    except Exception as error:
        bug = known_bug(error)
        if bug is not None:
            TALLY.known[bug] += 1
            return "known bug"
        TALLY.record_failure(f"{label}: {failure_kind(error)}", example)
        if KEEP_GOING:
            return "failed"
        raise
    finally:
        copy.restore()
        TALLY.seconds += time.perf_counter() - started
    if not all(_compiles(text) for text in planted.values()):
        outcome += " (planted code does not compile)"
    TALLY.outcomes[outcome] += 1
    return outcome


def _migrate_and_check(copy: RepositoryCopy, root: Path, planted: dict[str, str]) -> str:
    encoded = {path: text.encode("utf-8", errors="surrogatepass") for path, text in planted.items()}
    copy.write(encoded)
    before = copy.snapshot()
    try:
        migration = plan_migration(root, RECIPE)
    except (Refusal, WorkspaceError) as error:
        if not str(error).strip():
            _fail("refusal without a message", repr(error))
        TALLY.refusals[refusal_kind(error)] += 1
        if copy.snapshot() != before:
            _fail("a refused plan wrote files", label_paths(copy.snapshot(), before))
        return "refused"
    changes = migration.changes
    if copy.snapshot() != before:
        _fail("planning wrote files", label_paths(copy.snapshot(), before))
    expected = dict(before)
    for change in changes:
        relative = change.path
        if before.get(relative) != change.before:
            _fail("a change's before bytes are not the file's", relative)
        if change.after is None:
            expected.pop(relative, None)
        else:
            expected[relative] = change.after
        if change.after is not None and relative.endswith(".py") and _compiles(before.get(relative) or b""):
            if not _compiles(change.after):
                _fail("written Python does not compile", relative)
            _check_names_stay_bound(migration, relative, before.get(relative) or b"", change.after)
        if change.after is not None and relative.endswith(".ipynb"):
            try:
                json.loads(change.after)
            except ValueError:
                _fail("written notebook is not JSON", relative)
    for relative, text in planted.items():
        if relative in RECIPE_PATHS or any(word in text for word in TRIGGERS):
            continue
        if any(c.path == relative for c in changes):
            _fail("a file without any of the recipe's names was changed", relative)
    if not changes:
        return "nothing to do"

    commit(migration.context.workspace)
    after = copy.snapshot()
    if after != expected:
        _fail("the files on disk are not exactly the plan", label_paths(after, expected))

    try:
        again = plan_migration(root, RECIPE)
    except (Refusal, WorkspaceError) as error:
        _fail("the second apply refused", str(error), texts=after)
    if again.changes:
        _fail("the second apply is not a no-op", ", ".join(c.path for c in again.changes), again.changes, after)
    return "applied"


def _check_names_stay_bound(migration, relative: str, before: bytes, after: bytes) -> None:
    """A migrated module reads no global name it does not bind, unless it read that name (renamed) before."""
    unbound_before, unbound_after = unbound_names(before), unbound_names(after)
    if unbound_before is None or unbound_after is None:
        return
    # The recipe as the migration ran it: with the names its relabels found (train_result_v3 -> _v2).
    renamed = {**migration.context.recipe.old_names, **migration.report.substring_renames}
    allowed = unbound_before | {renamed[name] for name in unbound_before if name in renamed}
    lost = sorted(unbound_after - allowed)
    if lost:
        _fail("a migrated file reads names it does not bind", f"{relative}: {', '.join(lost)}", texts={relative: after})


def label_paths(actual: dict[str, bytes], expected: dict[str, bytes]) -> str:
    differing = sorted(p for p in actual.keys() | expected.keys() if actual.get(p) != expected.get(p))
    return ", ".join(differing[:8])


# ------------------------------------------------------------------ the properties

MAIN = RECIPE.main_file
OTHER_PYTHON = sorted(
    path.relative_to(TARGET).as_posix()
    for path in TARGET.rglob("*.py")
    if "__pycache__" not in path.parts and path.relative_to(TARGET).as_posix() != MAIN
)
EXTRA_MODULES = ["generated.py", "src/generated.py", "src/data/generated.py", "scripts/generated.py"]
SINGLE_FILE = "generated_main.py"


def _main_slice(start: int, length: int) -> str:
    main = _pristine_module(MAIN)
    start %= len(main.body)
    return main.with_changes(body=main.body[start : start + length]).code if length else ""


_FUZZ_SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=SINGLE_EXAMPLES, **_FUZZ_SETTINGS)
@given(planted_programs(), st.integers(0, 10_000), st.integers(0, 30), st.booleans(), FILE_STYLES)
def test_single_file_root(program: str, start: int, length: int, program_first: bool, style: str):
    """The program, with a slice of the bundled main notebook-script, migrated as a single-file ROOT."""
    part = _main_slice(start, length)
    text = in_style(program + part if program_first else part + program, style)
    example = {SINGLE_FILE: text} if len(text) < 3000 else {
        "program": program,
        "placed": f"{'before' if program_first else 'after'} top-level statements {start}:{start + length} of {MAIN}",
        "style": style,
    }
    copy = repository_copy()
    migrate_and_check(copy, copy.root / SINGLE_FILE, {SINGLE_FILE: text}, "single-file", example)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=REPO_EXAMPLES, **_FUZZ_SETTINGS)
@given(st.data())
def test_whole_repository(data):
    """Programs placed as an extra module and spliced into the main notebook-script and other Python files."""
    planted: dict[str, str] = {}
    example: dict[str, str] = {}
    hosts = data.draw(st.lists(st.sampled_from([MAIN, *OTHER_PYTHON]), max_size=3, unique=True), label="spliced into")
    for path in hosts:
        program, position, style = data.draw(planted_programs()), data.draw(st.integers(0, 10_000)), data.draw(FILE_STYLES)
        planted[path] = in_style(_spliced(path, program, position), style)
        example[f"{path} (top-level position {position}{', ' + style if style else ''})"] = program
    if not hosts or data.draw(st.booleans(), label="and an extra module"):
        path = data.draw(st.sampled_from(EXTRA_MODULES), label="extra module")
        planted[path] = example[path] = in_style(data.draw(planted_programs()), data.draw(FILE_STYLES))
    copy = repository_copy()
    migrate_and_check(copy, copy.root, planted, "repository", example)


def test_no_failures():
    """With REFACTOR_FUZZ_KEEP_GOING the examples above only tally failures; this reports them."""
    report = [
        f"{kind} ({TALLY.failures[kind]}x), smallest example: {json.dumps(TALLY.reproducers[kind], ensure_ascii=False)[:1500]}"
        for kind in TALLY.failures
    ]
    assert not report, "\n".join(report)


# ------------------------------------------------------------------ regressions


def _plan_single_file(tmp_path: Path, source: str):
    path = tmp_path / "main.py"
    path.write_text(source, encoding="utf-8")
    return plan_migration(path, RECIPE)


def test_a_match_statement_in_the_main_file_is_no_crash(tmp_path):
    assert _plan_single_file(tmp_path, "match command:\n    case 1:\n        pass\n").changes == []


@pytest.mark.parametrize(
    "use", ["from {package} import {old}\n", "import {package}\n{package}.{old}\n", "import {package} as _c\n_c.{old}(1)\n"]
)
def test_a_use_through_the_data_package_is_migrated_in_one_apply(tmp_path, use):
    package = Path(RECIPE.data_package.package_init)
    old = COLLATOR_NAMES[0]
    for path, text in {
        package.parent.parent / "__init__.py": "",
        package: "",
        Path(RECIPE.data_package.collators): f"def {old}(processor, model):\n    return None\n",
        Path("generated.py"): use.format(package=_dotted(package.as_posix()), old=old),
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    commit(plan_migration(tmp_path, RECIPE).context.workspace)
    assert plan_migration(tmp_path, RECIPE).changes == []


def test_the_alias_of_a_from_import_follows_its_renamed_uses(tmp_path):
    old, new = COLLATOR_NAMES[0], RECIPE.old_names[COLLATOR_NAMES[0]]
    migrated = _plan_single_file(tmp_path, f"from m import x as {old}\nprint({old})\n").changes[0].after.decode()
    assert unbound_names(migrated) == set(), migrated
    assert migrated in (f"from m import x as {new}\nprint({new})\n", f"from m import x as {old}\nprint({old})\n")


@pytest.mark.parametrize(
    "source",
    [
        "class {old}:\n    pass\nclass {old}:\n    x = 1\n",
        "class {old}:\n    pass\n{old} = None\n",
        "class {old}:\n    pass\nfrom m import {old}\n",
    ],
)
def test_a_legacy_class_bound_again_after_it_is_refused_not_reordered(tmp_path, source):
    legacy = RECIPE.legacy
    with pytest.raises(Refusal, match="is bound again here, after its class") as refused:
        _plan_single_file(tmp_path, source.format(old=legacy.old))
    assert refused.value.line > 1


def test_a_legacy_class_bound_before_it_still_moves(tmp_path):
    legacy = RECIPE.legacy
    migrated = _plan_single_file(tmp_path, f"{legacy.old} = None\nclass {legacy.old}:\n    pass\nx = 1\n").changes
    code = migrated[0].after.decode()
    assert code.index(f"{legacy.new} = None") < code.index("x = 1") < code.index(f"class {legacy.new}")


def test_a_module_holding_only_the_legacy_class_is_migrated_in_one_apply(tmp_path):
    legacy = RECIPE.legacy
    path = tmp_path / "main.py"
    path.write_text(f'class {legacy.old}:\n    """Uses it."""\n\n    def __init__(self, processor):\n        pass\n')
    migration = plan_migration(path, RECIPE)
    code = migration.changes[0].after.decode()
    assert code.startswith("# ="), code  # the section opens the file, no blank lines above it
    assert code.count(banner_title(legacy.banner)) == 1
    commit(migration.context.workspace)
    assert plan_migration(path, RECIPE).changes == []


def test_an_import_of_an_old_name_as_another_old_name_is_migrated_in_one_apply(tmp_path):
    first, second = COLLATOR_NAMES[:2]
    path = tmp_path / "main.py"
    path.write_text(f"from m import {first} as {second}\nprint({second})\n", encoding="utf-8")
    migration = plan_migration(path, RECIPE)
    commit(migration.context.workspace)
    assert plan_migration(path, RECIPE).changes == []


def test_the_legacy_section_is_found_under_a_comment_indented_deeper(tmp_path):
    """LibCST gives the banner to the block above when the class's own comment is indented deeper."""
    legacy = RECIPE.legacy
    path = tmp_path / "main.py"
    path.write_text(f"def f():\n    x = 1\n\n  # the draft\nclass {legacy.old}:\n    pass\ny = 2\n", encoding="utf-8")
    migration = plan_migration(path, RECIPE)
    commit(migration.context.workspace)
    assert plan_migration(path, RECIPE).changes == []
    assert path.read_text(encoding="utf-8").count(banner_title(legacy.banner)) == 1


def test_a_cr_only_file_ending_in_an_indented_block_keeps_its_line_ends(tmp_path):
    """LibCST drops the last CR of such a file, and the LEGACY docstring used to bring LF lines."""
    legacy = RECIPE.legacy
    path = tmp_path / "main.py"
    path.write_bytes(f"\ufeffclass {legacy.old}:\r    pass\rx = 1\rclass Kept:\r    pass\r".encode())
    commit(plan_migration(path, RECIPE).context.workspace)
    migrated = path.read_bytes()
    assert migrated.startswith("\ufeff".encode()) and migrated.endswith(b"\r") and b"\n" not in migrated, migrated
    assert plan_migration(path, RECIPE).changes == []


def test_an_old_name_bound_again_by_an_import_alias_is_renamed_with_its_other_binding(tmp_path):
    """``from pkg import old`` follows the package; ``from pkg.mod import other as old`` binds the same name."""
    package = Path(RECIPE.data_package.package_init)
    old, other = COLLATOR_NAMES[0], COLLATOR_NAMES[1]
    files = {
        package.parent.parent / "__init__.py": "",
        package: "",
        Path(RECIPE.data_package.collators): f"def {old}(processor, model):\n    return None\n",
        Path("generated.py"): f"from {_dotted(package.as_posix())} import {old}\n"
        f"from {_dotted(RECIPE.data_package.collators)} import {other} as {old}\nprint({old})\n",
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    commit(plan_migration(tmp_path, RECIPE).context.workspace)
    migrated = (tmp_path / "generated.py").read_text(encoding="utf-8")
    assert unbound_names(migrated) == set() and old not in migrated, migrated
    assert plan_migration(tmp_path, RECIPE).changes == []


def test_a_package_init_that_calls_a_deprecated_factory_has_the_call_migrated(tmp_path):
    """A module ``__getattr__`` serves ``pkg.old`` to importers, never the package's own global lookups."""
    spec = RECIPE.config_module
    root = tmp_path / "repo"
    shutil.copytree(TARGET, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    init = root / spec.package_init
    old = spec.deprecated[-1].old
    init.write_text(init.read_text(encoding="utf-8") + f"\ndefault_args = {old}()\n", encoding="utf-8")
    before = unbound_names(init.read_bytes())
    migration = plan_migration(root, RECIPE)
    change = next(c for c in migration.changes if c.path == spec.package_init)
    assert unbound_names(change.after) == before, change.after.decode()
    assert f"{old}(" not in change.after.decode() and f"{RECIPE.config_function.name}(" in change.after.decode()
    commit(migration.context.workspace)
    assert plan_migration(root, RECIPE).changes == []


def test_a_config_import_a_function_reads_later_is_kept(tmp_path):
    """A function body reads ``SFTConfig`` when it is called, after the import at the end of the file."""
    source = (
        "def build():\n    training_args = SFTConfig(per_device_train_batch_size=1)\n    return training_args\n"
        "training_args = SFTConfig(max_length=-1, gradient_checkpointing=None)\n"
        "def create_training_config(variant):\n    return None\n"
        "from trl import SFTConfig\n"
    )
    migration = _plan_single_file(tmp_path, source)
    assert migration.changes, "the block was not replaced: the test shows nothing"
    after = migration.changes[0].after
    assert unbound_names(after) == unbound_names(source), after.decode()


def test_a_module_indented_with_a_form_feed_gets_the_config_function(tmp_path):
    """LibCST refuses such an indent as the default for parsing inserted code; the module itself parses."""
    source = "class Kept:\n \f\tpass\n\n\nfrom trl import SFTConfig\n\ntraining_args = SFTConfig(output_dir='y')\n"
    migration = _plan_single_file(tmp_path, source)
    assert migration.changes and _compiles(migration.changes[0].after)


def test_a_call_through_the_module_attribute_is_no_other_use_of_the_imported_name(tmp_path):
    """``m.old()`` migrated as a call must not keep ``from m import old`` alive for one more apply."""
    spec, old = RECIPE.config_module, RECIPE.config_module.deprecated[0].old
    root = tmp_path / "repo"
    shutil.copytree(TARGET, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    caller = root / "scripts" / "train.py"
    module = _dotted(spec.path)
    caller.write_text(
        caller.read_text(encoding="utf-8") + f"\nimport {module}\nextra_args = {module}.{old}()\n", encoding="utf-8"
    )
    commit(plan_migration(root, RECIPE).context.workspace)
    assert plan_migration(root, RECIPE).changes == []


def test_an_old_factory_defined_twice_is_refused_naming_both_lines(tmp_path):
    """Python keeps the last ``def``; replacing one and leaving the other would change again on every apply."""
    spec = RECIPE.config_module
    old = spec.deprecated[-1].old
    root = tmp_path / "repo"
    shutil.copytree(TARGET, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    module = root / spec.path
    text = module.read_text(encoding="utf-8")
    module.write_text(text + f"\n\ndef {old}(**kwargs):\n    return None\n".replace("**kwargs", "output_dir='x', **kwargs"), encoding="utf-8")
    with pytest.raises(Refusal, match=rf"{old} is defined 2 times \(lines \d+, \d+\)"):
        plan_migration(root, RECIPE)
