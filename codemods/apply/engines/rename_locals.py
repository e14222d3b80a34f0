"""Function locals and parameters spelled like an old name: which of them follow the rename.

``refactor check`` reports such a name like any other occurrence, so the rename takes it
along where that cannot change what the code does, and says why where it keeps one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from codemods.apply.engines.bindings import all_params
from codemods.apply.engines.lines import first_lines
from codemods.apply.session import Context, Refusal
from codemods.core.ipython import mask_magics


def renamable_locals(
    context: Context, path: str, task_id: str, names: set[cst.Name], exact: dict[str, str], text: str
) -> set[cst.Name]:
    """Function locals spelled like an old name follow the rename, unless the new name is already in the file.

    ``check`` reports such a local like any other occurrence, so leaving it would leave
    the repository failing the check; renaming it can only capture another binding when
    the new name is spelled somewhere in the file already, and then it keeps its name.
    """
    safe, kept = set(), set()
    for name in names:
        (kept if _spells(text, exact[name.value]) else safe).add(name)
    if kept:
        lines = first_lines(context.parse(path), kept)
        for name in sorted(kept, key=lines.__getitem__):
            context.report.warn(
                task_id,
                f"the local {name.value} keeps its name: {exact[name.value]} is already used in this file",
                path,
                lines[name],
            )
    return safe


def renamable_parameters(
    context: Context, path: str, task_id: str, names: set[cst.Name], exact: dict[str, str], text: str
) -> set[cst.Name]:
    """Parameters follow the rename like locals; one a caller passes by keyword only together with those calls.

    A keyword argument names the parameter from outside the function (``f(old=...)``),
    possibly from another file. Where every such call is renamed too (:func:`keyword_callees`)
    the parameter follows; otherwise it keeps its name and the report says why.
    """
    by_keyword = {
        name.value for name in names
        if _passed_by_keyword(context, name.value) and not keyword_callees(context, name.value)
    }
    kept = {name for name in names if name.value in by_keyword}
    for old in sorted(by_keyword):
        context.report.warn(
            task_id, f"the parameter {old} keeps its name: a call passes it by keyword ({old}=...)", path
        )
    return renamable_locals(context, path, task_id, names - kept, exact, text)


def keyword_pattern(name: str) -> re.Pattern[str]:
    """``name=`` as a call's keyword argument, comment lines between the arguments allowed (a text prefilter)."""
    # One white-space character, or one comment through its line break, per step: one way to match a text.
    return re.compile(rf"[(,](?:[ \t\f\r\n]|#[^\r\n]*[\r\n])*{re.escape(name)}\s*=(?!=)")


def keyword_callees(context: Context, old: str) -> frozenset[str]:
    """The functions and classes whose ``old`` parameter is renamed with the ``old=`` keywords of their calls.

    Empty (and then parameters and keywords alike keep the old name) unless each such
    keyword can only mean a parameter this migration renames: every call in a Python
    file that passes ``old=`` calls, by name or attribute, a function of the workspace
    with that parameter (or a class whose ``__init__`` has it); no such parameter
    belongs to a lambda or sits in a file that already spells the new name (it keeps
    its name there); and the rename covers every Python file that passes it.
    """
    return context.computed_once(_keyword_callees, old)


def _spells(text: str, name: str) -> bool:
    """Whether ``name`` stands in ``text`` as a whole word (code, comment or string alike)."""
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) is not None


def _renamed_in(context: Context, path: str, old: str) -> str | None:
    return context.recipe.renames_for(path, context.main_file).get(old)


def _keyword_callees(context: Context, old: str) -> frozenset[str]:
    # A notebook cell's keyword follows the same owners (kept_keywords), so notebooks decide nothing here.
    callers = [path for path in context.computed_once(_files_passing_keyword, old) if path.endswith(".py")]
    if any(_renamed_in(context, path, old) is None for path in callers):
        return frozenset()
    owners: set[str] = set()
    try:
        for path in context.workspace.files((".py",)):
            text = context.workspace.read_text(path)
            new = _renamed_in(context, path, old)
            if new is None or not _spells(text, old):
                continue
            found = _ParameterOwners(old)
            context.parse(path).visit(found)
            if found.names or found.anonymous:
                if found.anonymous or _spells(text, new):
                    return frozenset()
                owners |= found.names
        for path in callers:
            calls = _KeywordCalls(old, context.recipe.rename_policy.strings)
            context.parse(path).visit(calls)
            if any(callee not in owners for callee in calls.callees):
                return frozenset()
    except Refusal:  # a file that does not parse: the rename itself says so
        return frozenset()
    return frozenset(owners)


class _ParameterOwners(cst.CSTVisitor):
    """The names a call of a function with parameter ``old`` goes by: the function's, or its class's for ``__init__``."""

    def __init__(self, old: str):
        super().__init__()
        self.old = old
        self.names: set[str] = set()
        self.anonymous = False  # a lambda's: its calls cannot be told by name
        self._classes: list[str] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._classes.append(node.name.value)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self._has_old(node.params):
            self.names.add(node.name.value)
            if node.name.value in ("__init__", "__new__") and self._classes:
                self.names.add(self._classes[-1])

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.anonymous = self.anonymous or self._has_old(node.params)

    def _has_old(self, params: cst.Parameters) -> bool:
        return any(param.name.value == self.old for param in all_params(params))


class _KeywordCalls(cst.CSTVisitor):
    """The callee of every call that passes ``old=`` (None when it is not a plain name or attribute).

    Not ``"{old}".format(old=...)``: that keyword follows the string's field, renamed with the strings.
    """

    def __init__(self, old: str, strings_renamed: bool):
        super().__init__()
        self.old, self.strings_renamed = old, strings_renamed
        self.callees: list[str | None] = []
        self.keywords: list[cst.Name] = []  # the keyword of each call, beside its callee

    def visit_Call(self, node: cst.Call) -> None:
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == self.old and not (
                self.strings_renamed and formats_field(node, self.old)
            ):
                self.callees.append(callee_name(node))
                self.keywords.append(arg.keyword)


def parameter_owners_in(sources: list[str], olds: Iterable[str]) -> dict[str, set[str]]:
    """What the functions of these sources (a notebook's code cells) with a parameter ``old`` are called, by old.

    Only for an old name some source passes by keyword: otherwise no cell is parsed for it.
    """
    found: dict[str, set[str]] = {}
    olds = {old for old in olds if any(old in source and keyword_pattern(old).search(source) for source in sources)}
    for source in sources:
        present = [old for old in olds if old in source]
        if not present:
            continue
        try:
            module = cst.parse_module(mask_magics(source))
        except cst.ParserSyntaxError:
            continue
        for old in present:
            owners = _ParameterOwners(old)
            module.visit(owners)
            found.setdefault(old, set()).update(owners.names)
    return found


def kept_keywords(
    context: Context, source: str, olds: Iterable[str], local_owners: dict[str, set[str]] | None = None
) -> dict[tuple[int, int], str]:
    """In a notebook code cell: each ``old=`` keyword whose parameter keeps its name, by (line, column).

    The cell's calls follow the rule of a Python file's (:func:`keyword_callees`): a keyword is
    renamed only in a call to a function whose parameter is renamed with it, so that the call
    still binds. Positions are 1-based lines and 0-based columns inside ``source``; a cell that
    does not parse keeps nothing (it is renamed as text, with its own warning). ``local_owners``: the
    notebook's own functions with such a parameter (:func:`parameter_owners_in`), renamed with the cells.
    """
    passed = [old for old in olds if old in source and keyword_pattern(old).search(source)]
    if not passed:
        return {}
    try:
        wrapper = MetadataWrapper(cst.parse_module(mask_magics(source)), unsafe_skip_copy=True)
    except cst.ParserSyntaxError:
        return {}
    positions = wrapper.resolve(PositionProvider)
    kept: dict[tuple[int, int], str] = {}
    for old in passed:
        owners = keyword_callees(context, old) | (local_owners or {}).get(old, set())
        calls = _KeywordCalls(old, context.recipe.rename_policy.strings)
        wrapper.module.visit(calls)
        for callee, keyword in zip(calls.callees, calls.keywords, strict=True):
            if callee not in owners:
                start = positions[keyword].start
                kept[(start.line, start.column)] = old
    return kept


def formats_field(call: cst.Call, name: str) -> bool:
    """``"... {name} ...".format(name=...)``: a literal's replacement field that the keyword fills."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "format"):
        return False
    if not isinstance(func.value, (cst.SimpleString, cst.ConcatenatedString)):
        return False
    text = func.value.evaluated_value
    return isinstance(text, str) and re.search(r"\{" + re.escape(name) + r"(?=[}!:.\[])", text) is not None


def callee_name(call: cst.Call) -> str | None:
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    return func.attr.value if isinstance(func, cst.Attribute) else None


def _passed_by_keyword(context: Context, name: str) -> bool:
    return bool(context.computed_once(_files_passing_keyword, name))


def _files_passing_keyword(context: Context, name: str) -> tuple[str, ...]:
    """The Python files and notebooks with a call that passes ``name=...`` (a text search: cheap and cautious)."""
    keyword = keyword_pattern(name)
    found = []
    for path in context.workspace.files((".py", ".ipynb")):
        text = context.workspace.read_text(path)
        if name in text and keyword.search(text):
            found.append(path)
    return tuple(found)
