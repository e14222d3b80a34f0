"""Training configuration helpers."""

from src.training.config import create_training_config, print_training_config
import importlib

__all__ = [
    "create_training_config",
    "print_training_config",
]


# =============================================================================
# DEPRECATED ALIASES
# =============================================================================
# Old names kept importable for backwards compatibility; each one warns.
# =============================================================================

def __getattr__(name: str):
    """Keep the deprecated factories importable from the package (calling one warns)."""
    if name in ("create_sft_config", "create_assistant_only_training_config"):
        return getattr(importlib.import_module("src.training.config"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
