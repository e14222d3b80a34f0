"""The verify wing: prove a migrated repository is sound (`refactor verify`).

The entry points are loaded on first use: the smoke child imports this package too, and it needs
neither the checks nor the check wing's scanner.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "run_verification": "codemods.verify.checks",
    "render_verification": "codemods.verify.report",
    "VerificationOutcome": "codemods.verify.report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
