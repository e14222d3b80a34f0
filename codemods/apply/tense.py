"""A dry run's notes say what would happen: "would rename 12 occurrences", not "renamed 12 occurrences".

The engines write their notes once, in the past tense of a migration carried out;
for a dry run (and `status`, which writes nothing either) :func:`as_planned` turns
each note whose verb leads it, or follows its ``target: `` prefix, into the
conditional. Notes that already speak of the plan ("would delete …") or state a
fact about the code ("is already gone") are left as they are.
"""

from __future__ import annotations

import re
from dataclasses import replace

from codemods.apply.session import Report

_BASE = {
    "renamed": "rename", "replaced": "replace", "removed": "remove", "kept": "keep", "dropped": "drop",
    "deleted": "delete", "inserted": "insert", "relabelled": "relabel", "moved": "move", "cleared": "clear",
    "added": "add", "created": "create", "updated": "update", "exported": "export", "synced": "sync",
}
_LEADING_VERB = re.compile(r"^((?:[^:\n]{1,120}: )?)(" + "|".join(_BASE) + r")\b")
_PHRASES = (
    ("() was missing, so it was inserted first", "() is missing, so it would be inserted first"),
    ("cell sources updated from", "cell sources would be updated from"),
    ("the package now exports", "the package would export"),
    ("; old names kept as deprecated aliases", "; old names would be kept as deprecated aliases"),
)


def conditional(message: str) -> str:
    """``message`` saying what would happen."""
    for done, planned in _PHRASES:
        message = message.replace(done, planned)
    return _LEADING_VERB.sub(lambda match: f"{match[1]}would {_BASE[match[2]]}", message, count=1)


def as_planned(report: Report) -> None:
    """Every note of ``report`` in the conditional, for output that writes nothing."""
    report.notes[:] = [replace(note, message=conditional(note.message)) for note in report.notes]
