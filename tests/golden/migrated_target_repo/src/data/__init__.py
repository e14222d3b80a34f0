import sys
import warnings

from .collators import AllTokensCollator, AssistantOnlyCollator, FlashAttentionPatchCollator

__all__ = ["AllTokensCollator", "AssistantOnlyCollator", "FlashAttentionPatchCollator"]


# =============================================================================
# DEPRECATED ALIASES
# =============================================================================
# Old names kept importable for backwards compatibility; each one warns.
# =============================================================================

_DEPRECATED_ALIASES = {
    "collate_fn_fixed_1": "AllTokensCollator",
    "collate_fn_fixed_3": "AssistantOnlyCollator",
    "collate_fn_fixed_fixed1": "FlashAttentionPatchCollator",
}


def __getattr__(name):
    """Resolve a deprecated collator name to its new class, with a DeprecationWarning."""
    if name in _DEPRECATED_ALIASES:
        new_name = _DEPRECATED_ALIASES[name]
        # `from package import name` looks it up twice (importlib probes first): warn at the import only.
        if sys._getframe(1).f_globals.get("__name__") != "importlib._bootstrap":
            warnings.warn(
                f"{__name__}.{name} is deprecated; use {new_name} instead",
                DeprecationWarning,
                stacklevel=2,
            )
        return globals()[new_name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
