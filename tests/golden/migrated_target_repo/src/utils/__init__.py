"""Debugging utilities."""

from src.utils.debug import analyze_token_distribution

__all__ = ["analyze_token_distribution"]
