"""What a config class accepts, read from the class itself in the interpreter that runs this.

Both ``apply --fit-stack`` (which fields to leave out of the written config function) and the
smoke child of ``verify`` (which keywords the training interpreter would refuse) ask the same
question of the installed ``SFTConfig``; neither keeps a list of removed fields, so a newer or
older TRL is judged by what it really declares. Standard library only: the smoke child runs in
the user's training interpreter, where this tool is not installed.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from importlib import metadata

STACK_PACKAGES = ("torch", "transformers", "trl", "peft")


def import_class(dotted: str) -> type:
    """``trl.SFTConfig`` -> the class (importing its module)."""
    module_name, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def accepted_keywords(config_class: type) -> frozenset[str] | None:
    """The keyword arguments the class's constructor takes; None when it takes any (``**kwargs``)."""
    if dataclasses.is_dataclass(config_class):
        return frozenset(f.name for f in dataclasses.fields(config_class) if f.init)
    parameters = inspect.signature(config_class).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def stack_versions(packages: tuple[str, ...] = STACK_PACKAGES) -> dict[str, str]:
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def versions_label(versions: dict[str, str]) -> str:
    """``trl 1.16.0 / transformers 5.23.0``: the two packages that decide what SFTConfig accepts."""
    return " / ".join(f"{name} {versions.get(name, '?')}" for name in ("trl", "transformers"))
