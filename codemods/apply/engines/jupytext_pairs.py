"""Which scripts and notebooks under ROOT jupytext keeps paired, read from jupytext's own metadata.

A pair is declared by ``formats`` (``ipynb,py:percent``) in either file: the
script's YAML header or the notebook's ``metadata.jupytext``. Either is enough,
as it is for ``jupytext --sync``, so a notebook whose metadata was filtered out
still follows its script, and a script without a header still leads its
notebook. Paths follow jupytext's own rules (``notebooks//ipynb,scripts//py:percent``
prefixes included) through ``jupytext.paired_paths``. Only pairs with a Python
script matter here: the script is what the migration edits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

import jupytext
from jupytext.formats import long_form_multiple_formats, short_form_one_format
from jupytext.paired_paths import paired_paths

from codemods.apply.session import Context
from codemods.core.bom import without_bom


@dataclass(frozen=True, order=True)
class Pair:
    notebook: str
    script: str
    script_format: str  # the script's jupytext format, e.g. "py:percent"


def jupytext_pairs(context: Context) -> tuple[Pair, ...]:
    """Every pair under ROOT, by notebook path; found once per session (pairing metadata is never edited)."""
    return context.computed_once(_pairs)


def synced_notebooks(context: Context) -> set[str]:
    """The notebooks whose script exists: they follow it, and are never edited on their own first."""
    return {pair.notebook for pair in jupytext_pairs(context) if context.workspace.exists(pair.script)}


def _pairs(context: Context) -> tuple[Pair, ...]:
    workspace = context.workspace
    found: dict[str, Pair] = {}
    # Read leniently: a file that is not UTF-8 declares no pairing, and its own engine says why it is skipped.
    for script in workspace.files((".py",)):
        pairing = paired_notebook(script, workspace.read_bytes(script).decode("utf-8", "replace"))
        if pairing is not None:
            found.setdefault(pairing[0], Pair(pairing[0], script, pairing[1]))
    for notebook in workspace.files((".ipynb",)):
        if notebook in found:
            continue
        pairing = _script_of(notebook, workspace.read_bytes(notebook).decode("utf-8", "replace"))
        if pairing is not None and workspace.exists(pairing[0]):
            found[notebook] = Pair(notebook, *pairing)
    return tuple(sorted(found.values()))


def paired_notebook(script_path: str, script_text: str) -> tuple[str, str] | None:
    """(notebook path, the script's jupytext format) when the script's header pairs it with an ipynb."""
    leading = _leading_comments(without_bom(script_text))
    if "jupytext" not in leading:
        return None
    try:
        # Only the leading comment block can hold the header: reading the whole script
        # would parse every cell of a 3,000-line notebook-script to look at ten lines.
        header = jupytext.reads(leading, fmt="py:percent").metadata.get("jupytext", {})
    except Exception:  # noqa: BLE001 - a header jupytext cannot read is not a pairing we can honour
        return None
    formats = header.get("formats") if isinstance(header, dict) else None
    if not formats or "ipynb" not in str(formats):
        return None
    return _paired_with(script_path, formats, ".py", ".ipynb")


def _script_of(notebook_path: str, text: str) -> tuple[str, str] | None:
    """(script path, its format) when the notebook's metadata pairs it with a Python script."""
    if '"jupytext"' not in text:
        return None
    try:
        formats = json.loads(without_bom(text)).get("metadata", {}).get("jupytext", {}).get("formats")
    except (ValueError, AttributeError, RecursionError):
        return None
    if not formats:
        return None
    return _paired_with(notebook_path, formats, ".ipynb", ".py")


def _paired_with(path: str, formats: object, own: str, other: str) -> tuple[str, str] | None:
    """(the path ``formats`` pair with ``path``, whose extension is ``own``, the script's format)."""
    try:
        listed = long_form_multiple_formats(formats)
        mine = next(fmt for fmt in listed if fmt.get("extension") == own)
        script = next(fmt for fmt in listed if fmt.get("extension") == ".py")
        pairs = paired_paths(path, short_form_one_format(mine), formats)
    except Exception:  # noqa: BLE001 - jupytext refuses formats it cannot read and paths off their prefixes
        return None
    # ``py:percent``, or ``py`` where the formats leave the flavour for jupytext to guess.
    script_format = short_form_one_format({k: v for k, v in script.items() if k in ("extension", "format_name")})
    for candidate, fmt in pairs:
        if fmt.get("extension") == other:
            return PurePosixPath(candidate).as_posix(), script_format
    return None


def _leading_comments(script_text: str) -> str:
    """The comment block a script starts with (where a jupytext header lives), up to its first cell marker."""
    end = 0
    while end < len(script_text):
        newline = script_text.find("\n", end)
        stop = len(script_text) if newline < 0 else newline + 1
        line = script_text[end:stop]
        if line.strip() and not line.lstrip().startswith("#") or line.startswith("# %%"):
            break
        end = stop
    return script_text[:end]
