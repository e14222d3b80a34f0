"""Task 4 of the plan: rename the collators for clarity.

``collate_fn_fixed_1`` becomes ``AllTokensCollator``, ``collate_fn_fixed_3``
becomes ``AssistantOnlyCollator`` and the legacy ``collate_fn_fixed_fixed1``
becomes ``FlashAttentionPatchCollator`` in every Python file; the main file's
v3 variables become v2 (``collate_fn_v3`` -> ``collate_fn_v2``). All names come
from the recipe.

Code is renamed scope-aware: a module-level binding and everything that
resolves to it, imports (also ``as`` imports), ``module.attr`` access; a local
or parameter that shadows an old name is left alone. By recipe policy, whole-word
mentions in comments, docstrings and strings (f-strings included) follow, and
identifiers that merely contain an old name (``test_collate_fn_fixed_3``) are
renamed consistently across the repository and listed.

The engine is LibCST's scope analysis, not rope's rename refactoring: rope
resolves through its own project index and writes the changed files itself,
while every edit here must stay in memory until the workspace commits all files
or none, and must reach comments, strings and notebook-script cells too.
"""

from __future__ import annotations

import re
from collections import Counter

import libcst as cst
from libcst.metadata import GlobalScope, ParentNodeProvider, PositionProvider, ScopeProvider

from codemods.apply.session import Context
from codemods.core.names import spliced_identifier, substring_pattern, word_pattern
from codemods.core.recipe import Recipe, RenamePolicy, Task
from codemods.core.sections import banner_titles

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBSTRING_MEMO = "rename_collators.substrings"


def exact_renames(context: Context, path: str) -> dict[str, str]:
    """Old -> new names that apply in one file (file-limited renames only where the recipe says)."""
    return {rename.old: rename.new for rename in context.recipe.renames_for(path, context.main_file)}


def repository_wide_names(recipe: Recipe) -> dict[str, str]:
    return {r.old: r.new for r in recipe.all_renames if not r.files}


def substring_identifiers(context: Context) -> dict[str, str]:
    """Identifiers anywhere in the repository that contain an old name, mapped to their new spelling."""
    if _SUBSTRING_MEMO in context.memo:
        return context.memo[_SUBSTRING_MEMO]
    policy = context.recipe.rename_policy
    mapping: dict[str, str] = {}
    if policy.substring_identifiers == "rename":
        olds = repository_wide_names(context.recipe)
        for path in context.workspace.files():
            text = context.workspace.read_text(path)
            if not any(old in text for old in olds):
                continue
            for identifier in set(_IDENTIFIER.findall(text)):
                for old, new in olds.items():
                    if identifier != old and substring_pattern(old).search(identifier):
                        mapping[identifier] = spliced_identifier(identifier, old, new, policy.substring_style)
    context.memo[_SUBSTRING_MEMO] = mapping
    return mapping


class _ScopeTargets(cst.CSTVisitor):
    """Finds the Name nodes that denote the module-level binding of an old name."""

    METADATA_DEPENDENCIES = (ScopeProvider,)

    def __init__(self, names: set[str]):
        super().__init__()
        self.names = names
        self.targets: set[cst.CSTNode] = set()

    def visit_Module(self, node: cst.Module) -> bool:
        scopes = {scope for scope in self.metadata[ScopeProvider].values() if scope is not None}
        for scope in scopes:
            for name in self.names:
                self._collect(scope, name)
        return False

    def _collect(self, scope, name: str) -> None:
        for access in scope.accesses[name]:
            referents = access.referents
            if all(isinstance(assignment.scope, GlobalScope) for assignment in referents):
                self.targets.add(access.node)
        if isinstance(scope, GlobalScope):
            for assignment in scope.assignments[name]:
                node = getattr(assignment, "node", None)
                if isinstance(node, cst.Name):
                    self.targets.add(node)
                elif isinstance(node, (cst.ClassDef, cst.FunctionDef)):
                    self.targets.add(node.name)


class RenameSymbols(cst.CSTTransformer):
    """Renames old names in code, and (by policy) in comments and strings."""

    METADATA_DEPENDENCIES = (ParentNodeProvider, PositionProvider)

    def __init__(
        self,
        exact: dict[str, str],
        attribute_names: dict[str, str],
        substrings: dict[str, str],
        policy: RenamePolicy,
        targets: set[cst.CSTNode],
        protected_titles: list[str],
        legacy_name: str | None,
    ):
        super().__init__()
        self.exact = exact
        self.attribute_names = attribute_names
        self.substrings = substrings
        self.policy = policy
        self.targets = targets
        self.protected_titles = protected_titles
        self.legacy_name = legacy_name
        self.text_names = {**exact, **substrings}
        self.text_pattern = word_pattern(self.text_names)
        self.counts: Counter[str] = Counter()
        self.renamed_substrings: dict[str, str] = {}
        self.legacy_calls: list[int] = []

    # ------------------------------------------------------------------ code
    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if original_node in self.targets:
            self.counts[self._kind_of(original_node)] += 1
            self._note_legacy_call(original_node)
            return updated_node.with_changes(value=self.exact[original_node.value])
        if original_node.value in self.substrings:
            new = self.substrings[original_node.value]
            self.counts["identifier containing an old name"] += 1
            self.renamed_substrings[original_node.value] = new
            return updated_node.with_changes(value=new)
        return updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        name = original_node.attr.value
        if name not in self.attribute_names or _is_self(original_node.value):
            return updated_node
        self.counts["attribute"] += 1
        self._note_legacy_call(original_node, name)
        return updated_node.with_changes(attr=cst.Name(self.attribute_names[name]))

    def leave_ImportAlias(self, original_node: cst.ImportAlias, updated_node: cst.ImportAlias) -> cst.ImportAlias:
        if not isinstance(original_node.name, cst.Name) or original_node.name.value not in self.exact:
            return updated_node
        new = self.exact[original_node.name.value]
        self.counts["import"] += 1
        asname = updated_node.asname
        if asname is not None and isinstance(asname.name, cst.Name) and asname.name.value == new:
            asname = None
        return updated_node.with_changes(name=cst.Name(new), asname=asname)

    # ------------------------------------------------------------------ text
    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString):
        kind = self._string_kind(original_node)
        if kind not in {"__all__ entry", "annotation"} and not self.policy.strings:
            return updated_node
        value = self._replace_text(updated_node.value, kind)
        return updated_node.with_changes(value=value)

    def leave_FormattedStringText(self, original_node, updated_node):
        if not self.policy.strings:
            return updated_node
        return updated_node.with_changes(value=self._replace_text(updated_node.value, "f-string"))

    def leave_Comment(self, original_node: cst.Comment, updated_node: cst.Comment) -> cst.Comment:
        if not self.policy.comments:
            return updated_node
        return updated_node.with_changes(value=self._replace_text(updated_node.value, "comment"))

    # ------------------------------------------------------------------ protected tail
    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        """The legacy and deprecated-alias sections keep their old names on purpose."""
        start = _protected_start(original_node, self.protected_titles)
        if start is None:
            return updated_node
        return updated_node.with_changes(
            body=[*updated_node.body[:start], *original_node.body[start:]], footer=original_node.footer
        )

    # ------------------------------------------------------------------ helpers
    def _replace_text(self, text: str, kind: str) -> str:
        if self.text_pattern is None:
            return text

        def substitute(match: re.Match[str]) -> str:
            old = match.group(1)
            if old in self.substrings:
                self.renamed_substrings[old] = self.substrings[old]
            self.counts[kind] += 1
            return self.text_names[old]

        return self.text_pattern.sub(substitute, text)

    def _string_kind(self, node: cst.SimpleString) -> str:
        parent = self.get_metadata(ParentNodeProvider, node, None)
        if isinstance(parent, cst.Annotation):
            return "annotation"
        if isinstance(parent, cst.Element) and _is_dunder_all(self._ancestor(parent, 2)):
            return "__all__ entry"
        if isinstance(parent, cst.Expr) and node.value.lstrip("rRbBuU").startswith(('"""', "'''")):
            return "docstring"
        return "string"

    def _ancestor(self, node: cst.CSTNode, levels: int) -> cst.CSTNode | None:
        for _ in range(levels):
            node = self.get_metadata(ParentNodeProvider, node, None)
            if node is None:
                return None
        return node

    def _kind_of(self, node: cst.Name) -> str:
        parent = self.get_metadata(ParentNodeProvider, node, None)
        if isinstance(parent, cst.ClassDef):
            return "class definition"
        if isinstance(parent, cst.FunctionDef):
            return "function definition"
        if isinstance(parent, cst.Call) and parent.func is node:
            return "call"
        if isinstance(parent, cst.Annotation):
            return "annotation"
        if isinstance(parent, (cst.AssignTarget, cst.Element)):
            return "assignment target" if isinstance(parent, cst.AssignTarget) else "name"
        if isinstance(parent, cst.Arg):
            return "keyword argument value" if parent.keyword is not None else "positional argument"
        return "name"

    def _note_legacy_call(self, node: cst.CSTNode, name: str | None = None) -> None:
        name = name or getattr(node, "value", None)
        if name != self.legacy_name:
            return
        parent = self.get_metadata(ParentNodeProvider, node, None)
        if isinstance(parent, cst.Call) and parent.func is node:
            self.legacy_calls.append(self.get_metadata(PositionProvider, node).start.line)


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value in {"self", "cls"}


def _is_dunder_all(node: cst.CSTNode | None) -> bool:
    if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        return any(isinstance(t, cst.Name) and t.value == "__all__" for t in targets)
    return False


def _protected_start(module: cst.Module, titles: list[str]) -> int | None:
    for index, stmt in enumerate(module.body):
        for line in stmt.leading_lines:
            if line.comment and line.comment.value.lstrip("#").strip() in titles:
                return index
    return None


def rename_in_file(context: Context, path: str, task_id: str) -> bool:
    """Apply the recipe's renames to one file; True when it changed."""
    exact = exact_renames(context, path)
    substrings = substring_identifiers(context)
    text = context.workspace.read_text(path)
    if not any(name in text for name in [*exact, *substrings]):
        return False
    module = context.parse(path)
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    finder = _ScopeTargets(set(exact))
    wrapper.visit(finder)
    legacy = context.recipe.legacy.old if context.recipe.legacy else None
    attribute_names = {old: new for old, new in repository_wide_names(context.recipe).items() if old in exact}
    renamer = RenameSymbols(
        exact, attribute_names, substrings, context.recipe.rename_policy, finder.targets,
        banner_titles(context.recipe), legacy,
    )
    new_module = wrapper.visit(renamer)
    changed = context.write_module(path, new_module)
    if changed:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(renamer.counts.items()))
        context.report.info(task_id, f"renamed {sum(renamer.counts.values())} occurrences ({kinds})", path)
        context.report.renames.update(renamer.counts)
        context.report.substring_renames.update(renamer.renamed_substrings)
        for line in renamer.legacy_calls:
            context.report.warn(
                task_id,
                f"calls the legacy collator {context.recipe.legacy.new} (was {legacy}); "
                "it is kept for reference only, not for training",
                path,
                line,
            )
    return changed


def rename_in_document(context: Context, path: str, task_id: str) -> bool:
    """Whole-word renames in a prose file (a Markdown note): text only, no code to resolve."""
    names = {**exact_renames(context, path), **substring_identifiers(context)}
    pattern = word_pattern(names)
    text = context.workspace.read_text(path)
    if pattern is None or not pattern.search(text):
        return False
    count = len(pattern.findall(text))
    context.workspace.write_text(path, pattern.sub(lambda match: names[match.group(1)], text))
    context.report.renames["document"] += count
    context.report.info(task_id, f"renamed {count} mentions in prose", path)
    return True


def rename_everywhere(context: Context, task: Task) -> None:
    for path in context.workspace.files():
        rename_in_file(context, path, task.id)
    documents = context.recipe.rename_policy.documents
    if documents:
        for path in context.workspace.files(tuple(documents)):
            rename_in_document(context, path, task.id)
