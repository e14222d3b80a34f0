"""Training configuration helpers."""

from src.training.config import create_sft_config, create_assistant_only_training_config, print_training_config

__all__ = [
    "create_sft_config",
    "create_assistant_only_training_config",
    "print_training_config",
]
