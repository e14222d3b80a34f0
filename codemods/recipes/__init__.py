"""Bundled recipes (plans as data)."""
