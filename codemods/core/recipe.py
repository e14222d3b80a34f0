"""The refactoring plan as data: loading and validating a recipe file (the model is in recipe_model).

A recipe names everything plan-specific (files, renames, the legacy class, the
config function, which config block becomes which variant). Codemods read it and
never hard-code a name from the plan.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from codemods.core.recipe_model import (  # noqa: F401 - the model is imported from here by every wing
    MAIN_FILE_ALIAS,
    ConfigBlock,
    ConfigFunction,
    ConfigModule,
    DataPackage,
    DeprecatedFunction,
    Field,
    FieldSection,
    Legacy,
    LocalVariable,
    Parameter,
    ParameterSection,
    Recipe,
    RecipeError,
    Rename,
    RenamePolicy,
    SupersededScript,
    Task,
)

DEFAULT_RECIPE = "consolidate_training_configs.toml"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _require(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise RecipeError(f"{where}: missing required key {key!r}")
    return table[key]


def _check_identifier(name: str, where: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise RecipeError(f"{where}: {name!r} is not a Python identifier")
    return name


def _check_source(source: str, where: str) -> str:
    try:
        ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise RecipeError(f"{where}: {source!r} is not a Python expression ({error.msg})") from None
    return source


def _tasks(data: dict[str, Any]) -> tuple[Task, ...]:
    tasks = []
    for index, raw in enumerate(data.get("tasks", [])):
        where = f"tasks[{index}]"
        tasks.append(Task(str(_require(raw, "id", where)), _require(raw, "codemod", where), raw.get("title", "")))
    if not tasks:
        raise RecipeError("the recipe lists no [[tasks]]")
    return tuple(tasks)


def _renames(data: dict[str, Any]) -> tuple[Rename, ...]:
    renames = []
    for index, raw in enumerate(data.get("renames", [])):
        where = f"renames[{index}]"
        old = _check_identifier(_require(raw, "old", where), where)
        new = _check_identifier(_require(raw, "new", where), where)
        renames.append(Rename(old, new, raw.get("description", ""), tuple(raw.get("files", ()))))
    return tuple(renames)


def _config_function(raw: dict[str, Any] | None) -> ConfigFunction | None:
    if raw is None:
        return None
    where = "config_function"
    sections = []
    for s_index, section in enumerate(_require(raw, "parameter_sections", where)):
        params = []
        for p_index, p in enumerate(section.get("parameters", [])):
            p_where = f"{where}.parameter_sections[{s_index}].parameters[{p_index}]"
            default = p.get("default")
            if default is not None:
                _check_source(default, p_where)
            params.append(
                Parameter(_check_identifier(p["name"], p_where), p["annotation"], default, p.get("comment", ""))
            )
        sections.append(ParameterSection(section.get("comment", ""), tuple(params)))
    field_sections = []
    for s_index, section in enumerate(_require(raw, "field_sections", where)):
        fields = []
        for f_index, f in enumerate(section.get("fields", [])):
            f_where = f"{where}.field_sections[{s_index}].fields[{f_index}]"
            fields.append(
                Field(
                    _check_identifier(f["name"], f_where),
                    _check_source(f["value"], f_where),
                    f.get("comment", ""),
                    bool(f.get("derived", False)),
                )
            )
        field_sections.append(FieldSection(section.get("comment", ""), tuple(fields)))
    local_vars = tuple(LocalVariable(v["name"], v["value"]) for v in raw.get("locals", []))
    function = ConfigFunction(
        name=_check_identifier(_require(raw, "name", where), where),
        config_class=_require(raw, "config_class", where),
        return_annotation=raw.get("return_annotation", raw["config_class"].rsplit(".", 1)[-1]),
        docstring=raw.get("docstring", ""),
        output_root_default=raw.get("output_root_default", "./outputs"),
        locals=local_vars,
        parameter_sections=tuple(sections),
        field_sections=tuple(field_sections),
        library_defaults={k: _check_source(v, f"{where}.library_defaults") for k, v in raw.get("library_defaults", {}).items()},
        stack_notes=dict(raw.get("stack_notes", {})),
    )
    names = [p.name for p in function.parameters]
    if len(names) != len(set(names)):
        raise RecipeError(f"{where}: a parameter is listed twice")
    if not names or function.parameters[0].default is not None:
        raise RecipeError(f"{where}: the first parameter must be the variant name, without a default")
    return function


def _config_blocks(data: dict[str, Any], function: ConfigFunction | None) -> tuple[ConfigBlock, ...]:
    blocks = []
    known = {p.name for p in function.parameters} if function else set()
    for index, raw in enumerate(data.get("config_blocks", [])):
        where = f"config_blocks[{index}]"
        overrides = dict(raw.get("overrides", {}))
        for key, value in overrides.items():
            if key not in known:
                raise RecipeError(f"{where}: override {key!r} is not a parameter of the config function")
            _check_source(value, where)
        new_target = raw.get("new_target")
        blocks.append(
            ConfigBlock(
                _check_identifier(_require(raw, "target", where), where),
                _require(raw, "variant", where),
                overrides,
                _check_identifier(new_target, where) if new_target else None,
                _check_identifier(raw["collator"], where) if raw.get("collator") else None,
            )
        )
    if blocks and function is None:
        raise RecipeError("config_blocks need a [config_function]")
    return tuple(blocks)


def _rename_policy(raw: dict[str, Any]) -> RenamePolicy:
    known = {f for f in RenamePolicy.__dataclass_fields__}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RecipeError(f"rename_policy: unknown key(s) {unknown}; known: {sorted(known)}")
    values = dict(raw)
    if "documents" in values:
        values["documents"] = tuple(values["documents"])
    return RenamePolicy(**values)


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{source}: not valid TOML ({error})") from None
    plan = _require(data, "plan", source)
    function = _config_function(data.get("config_function"))
    legacy_raw = data.get("legacy")
    legacy = None
    if legacy_raw:
        legacy = Legacy(
            _check_identifier(_require(legacy_raw, "old", "legacy"), "legacy"),
            _check_identifier(_require(legacy_raw, "new", "legacy"), "legacy"),
            legacy_raw.get("banner", ""),
            legacy_raw.get("docstring", ""),
            legacy_raw.get("description", ""),
            tuple(legacy_raw.get("files", ("main",))),
        )
    script = data.get("superseded_script")
    module = data.get("config_module")
    package = data.get("data_package")
    recipe = Recipe(
        name=_require(plan, "name", "plan"),
        title=plan.get("title", plan["name"]),
        main_file=_require(plan, "main_file", "plan"),
        tasks=_tasks(data),
        superseded_script=SupersededScript(script["path"], script["module"], script["superseded_by"]) if script else None,
        renames=_renames(data),
        rename_policy=_rename_policy(data.get("rename_policy", {})),
        legacy=legacy,
        config_function=function,
        config_blocks=_config_blocks(data, function),
        config_module=ConfigModule(
            module["path"],
            module.get("package_init", ""),
            tuple(DeprecatedFunction(d["old"], d["variant"]) for d in module.get("deprecated", [])),
        )
        if module
        else None,
        data_package=DataPackage(package["collators"], package.get("package_init", ""), tuple(package.get("exports", ())))
        if package
        else None,
        deprecation_banner=data.get("deprecation", {}).get("banner", ""),
        source=source,
    )
    if recipe.rename_policy.substring_identifiers not in {"rename", "keep"}:
        raise RecipeError("rename_policy.substring_identifiers must be 'rename' or 'keep'")
    if recipe.rename_policy.substring_style not in {"snake_case", "verbatim"}:
        raise RecipeError("rename_policy.substring_style must be 'snake_case' or 'verbatim'")
    return recipe


def load_recipe(path: Path | None = None, root: Path | None = None) -> Recipe:
    """Load the recipe: an explicit file, else the target's [tool.refactor], else the bundled plan."""
    if path is None and root is not None:
        path = _recipe_from_pyproject(root)
    if path is None:
        text = resources.files("codemods.recipes").joinpath(DEFAULT_RECIPE).read_text(encoding="utf-8")
        return parse_recipe(text, f"bundled:{DEFAULT_RECIPE}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RecipeError(f"cannot read recipe {path}: {error.strerror}") from None
    return parse_recipe(text, str(path))


def _recipe_from_pyproject(root: Path) -> Path | None:
    directory = root if root.is_dir() else root.parent
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    recipe = config.get("tool", {}).get("refactor", {}).get("recipe")
    return (directory / recipe) if recipe else None
