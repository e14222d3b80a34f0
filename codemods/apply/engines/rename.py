"""The recipe's renames, applied by binding: definitions, imports, module attributes and, by policy, text.

``collate_fn_fixed_1`` becomes ``AllTokensCollator``, ``collate_fn_fixed_3``
becomes ``AssistantOnlyCollator`` and the legacy ``collate_fn_fixed_fixed1``
becomes ``FlashAttentionPatchCollator`` in every Python file; the main file's
v3 variables become v2 (``collate_fn_v3`` -> ``collate_fn_v2``). All names come
from the recipe.

Code is renamed by binding: a module-level binding of an old name (``global``
declarations and ``import ... as old`` included) and everything that resolves to
it, imports of it and ``module.old`` through an import of its module; a local or
parameter that shadows an old name is left alone. By recipe policy, whole-word
mentions in comments, docstrings and strings (f-strings included) follow, and
identifiers that merely contain an old name (``test_collate_fn_fixed_3``) are
renamed consistently across the repository and listed.

Not by spelling (``bindings.py`` resolves the names): a method or class
attribute that happens to share an old name is no recipe target and keeps its
name, definition and uses alike; ``X.old`` is renamed only when ``X`` is an
import of a workspace module that binds ``old`` (or already ``new``).
``from m import old`` follows when ``m`` renames ``old``, or when ``m`` is not in
the workspace and not the standard library (the recipe is trusted for the rest
of the project); otherwise the import keeps ``old`` and binds it ``as new``.

Not rope's rename refactoring: rope resolves through its own project index and
writes the changed files itself, while every edit here must stay in memory until
the workspace commits all files or none, and must reach comments, strings and
notebook-script cells too. Nor LibCST's ScopeProvider: it analyses every scope of
a file, most of which never mention a recipe name.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

import libcst as cst

from codemods.apply.engines.bindings import FromImport, resolve
from codemods.apply.engines.clashes import refuse_captures, refuse_rename_clashes
from codemods.apply.engines.lines import first_lines
from codemods.apply.engines.rename_locals import (
    callee_name,
    formats_field,
    keyword_callees,
    keyword_pattern,
    renamable_locals,
    renamable_parameters,
)
from codemods.apply.session import Context
from codemods.core.code_kinds import name_kind
from codemods.core.kinds import (
    ALL_ENTRY,
    ANNOTATION,
    ATTRIBUTE,
    COMMENT,
    DOCSTRING,
    F_STRING,
    IDENTIFIER_CONTAINING,
    IMPORT,
    STRING,
)
from codemods.core.names import (
    holds_excluded_word,
    reads_as_prose,
    spliced_identifier,
    substring_pattern,
    word_pattern,
)
from codemods.core.recipe import RenamePolicy
from codemods.core.sections import banner_titles

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def exact_renames(context: Context, path: str) -> dict[str, str]:
    """Old -> new names that apply in one file (file-limited renames only where the recipe says)."""
    return context.recipe.renames_for(path, context.main_file)


def prose_words(context: Context, exact: dict[str, str]) -> dict[str, str]:
    """The relabelled words (``v3`` -> ``v2``) that change in this file's prose; never a name the recipe renames."""
    return {word: new for word, new in context.recipe.prose_relabels.items() if word not in exact}


def substring_identifiers(context: Context) -> dict[str, str]:
    """Identifiers anywhere in the repository that contain an old name, mapped to their new spelling."""
    return context.computed_once(_substring_identifiers)


def _substring_identifiers(context: Context) -> dict[str, str]:
    policy = context.recipe.rename_policy
    mapping: dict[str, str] = {}
    if policy.substring_identifiers == "rename":
        renames = [rename for rename in context.recipe.all_renames if not rename.files]
        for path in context.workspace.files():
            text = context.workspace.read_text(path)
            if not any(rename.old in text for rename in renames):
                continue
            for identifier in set(_IDENTIFIER.findall(text)):
                for rename in renames:
                    old = rename.old
                    if identifier == old or old not in identifier or not substring_pattern(old).search(identifier):
                        continue
                    if not holds_excluded_word(identifier, rename.keep_containing):
                        mapping[identifier] = spliced_identifier(identifier, old, rename.new, policy.substring_style)
    return mapping


def _module_file(context: Context, path: str, level: int, module: str) -> str | None:
    """The workspace file of an imported module (relative to ``path``), or None when it is not there."""
    parts = module.split(".") if module else []
    if level:
        package = path.split("/")[:-1]
        if level - 1 > len(package):
            return None
        parts = package[: len(package) - (level - 1)] + parts
    stem = "/".join(parts)
    for candidate in (f"{stem}.py", f"{stem}/__init__.py") if stem else ():
        if context.workspace.exists(candidate):
            return candidate
    return None


def _module_renames(context: Context, path: str, level: int, module: str, old: str) -> bool | None:
    """Whether the imported module binds ``old`` (or, renamed already, its new name); None: not in the workspace."""
    target = _module_file(context, path, level, module)
    if target is None:
        return None
    names = (old, context.recipe.old_names.get(old, old))
    package = context.recipe.data_package
    if package is not None and target == package.package_init and names[1] in package.exports:
        return True  # the package exports the new name once the plan is carried out (the data package task)
    return context.computed_once(_binds, target, context.workspace.read_text(target), names)


def _binds(context: Context, path: str, text: str, names: tuple[str, ...]) -> bool:
    return bool(resolve(context.parse(path), names, source=text).definitions)


def _import_follows(context: Context, path: str, item: FromImport) -> bool:
    verdict = _module_renames(context, path, item.level, item.module, item.alias.name.value)
    if verdict is None:
        # Outside the workspace: trust the recipe for project code, never for the standard library.
        return item.level > 0 or item.module.split(".")[0] not in sys.stdlib_module_names
    return verdict


class RenameSymbols(cst.CSTTransformer):
    """Renames the resolved code targets, and (by policy) old names in comments and strings."""

    def __init__(
        self,
        exact: dict[str, str],
        substrings: dict[str, str],
        policy: RenamePolicy,
        targets: set[cst.Name],
        attributes: set[cst.Attribute],
        from_imports: dict[cst.ImportAlias, bool],
        mentions,
        protected: set[cst.CSTNode],
        legacy_name: str | None,
        prose_words: dict[str, str] | None = None,
        guards: dict[str, str] | None = None,
        keywords: dict[str, frozenset[str]] | None = None,
    ):
        super().__init__()
        self.exact, self.substrings, self.policy = exact, substrings, policy
        self.targets, self.attributes, self.from_imports = targets, attributes, from_imports
        self.mentions, self.protected, self.legacy_name = mentions, protected, legacy_name
        # old name -> the callees whose ``f(old=...)`` keywords are renamed with their parameters
        self.keywords = keywords or {}
        # Relabelled words (``v3``) change in comments and strings only, where they name the experiment.
        self.text_names = {**(prose_words or {}), **exact, **substrings}
        self.text_pattern = word_pattern(self.text_names, guards)
        self.token_pattern = word_pattern({**exact, **substrings}) if prose_words else self.text_pattern
        self.counts: Counter[str] = Counter()
        self.renamed_substrings: dict[str, str] = {}
        self.legacy_calls: list[tuple[cst.CSTNode, cst.CSTNode]] = []  # (top-level statement, call target)
        self.stack: list[cst.CSTNode] = []

    # Ancestors are tracked here rather than by ParentNodeProvider, which walks the whole module.
    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        if isinstance(node, cst.BaseStatement) and (node in self.protected or not self.mentions(node)):
            return False
        return super().on_visit(node)

    def on_leave(self, original_node, updated_node):
        try:
            return super().on_leave(original_node, updated_node)
        finally:
            self.stack.pop()

    def _parent(self, levels: int = 1) -> cst.CSTNode | None:
        return self.stack[-1 - levels] if len(self.stack) > levels else None

    # ------------------------------------------------------------------ code
    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        parent = self._parent()
        in_import = isinstance(parent, cst.ImportAlias) or (
            isinstance(parent, cst.AsName) and isinstance(self._parent(2), cst.ImportAlias)
        )
        if (original_node in self.targets and not in_import) or self._renamed_keyword(original_node, parent):
            self.counts[self._kind_of(original_node)] += 1
            self._note_legacy_call(original_node, original_node.value)
            return updated_node.with_changes(value=self.exact[original_node.value])
        if original_node.value in self.substrings:
            new = self.substrings[original_node.value]
            self.counts[IDENTIFIER_CONTAINING] += 1
            self.renamed_substrings[original_node.value] = new
            return updated_node.with_changes(value=new)
        return updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if original_node not in self.attributes:
            return updated_node
        self.counts[ATTRIBUTE] += 1
        self._note_legacy_call(original_node, original_node.attr.value)
        return updated_node.with_changes(attr=cst.Name(self.exact[original_node.attr.value]))

    def leave_ImportAlias(self, original_node: cst.ImportAlias, updated_node: cst.ImportAlias) -> cst.ImportAlias:
        name = original_node.name
        asname = original_node.asname.name if original_node.asname else None
        if isinstance(self._parent(), cst.Import):
            if asname in self.targets:  # import json as old
                new = self.exact[asname.value]
                updated_node = updated_node.with_changes(asname=updated_node.asname.with_changes(name=cst.Name(new)))
            elif asname is None and name in self.targets:  # import old: the module keeps its name
                updated_node = updated_node.with_changes(asname=cst.AsName(name=cst.Name(self.exact[name.value])))
            else:
                return updated_node
        elif isinstance(name, cst.Name) and name.value in self.exact and self.from_imports.get(original_node, True):
            old, new = name.value, self.exact[name.value]
            updated_node = updated_node.with_changes(name=cst.Name(new))
            if asname is None and name not in self.targets:
                # A function-local import: its uses resolve locally and keep the old name.
                updated_node = updated_node.with_changes(asname=cst.AsName(name=cst.Name(old)))
            elif isinstance(asname, cst.Name) and (asname.value == new or (
                asname in self.targets and self.exact.get(asname.value) == new
            )):  # from m import old as new, from m import old as old
                updated_node = updated_node.with_changes(asname=None)
            elif isinstance(asname, cst.Name) and asname in self.targets:  # from m import old_a as old_b
                new_alias = cst.Name(self.exact[asname.value])
                updated_node = updated_node.with_changes(asname=updated_node.asname.with_changes(name=new_alias))
        elif isinstance(name, cst.Name) and name.value in self.exact and asname is None and name in self.targets:
            # The module keeps ``old``; this file's binding is renamed all the same.
            updated_node = updated_node.with_changes(asname=cst.AsName(name=cst.Name(self.exact[name.value])))
        elif isinstance(asname, cst.Name) and asname in self.targets:
            # from m import x as old (x kept, m does not rename it): a local binding
            updated_node = updated_node.with_changes(asname=updated_node.asname.with_changes(name=cst.Name(self.exact[asname.value])))
        else:
            return updated_node
        self.counts[IMPORT] += 1
        return updated_node

    # ------------------------------------------------------------------ text
    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString):
        kind = self._string_kind(original_node)
        if kind not in {ALL_ENTRY, ANNOTATION} and not self.policy.strings:
            return updated_node
        return updated_node.with_changes(value=self._replace_text(updated_node.value, kind))

    def leave_FormattedStringText(self, original_node, updated_node):
        if not self.policy.strings:
            return updated_node
        return updated_node.with_changes(value=self._replace_text(updated_node.value, F_STRING))

    def leave_Comment(self, original_node: cst.Comment, updated_node: cst.Comment) -> cst.Comment:
        if not self.policy.comments:
            return updated_node
        return updated_node.with_changes(value=self._replace_text(updated_node.value, COMMENT))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        """The legacy and deprecated-alias sections keep their old names on purpose (skipped above)."""
        return updated_node.with_changes(footer=original_node.footer) if self.protected else updated_node

    # ------------------------------------------------------------------ helpers
    def _replace_text(self, text: str, kind: str) -> str:
        # A relabelled word changes in sentences, never in a key or a tag (names.reads_as_prose).
        pattern = self.text_pattern if kind == COMMENT or reads_as_prose(text) else self.token_pattern
        if pattern is None:
            return text

        def substitute(match: re.Match[str]) -> str:
            old = match.group(1)
            if old in self.substrings:
                self.renamed_substrings[old] = self.substrings[old]
            self.counts[kind] += 1
            return self.text_names[old]

        return pattern.sub(substitute, text)

    def _string_kind(self, node: cst.SimpleString) -> str:
        parent = self._parent()
        if isinstance(parent, cst.Annotation):
            return ANNOTATION
        if isinstance(parent, cst.Element) and _is_dunder_all(self._parent(3)):
            return ALL_ENTRY
        if isinstance(parent, cst.Expr) and node.value.lstrip("rRbBuU").startswith(('"""', "'''")):
            return DOCSTRING
        return STRING

    def _renamed_keyword(self, node: cst.Name, parent: cst.CSTNode | None) -> bool:
        if not isinstance(parent, cst.Arg) or parent.keyword is not node or node.value not in self.exact:
            return False
        call = self._parent(2)
        if not isinstance(call, cst.Call):
            return False
        if self.policy.strings and formats_field(call, node.value):
            return True  # the string's {old} field is renamed with the strings: its keyword follows
        return node.value in self.keywords and callee_name(call) in self.keywords[node.value]

    def _kind_of(self, node: cst.Name) -> str:
        """The occurrence kind `refactor check` would report here: one classifier for both."""
        parents = dict(zip(self.stack[1:], self.stack[:-1], strict=False))
        return name_kind(node, parents)

    def _note_legacy_call(self, node: cst.CSTNode, name: str) -> None:
        parent = self._parent()
        if name == self.legacy_name and isinstance(parent, cst.Call) and parent.func is node:
            self.legacy_calls.append((self.stack[1], node))


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
    prose = prose_words(context, exact)
    text = context.workspace.read_text(path)
    if not any(name in text for name in [*exact, *substrings, *prose]):
        return False
    module = context.parse(path)
    resolution = resolve(module, exact, {**substrings, **prose}, source=text, renames=exact)
    attributes = {
        access.node for access in resolution.attributes
        if _module_renames(context, path, *access.module, access.node.attr.value)
    }
    from_imports = {item.alias: _import_follows(context, path, item) for item in resolution.from_imports}
    start = _protected_start(module, banner_titles(context.recipe))
    refuse_rename_clashes(context, task_id, path, module, text, exact, substrings, resolution, start)
    refuse_captures(context, task_id, path, module, resolution)
    protected = set(module.body[start:]) if start is not None else set()
    legacy = context.recipe.legacy.old if context.recipe.legacy else None
    targets = set(resolution.references)
    keywords: dict[str, frozenset[str]] = {}
    if context.recipe.rename_policy.locals:
        targets |= renamable_locals(context, path, task_id, resolution.locals, exact, text)
        targets |= renamable_parameters(context, path, task_id, resolution.parameters, exact, text)
        keywords = {old: keyword_callees(context, old) for old in exact if keyword_pattern(old).search(text)}
    renamer = RenameSymbols(
        exact, substrings, context.recipe.rename_policy, targets, attributes, from_imports,
        resolution.mentions, protected, legacy, prose, context.recipe.word_guards, keywords,
    )
    new_module = module.visit(renamer)
    changed = context.write_module(path, new_module)
    if changed:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(renamer.counts.items()))
        context.report.info(task_id, f"renamed {sum(renamer.counts.values())} occurrences ({kinds})", path)
        context.report.renames.update(renamer.counts)
        context.report.substring_renames.update(renamer.renamed_substrings)
        lines = first_lines(module, [node for _, node in renamer.legacy_calls])
        for _, node in renamer.legacy_calls:
            context.report.warn(
                task_id,
                f"calls the legacy collator {context.recipe.legacy.new} (was {legacy}); "
                "it is kept for reference only, not for training",
                path,
                lines[node],
            )
    return changed
