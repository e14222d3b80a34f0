"""Shared pytest configuration."""

from kit_fixtures import (  # noqa: F401
    target_repo_dir,
    target_src,
    tiny_dataset,
    tiny_model_factory,
    tiny_processor,
)
