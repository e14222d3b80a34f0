"""Literal paths that follow a replaced config's new directories.

A replaced block may write to a new place (``output_dir`` ``./vlm_outputs/...-lora-
assistantonly`` becomes ``./vlm_outputs/...-v2-assistant-only``). Other code names
the old place on its own: an evaluation notebook loads the adapter from
``"../vlm_outputs/...-lora-assistantonly"``, a script defaults to it. Every string
literal under ROOT whose value is such a directory, or a path inside it (``./``
and ``../`` prefixes aside), is updated to the new one and listed as a follow-up;
with the ``keep_paths`` option it is left as it is and listed as still pointing at
the old place. Literals in the recipe's config function itself are its own bases,
never followed; paired notebooks follow their script.
"""

from __future__ import annotations

import ast
import json
import re

import libcst as cst

from codemods.apply.engines.definitions import module_function
from codemods.apply.engines.jupytext_pairs import jupytext_pairs
from codemods.apply.engines.lines import first_lines, visit_mentioning
from codemods.apply.engines.notebook_renames import dump_like
from codemods.apply.session import Context
from codemods.core.bom import without_bom
from codemods.core.recipe import Task


def directory_moves(context: Context) -> dict[str, str]:
    """Old directory -> new one, from the path fields the replaced blocks changed (``./`` dropped)."""
    function = context.recipe.config_function
    if function is None:
        return {}
    moves = {}
    for change in context.report.behaviour_changes:
        if change.field not in function.path_fields:
            continue
        try:
            before, after = ast.literal_eval(change.before), ast.literal_eval(change.after)
        except (ValueError, SyntaxError):
            continue  # computed at run time: nothing literal to follow
        if isinstance(before, str) and isinstance(after, str) and _bare(before) and _bare(before) != _bare(after):
            moves[_bare(before)] = _bare(after)
    return moves


def _bare(path: str) -> str:
    return re.sub(r"^(?:\./)+", "", path.strip()).rstrip("/")


class _FollowPaths(cst.CSTTransformer):
    def __init__(self, pattern: re.Pattern[str], moves: dict[str, str], skipped: cst.CSTNode | None):
        super().__init__()
        self.pattern, self.moves, self.skipped = pattern, moves, skipped
        self.followed: list[tuple[cst.SimpleString, str, str]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is not self.skipped

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        value = original.evaluated_value
        match = self.pattern.fullmatch(value) if isinstance(value, str) else None
        if match is None or "\\" in original.value:
            return updated
        new = match.group(1) + self.moves[match.group(2)] + (match.group(3) or "")
        self.followed.append((original, value, new))
        prefix_and_quote = original.value[: len(original.value) - len(original.raw_value) - len(original.quote)]
        return updated.with_changes(value=prefix_and_quote + new + original.quote)


def follow_paths(context: Context, task: Task) -> None:
    moves = directory_moves(context)
    if not moves:
        return
    alternation = "|".join(re.escape(old) for old in sorted(moves, key=len, reverse=True))
    pattern = re.compile(rf"((?:\.\.?/)*)({alternation})(/.*)?", re.DOTALL)
    keep = bool(context.options.get("keep_paths"))
    paired = {pair.notebook for pair in jupytext_pairs(context) if context.workspace.exists(pair.script)}
    function = context.recipe.config_function.name if context.recipe.config_function else ""
    for path in context.workspace.files((".py", ".ipynb")):
        text = context.workspace.read_text(path)
        if path in paired or not any(old in text for old in moves):
            continue
        if path.endswith(".ipynb"):
            _follow_in_notebook(context, task, path, text, pattern, moves, keep)
            continue
        module = context.parse(path)
        follower = _FollowPaths(pattern, moves, module_function(module, function))
        new_module = visit_mentioning(module, follower, list(moves))
        lines = first_lines(module, [node for node, _, _ in follower.followed])
        for node, old, new in follower.followed:
            _say(context, task, path, lines[node], old, new, keep)
        if follower.followed and not keep:
            context.write_module(path, new_module)


def _follow_in_notebook(
    context: Context, task: Task, path: str, text: str, pattern: re.Pattern[str], moves: dict[str, str], keep: bool
) -> None:
    try:
        document = json.loads(without_bom(text))
        cells = document["cells"]
    except (ValueError, KeyError, TypeError):
        return
    changed = False
    for index, cell in enumerate(cells):
        source = "".join(cell.get("source", "")) if isinstance(cell.get("source"), list) else cell.get("source", "")
        if cell.get("cell_type") != "code" or not any(old in source for old in moves):
            continue
        try:
            module = cst.parse_module(source)
        except cst.ParserSyntaxError:
            continue  # magics and the like: the check lists such cells; a person decides
        follower = _FollowPaths(pattern, moves, None)
        new_source = module.visit(follower).code
        lines = first_lines(module, [node for node, _, _ in follower.followed])
        for node, old, new in follower.followed:
            _say(context, task, path, lines[node], old, new, keep, cell=index)
        if follower.followed and not keep:
            cell["source"] = new_source.splitlines(keepends=True)
            changed = True
    if changed:
        context.workspace.write_text(path, dump_like(document, text))


def _say(
    context: Context, task: Task, path: str, line: int, old: str, new: str, keep: bool, cell: int | None = None
) -> None:
    where = f"cell {cell} line {line}: " if cell is not None else ""
    if keep:
        context.report.warn(task.id, f"{where}follow-up left as it is (keep_paths): {old!r} still names the old directory; "
                            f"the config now writes to {new!r}", path, None if cell is not None else line)
    else:
        context.report.notice(task.id, f"{where}follow-up: {old!r} -> {new!r}, the directory the config now writes to",
                              path, None if cell is not None else line)
