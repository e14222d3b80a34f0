"""Fixtures around the tiny offline Qwen2-VL kit and the sample target repository."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
TARGET_REPO = TESTS_DIR.parent / "target_repo"


def _forget_src_modules() -> None:
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]


@pytest.fixture(scope="session")
def tiny_processor():
    from codemods.kit import build_tiny_processor

    return build_tiny_processor()


@pytest.fixture(scope="session")
def tiny_model_factory(tiny_processor):
    """Call with an optional seed to get a fresh tiny model (cheap: ~20 ms)."""
    from codemods.kit import build_tiny_model

    def make(seed: int = 0):
        return build_tiny_model(tiny_processor, seed=seed)

    return make


@pytest.fixture(scope="session")
def tiny_dataset():
    from codemods.kit import build_nutrition_dataset

    return build_nutrition_dataset(num_samples=16, seed=0)


@pytest.fixture(scope="session")
def target_repo_dir() -> Path:
    return TARGET_REPO


@pytest.fixture
def target_src(target_repo_dir):
    """Make ``import src...`` resolve to ``target_repo/src`` for one test."""
    _forget_src_modules()
    sys.path.insert(0, str(target_repo_dir))
    try:
        yield target_repo_dir
    finally:
        try:
            sys.path.remove(str(target_repo_dir))
        except ValueError:
            pass
        _forget_src_modules()
