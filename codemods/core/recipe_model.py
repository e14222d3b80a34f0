"""The recipe's model: what a refactoring plan says, as frozen data the engines read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from codemods.core.names import holds_excluded_word

MAIN_FILE_ALIAS = "main"


class RecipeError(ValueError):
    """The recipe file is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Task:
    id: str
    codemod: str
    title: str


@dataclass(frozen=True)
class Rename:
    old: str
    new: str
    description: str = ""
    # Relative paths (or "main") this rename is limited to; empty means every Python file.
    files: tuple[str, ...] = ()
    # A longer identifier holding the old name keeps it when it holds one of these words too (a relabel's
    # exclude_containing: ``trainer_v3_encoder`` is the next experiment's, whatever ``trainer_v3`` becomes).
    keep_containing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relabel:
    """An experiment renamed by its label: identifiers ``<stem>_<old>`` and ``<old>_<rest>`` take the new label.

    The plan relabels the assistant-only run from v3 to v2, so ``metrics_v3`` becomes
    ``metrics_v2``, ``ADAPTER_PATH_V3`` becomes ``ADAPTER_PATH_V2`` and ``v3_values``
    becomes ``v2_values``. Which identifiers a repository holds is found in the repository
    itself (see ``codemods.core.relabel``); ``exclude`` and ``exclude_containing`` keep
    another experiment's names as they are.
    """

    old: str
    new: str
    description: str = ""
    exclude: tuple[str, ...] = ()
    exclude_containing: tuple[str, ...] = ()
    # Prose that names the experiment ("Model v3", "v1 vs v3") takes the new label too.
    prose: bool = True

    @property
    def prose_words(self) -> dict[str, str]:
        """The label as a word of prose, in lower and upper case: ``{"v3": "v2", "V3": "V2"}``."""
        if not self.prose:
            return {}
        return {self.old.lower(): self.new.lower(), self.old.upper(): self.new.upper()}

    def prose_alternative(self, word: str) -> str:
        """A regex for ``word`` where it names this experiment in prose.

        Not inside a path, a variant, a tag or a flag (``qwen-v3/``, ``v3-encoder-only``,
        ``collator:v3``, ``--tag=v3``),
        not quoted as a value (``get_collator("v3")``), and not when the rest of the phrase, up to
        the next label, holds an excluded word
        (``v3 (encoder-only)``): that is the plan's next experiment, which keeps the label.
        """
        guard = ""
        if self.exclude_containing:
            words = "|".join(re.escape(w) for w in self.exclude_containing)
            guard = rf"(?!(?:(?![vV][0-9])[^\n])*?(?i:{words}))"
        # A word quoted on both sides ("v3", `v3`) is a value some code looks up, not prose.
        quoted = "\"'`"
        word = rf"(?:(?<![{quoted}]){re.escape(word)}|{re.escape(word)}(?![{quoted}]))"
        return rf"(?<![A-Za-z0-9_\-/.\\=:]){word}(?![A-Za-z0-9_])(?![-/.\\:][A-Za-z0-9]){guard}"

    @property
    def pattern(self) -> re.Pattern[str]:
        """Whole identifiers ``<stem>_<old>`` or ``<old>_<rest>``, the label in lower or upper case."""
        labels = "|".join(re.escape(label) for label in dict.fromkeys((self.old.lower(), self.old.upper())))
        return re.compile(
            rf"(?<![A-Za-z0-9_])(?:[A-Za-z_][A-Za-z0-9_]*?_(?:{labels})|(?:{labels})_[A-Za-z0-9_]*[A-Za-z0-9])(?![A-Za-z0-9_])"
        )

    def renamed(self, identifier: str) -> str | None:
        """The relabelled identifier, or None when it is not one of this experiment's."""
        if self.pattern.fullmatch(identifier) is None or identifier in self.exclude:
            return None
        if holds_excluded_word(identifier, self.exclude_containing):
            return None
        head, _, tail = identifier.partition("_")
        if head.lower() == self.old.lower():  # v3_values, V3_RUN
            return (self.new.upper() if head.isupper() else self.new.lower()) + "_" + tail
        stem, _, label = identifier.rpartition("_")  # metrics_v3, ADAPTER_PATH_V3
        return stem + "_" + (self.new.upper() if label.isupper() else self.new.lower())


@dataclass(frozen=True)
class RenamePolicy:
    comments: bool = True
    strings: bool = True
    substring_identifiers: str = "rename"
    substring_style: str = "snake_case"
    # Prose files (by suffix) whose whole-word mentions are renamed too; empty: none.
    documents: tuple[str, ...] = (".md",)
    # Function locals spelled like an old name follow the rename (not parameters: they are keyword API).
    locals: bool = True


@dataclass(frozen=True)
class Legacy:
    old: str
    new: str
    banner: str
    docstring: str
    description: str = ""
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str
    default: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class ParameterSection:
    comment: str
    parameters: tuple[Parameter, ...]


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    comment: str = ""
    derived: bool = False


@dataclass(frozen=True)
class FieldSection:
    comment: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class LocalVariable:
    name: str
    value: str


@dataclass(frozen=True)
class ConfigFunction:
    name: str
    config_class: str
    return_annotation: str
    docstring: str
    output_root_default: str
    locals: tuple[LocalVariable, ...]
    parameter_sections: tuple[ParameterSection, ...]
    field_sections: tuple[FieldSection, ...]
    library_defaults: dict[str, str]
    stack_notes: dict[str, str]
    # Fields that name directories: other literals naming the same directory follow their new value.
    path_fields: tuple[str, ...] = ("output_dir", "logging_dir")
    # Fields of the plan the installed config class does not accept, left out by `apply --fit-stack`.
    left_out: tuple[str, ...] = ()

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for section in self.parameter_sections for p in section.parameters)

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for section in self.field_sections for f in section.fields)

    @property
    def config_class_name(self) -> str:
        return self.config_class.rsplit(".", 1)[-1]

    @property
    def config_class_module(self) -> str:
        return self.config_class.rsplit(".", 1)[0]


@dataclass(frozen=True)
class ConfigBlock:
    target: str
    variant: str
    overrides: dict[str, str]
    new_target: str | None = None
    # The collator class (a new name) this variant trains with; used by `verify --smoke`.
    collator: str | None = None


@dataclass(frozen=True)
class DeprecatedFunction:
    old: str
    variant: str


@dataclass(frozen=True)
class ConfigModule:
    path: str
    package_init: str
    deprecated: tuple[DeprecatedFunction, ...]


@dataclass(frozen=True)
class SupersededScript:
    path: str
    module: str
    superseded_by: str


@dataclass(frozen=True)
class DataPackage:
    collators: str
    package_init: str
    exports: tuple[str, ...]


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    main_file: str
    tasks: tuple[Task, ...]
    superseded_script: SupersededScript | None
    renames: tuple[Rename, ...]
    rename_policy: RenamePolicy
    legacy: Legacy | None
    config_function: ConfigFunction | None
    config_blocks: tuple[ConfigBlock, ...]
    config_module: ConfigModule | None
    data_package: DataPackage | None
    deprecation_banner: str = ""
    source: str = field(default="", compare=False)
    relabels: tuple[Relabel, ...] = ()
    # The identifiers the relabels found in one repository, as renames (see codemods.core.relabel).
    relabelled: tuple[Rename, ...] = ()
    # Whether ``relabelled`` was looked for in a ROOT (an empty tuple alone cannot say).
    relabels_resolved: bool = field(default=False, compare=False)

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id or task.codemod == task_id:
                return task
        known = ", ".join(f"{t.id} ({t.codemod})" for t in self.tasks)
        raise RecipeError(f"unknown task {task_id!r}; this recipe has: {known}")

    def renames_for(self, relative_path: str, main_file: str | None = None) -> dict[str, str]:
        """Old -> new names of the renames that apply to one file (the legacy rename included).

        ``main_file`` is what the alias "main" stands for (a single-file ROOT names its own).
        """
        main = main_file or self.main_file
        return {
            r.old: r.new for r in self.all_renames
            if not r.files or relative_path in {main if f == MAIN_FILE_ALIAS else f for f in r.files}
        }

    def named_paths(self) -> dict[str, str]:
        """Every file the recipe names, by the field that names it (``config_module.path``: ...)."""
        paths = {"plan.main_file": self.main_file}
        if self.superseded_script:
            paths["superseded_script.path"] = self.superseded_script.path
        if self.config_module:
            paths["config_module.path"] = self.config_module.path
            if self.config_module.package_init:
                paths["config_module.package_init"] = self.config_module.package_init
        if self.data_package:
            paths["data_package.collators"] = self.data_package.collators
            if self.data_package.package_init:
                paths["data_package.package_init"] = self.data_package.package_init
        limited = [(f"renames[{i}].files", r.files) for i, r in enumerate(self.renames)]
        if self.legacy:
            limited.append(("legacy.files", self.legacy.files))
        for field_name, files in limited:
            for index, path in enumerate(files):
                if path != MAIN_FILE_ALIAS:
                    paths[f"{field_name}[{index}]"] = path
        return paths

    @property
    def all_renames(self) -> tuple[Rename, ...]:
        legacy = (Rename(self.legacy.old, self.legacy.new, self.legacy.description),) if self.legacy else ()
        return self.renames + self.relabelled + legacy

    @property
    def prose_relabels(self) -> dict[str, str]:
        """Labels renamed in prose only (comments, strings, markdown): ``{"v3": "v2", "V3": "V2"}``."""
        return {word: new for relabel in self.relabels for word, new in relabel.prose_words.items()}

    @property
    def word_guards(self) -> dict[str, str]:
        """For the prose labels, the regex that finds one where it names the experiment (see ``Relabel``)."""
        return {word: relabel.prose_alternative(word) for relabel in self.relabels for word in relabel.prose_words}

    @property
    def old_names(self) -> dict[str, str]:
        """Every old name the plan retires, mapped to its replacement."""
        names = {r.old: r.new for r in self.all_renames}
        if self.config_module and self.config_function:
            for alias in self.config_module.deprecated:
                names[alias.old] = self.config_function.name
        return names
