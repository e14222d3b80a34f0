"""Refusing a change that would bind a name twice in the scope where it lands.

A rename of ``collate_fn_fixed_1`` to ``AllTokensCollator`` in a module that
already defines ``class AllTokensCollator`` would leave two definitions, the
later silently shadowing the earlier; so would inserting the recipe's config
function into a module that already binds its name to something else. Both are
refused, naming both places, before anything is written.

A repository migrated already is no clash: the old name is gone, so nothing is
renamed onto the new one, and the config function found there is the recipe's
own (it takes the recipe's variant parameter). The legacy and deprecated-alias
sections keep their old names on purpose and are not renamed, so an old name
bound there clashes with nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import libcst as cst

from codemods.apply.engines.bindings import Resolution, resolve
from codemods.apply.engines.definitions import module_function
from codemods.apply.engines.lines import first_lines
from codemods.apply.session import Context, Refusal


def _spelled(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) is not None


def refuse_rename_clashes(
    context: Context,
    task_id: str,
    path: str,
    module: cst.Module,
    text: str,
    exact: Mapping[str, str],
    substrings: Mapping[str, str],
    resolution: Resolution,
    protected_start: int | None,
) -> None:
    """Refuse when a module-level binding about to be renamed meets one the module already has of the new name."""
    renamed = {name: exact[name.value] for name in resolution.definitions if name.value in exact}
    spliced = {old: new for old, new in substrings.items() if _spelled(old, text)}
    # A name that is itself renamed away in this file frees its spelling (a chain a -> b, b -> c).
    news = {new for new in {*renamed.values(), *spliced.values()} if new not in exact and _spelled(new, text)}
    if not news:
        return
    found = resolve(module, {*news, *spliced}, source=text).definitions
    renamed.update({name: spliced[name.value] for name in found if name.value in spliced})
    existing = [name for name in found if name.value in news]
    renamed = {name: new for name, new in renamed.items() if new in news}
    if not existing or not renamed:
        return
    boundary_node = module.body[protected_start] if protected_start is not None else None
    lines = first_lines(module, [*renamed, *existing, *([boundary_node] if boundary_node is not None else [])])
    boundary = lines[boundary_node] if boundary_node is not None else None
    shapes = _binding_shapes(module, {*renamed, *existing}, {*renamed.values(), *(n.value for n in renamed)})
    for name in sorted(renamed, key=lines.__getitem__):
        if boundary is not None and lines[name] >= boundary:
            continue
        new = renamed[name]
        clashing = [other for other in existing if other.value == new and not _same_object(shapes[name], shapes[other])]
        if clashing:
            olds = sorted(lines[other] for other in renamed if other.value == name.value)
            news = sorted(lines[other] for other in clashing)
            old_line, new_line = _in_the_users_file(
                context, path, name.value, new, olds.index(lines[name]), lines[name], news[0]
            )
            raise Refusal(
                task_id,
                f"renaming {name.value} (defined at {path}:{old_line}) to {new} would define {new} twice: "
                f"{path}:{new_line} already defines {new}. Rename or remove one of them, then run again",
            )


_IMPORT, _ALIAS, _DEFINITION = "import", "alias", "definition"


def refuse_captures(context: Context, task_id: str, path: str, module: cst.Module, resolution: Resolution) -> None:
    """Refuse a rename that would make a reference read a local of the new name instead of the renamed global."""
    if not resolution.captured:
        return
    lines = first_lines(module, [name for pair in resolution.captured for name in pair])
    reference, local = min(resolution.captured, key=lambda pair: lines[pair[0]])
    raise Refusal(
        task_id,
        f"renaming {reference.value} to {local.value} would change what line {lines[reference]} reads: "
        f"there the local {local.value} bound at line {lines[local]} hides the renamed global. "
        "Rename that local, then run again",
        path,
        lines[reference],
    )


def _same_object(old_shape: str, new_shape: str) -> bool:
    """Two bindings the rename leaves naming one object: imports of it, or ``new = old`` / ``old = new``."""
    return (old_shape == new_shape == _IMPORT) or _ALIAS in (old_shape, new_shape)


class _Shapes(cst.CSTVisitor):
    def __init__(self, nodes: set[cst.Name], names: set[str]):
        super().__init__()
        self.nodes, self.names = nodes, names
        self.shapes: dict[cst.Name, str] = {}

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        bound = node.asname.name if node.asname is not None else node.name
        imported = node.name.attr.value if isinstance(node.name, cst.Attribute) else node.name.value
        if bound in self.nodes and imported in self.names:
            self.shapes[bound] = _IMPORT

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        spelled = value.value if isinstance(value, cst.Name) else value.attr.value if isinstance(value, cst.Attribute) else None
        if spelled in self.names:
            for target in node.targets:
                if target.target in self.nodes:
                    self.shapes[target.target] = _ALIAS

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # module-level bindings only; a function body binds locally


def _binding_shapes(module: cst.Module, nodes: set[cst.Name], names: set[str]) -> dict[cst.Name, str]:
    """Each binding as an import of one of ``names``, an alias ``x = name``, or a definition of its own."""
    visitor = _Shapes(nodes, names)
    module.visit(visitor)
    return {node: visitor.shapes.get(node, _DEFINITION) for node in nodes}


def _in_the_users_file(
    context: Context, path: str, old: str, new: str, nth_old: int, old_line: int, new_line: int
) -> tuple[int, int]:
    """The lines as the user's file has them: an earlier task may have moved both in memory."""
    before = next((change.before for change in context.workspace.changes() if change.path == path), None)
    if before is None:
        return old_line, new_line
    try:
        original = cst.parse_module(before.decode("utf-8"))
    except (UnicodeDecodeError, cst.ParserSyntaxError):
        return old_line, new_line
    found = resolve(original, {old, new}).definitions
    lines = first_lines(original, found)
    olds = sorted(lines[name] for name in found if name.value == old)
    news = sorted(lines[name] for name in found if name.value == new)
    return (olds[nth_old] if nth_old < len(olds) else old_line), (news[0] if news else new_line)


def recipe_function_defined(
    task_id: str, path: str, module: cst.Module, name: str, parameter: str, insert_line: int | None = None
) -> bool:
    """Whether the module defines the recipe's function already; a different binding of its name is refused.

    The recipe's own function is a top-level ``def`` taking ``parameter`` (the variant);
    anything else bound to the name at module level (another ``def``, a class, an
    assignment, an import) would be shadowed by the inserted one, or called in its place.
    """
    definition = module_function(module, name)
    if definition is not None:
        params = definition.params
        if any(p.name.value == parameter for p in (*params.posonly_params, *params.params, *params.kwonly_params)):
            return True
    bindings = resolve(module, {name}).definitions
    if not bindings:
        return False
    line = min(first_lines(module, bindings).values())
    where = f" at {path}:{insert_line}" if insert_line else f" into {path}"
    raise Refusal(
        task_id,
        f"{name} is already defined at {path}:{line}, and not as the recipe's {name}({parameter}, ...); inserting "
        f"the recipe's {name}(){where} would define it twice. Rename or remove the existing one, then run again",
    )
