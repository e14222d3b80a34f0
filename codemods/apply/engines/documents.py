"""Renames in prose documents (Markdown notes), and the notice that lists what a relabel renamed.

Documents hold no code to resolve: whole words change, the recipe's renames and, where
prose names the relabelled experiment, its label (``Model v3`` -> ``Model v2``).
"""

from __future__ import annotations

from codemods.apply.engines.rename import exact_renames, prose_words, substring_identifiers
from codemods.apply.session import Context
from codemods.core.names import word_pattern
from codemods.core.recipe import Task


def rename_in_document(context: Context, path: str, task_id: str) -> bool:
    """Whole-word renames in a prose file (a Markdown note): text only, no code to resolve."""
    exact = exact_renames(context, path)
    names = {**prose_words(context, exact), **exact, **substring_identifiers(context)}
    pattern = word_pattern(names, context.recipe.word_guards)
    text = context.workspace.read_text(path)
    if pattern is None or not pattern.search(text):
        return False
    count = len(pattern.findall(text))
    context.workspace.write_text(path, pattern.sub(lambda match: names[match.group(1)], text))
    context.report.renames["document"] += count
    context.report.info(task_id, f"renamed {count} mentions in prose", path)
    return True


def rename_in_documents(context: Context, task: Task) -> None:
    """The recipe's document suffixes (``rename_policy.documents``), each renamed whole-word."""
    documents = context.recipe.rename_policy.documents
    if documents:
        for path in context.workspace.files(tuple(documents)):
            rename_in_document(context, path, task.id)


def note_relabels(context: Context, task: Task) -> None:
    """One notice listing the identifiers the relabels found, and how their label changes in prose."""
    recipe = context.recipe
    if not recipe.relabelled:
        return
    listed = ", ".join(f"{rename.old} -> {rename.new}" for rename in recipe.relabelled)
    labels = ", ".join(f"{relabel.old} -> {relabel.new}" for relabel in recipe.relabels)
    verb = "would relabel" if context.options.get("dry_run") else "relabelled"  # a dry run says what would happen
    message = f"{verb} ({labels}) {len(recipe.relabelled)} identifier(s): {listed}"
    if recipe.prose_relabels:
        kept = sorted({word for relabel in recipe.relabels if relabel.prose for word in relabel.exclude_containing})
        exceptions = ([f"next to {', '.join(map(repr, kept))}"] if kept else []) + ["in a path or variant name"]
        message += (
            "; the label follows in comments, strings and markdown where it names this run"
            f" (not {', nor '.join(exceptions)})"
        )
    context.report.notice(task.id, message)
