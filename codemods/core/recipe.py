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

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from codemods.core.project_settings import MainFileError, pyproject_settings, with_main_file  # noqa: F401
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
    Relabel,
    Rename,
    RenamePolicy,
    SupersededScript,
    Task,
)
from codemods.core.recipe_schema import Table, binding_name, dotted_name, file_list, identifier, relative_path

DEFAULT_RECIPE = "consolidate_training_configs.toml"
_SUBSTRING_IDENTIFIERS = ("rename", "keep")
_SUBSTRING_STYLES = ("snake_case", "verbatim")


def _check_source(source: str, where: str) -> str:
    try:
        ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise RecipeError(f"{where}: {source!r} is not a Python expression ({error.msg})") from None
    return source


# Where the recipe's codemods live (codemods.apply.commands), one module per task.
CODEMODS_DIRECTORY = Path(__file__).resolve().parent.parent / "apply" / "commands"


def _tasks(data: Table) -> tuple[Task, ...]:
    tasks = []
    for raw in data.tables("tasks"):
        task_id = raw.value("id", (str, int), required=True)
        codemod = identifier(raw.required("codemod"), raw.field("codemod"))
        if not (CODEMODS_DIRECTORY / f"{codemod}.py").is_file():  # looked up, not imported: core loads no wing
            known = ", ".join(sorted(p.stem for p in CODEMODS_DIRECTORY.glob("[!_]*.py")))
            raise RecipeError(f"{raw.field('codemod')}: there is no codemod {codemod!r} (there are: {known})")
        tasks.append(Task(str(task_id), codemod, raw.text("title", "")))
        raw.done()
    if not tasks:
        raise RecipeError("the recipe lists no [[tasks]]")
    ids = [task.id for task in tasks]
    repeated = sorted({task_id for task_id in ids if ids.count(task_id) > 1})
    if repeated:
        raise RecipeError(f"tasks: id {repeated[0]!r} is used by more than one task")
    return tuple(tasks)


def _renames(data: Table) -> tuple[Rename, ...]:
    renames = []
    for raw in data.tables("renames"):
        old = binding_name(raw.required("old"), raw.field("old"))
        new = binding_name(raw.required("new"), raw.field("new"))
        files = file_list(raw.strings("files"), raw.field("files"))
        renames.append(Rename(old, new, raw.text("description", ""), files))
        raw.done()
    return tuple(renames)


def _relabels(data: Table) -> tuple[Relabel, ...]:
    relabels = []
    for raw in data.tables("relabels"):
        labels = []
        for key in ("old", "new"):
            label = raw.required(key)
            if not re.fullmatch(r"[A-Za-z0-9]+", label):
                raise RecipeError(f"{raw.field(key)}: {label!r} is not a label (letters and digits, like 'v3')")
            labels.append(label)
        exclude = raw.strings("exclude")
        for index, name in enumerate(exclude):
            identifier(name, f"{raw.field('exclude')}[{index}]")
        relabels.append(Relabel(
            *labels, raw.text("description", ""), exclude, raw.strings("exclude_containing"), raw.flag("prose", True)
        ))
        raw.done()
    return tuple(relabels)


def _parameter_sections(raw: Table) -> tuple[ParameterSection, ...]:
    sections = []
    for section in raw.tables("parameter_sections", required=True):
        params = []
        for p in section.tables("parameters"):
            default = p.text("default")
            if default is not None:
                _check_source(default, p.field("default"))
            name = binding_name(p.required("name"), p.field("name"))
            params.append(Parameter(name, _check_source(p.required("annotation"), p.field("annotation")), default, p.text("comment", "")))
            p.done()
        sections.append(ParameterSection(section.text("comment", ""), tuple(params)))
        section.done()
    return tuple(sections)


def _field_sections(raw: Table) -> tuple[FieldSection, ...]:
    sections = []
    for section in raw.tables("field_sections", required=True):
        fields = []
        for f in section.tables("fields"):
            # A field is a keyword argument of the config class, not a binding: a builtin's name is fine.
            name = identifier(f.required("name"), f.field("name"))
            value = _check_source(f.required("value"), f.field("value"))
            fields.append(Field(name, value, f.text("comment", ""), f.flag("derived", False)))
            f.done()
        sections.append(FieldSection(section.text("comment", ""), tuple(fields)))
        section.done()
    return tuple(sections)


def _config_function(data: Table) -> ConfigFunction | None:
    raw = data.table("config_function")
    if raw is None:
        return None
    config_class = dotted_name(raw.required("config_class"), raw.field("config_class"))
    local_vars = []
    for variable in raw.tables("locals"):
        local_vars.append(LocalVariable(binding_name(variable.required("name"), variable.field("name")), variable.required("value")))
        variable.done()
    defaults = raw.string_table("library_defaults")
    for key, value in defaults.items():
        _check_source(value, f"{raw.field('library_defaults')}.{key}")
    function = ConfigFunction(
        name=binding_name(raw.required("name"), raw.field("name")),
        config_class=config_class,
        return_annotation=_check_source(raw.text("return_annotation", config_class.rsplit(".", 1)[-1]), raw.field("return_annotation")),
        docstring=raw.text("docstring", ""),
        output_root_default=raw.text("output_root_default", "./outputs"),
        locals=tuple(local_vars),
        parameter_sections=_parameter_sections(raw),
        field_sections=_field_sections(raw),
        library_defaults=defaults,
        stack_notes=raw.string_table("stack_notes"),
        path_fields=raw.strings("path_fields", ("output_dir", "logging_dir")),
    )
    raw.done()
    names = [p.name for p in function.parameters]
    if len(names) != len(set(names)):
        raise RecipeError("config_function: a parameter is listed twice")
    if not names or function.parameters[0].default is not None:
        raise RecipeError("config_function: the first parameter must be the variant name, without a default")
    return function


def _config_blocks(data: Table, function: ConfigFunction | None) -> tuple[ConfigBlock, ...]:
    blocks = []
    known = {p.name for p in function.parameters} if function else set()
    for raw in data.tables("config_blocks"):
        overrides = raw.string_table("overrides")
        for key, value in overrides.items():
            if key not in known:
                raise RecipeError(f"{raw.field('overrides')}: override {key!r} is not a parameter of the config function")
            _check_source(value, f"{raw.field('overrides')}.{key}")
        new_target = raw.text("new_target")
        collator = raw.text("collator")
        blocks.append(
            ConfigBlock(
                binding_name(raw.required("target"), raw.field("target")),
                raw.required("variant"),
                overrides,
                binding_name(new_target, raw.field("new_target")) if new_target else None,
                binding_name(collator, raw.field("collator")) if collator else None,
            )
        )
        raw.done()
    if blocks and function is None:
        raise RecipeError("config_blocks need a [config_function]")
    return tuple(blocks)


def _rename_policy(data: Table) -> RenamePolicy:
    raw = data.table("rename_policy")
    if raw is None:
        return RenamePolicy()
    defaults = RenamePolicy()
    policy = RenamePolicy(
        comments=raw.flag("comments", defaults.comments),
        strings=raw.flag("strings", defaults.strings),
        substring_identifiers=raw.text("substring_identifiers", defaults.substring_identifiers),
        substring_style=raw.text("substring_style", defaults.substring_style),
        documents=raw.strings("documents", defaults.documents),
        locals=raw.flag("locals", defaults.locals),
    )
    raw.done()
    if policy.substring_identifiers not in _SUBSTRING_IDENTIFIERS:
        raise RecipeError("rename_policy.substring_identifiers must be 'rename' or 'keep'")
    if policy.substring_style not in _SUBSTRING_STYLES:
        raise RecipeError("rename_policy.substring_style must be 'snake_case' or 'verbatim'")
    return policy


def _legacy(data: Table) -> Legacy | None:
    raw = data.table("legacy")
    if raw is None:
        return None
    legacy = Legacy(
        binding_name(raw.required("old"), raw.field("old")),
        binding_name(raw.required("new"), raw.field("new")),
        raw.text("banner", ""),
        raw.text("docstring", ""),
        raw.text("description", ""),
        file_list(raw.strings("files", (MAIN_FILE_ALIAS,)), raw.field("files")),
    )
    raw.done()
    return legacy


def _superseded_script(data: Table) -> SupersededScript | None:
    raw = data.table("superseded_script")
    if raw is None:
        return None
    script = SupersededScript(
        relative_path(raw.required("path"), raw.field("path")),
        dotted_name(raw.required("module"), raw.field("module")),
        binding_name(raw.required("superseded_by"), raw.field("superseded_by")),
    )
    raw.done()
    return script


def _config_module(data: Table) -> ConfigModule | None:
    raw = data.table("config_module")
    if raw is None:
        return None
    deprecated = []
    for alias in raw.tables("deprecated"):
        deprecated.append(DeprecatedFunction(binding_name(alias.required("old"), alias.field("old")), alias.required("variant")))
        alias.done()
    package_init = raw.text("package_init", "")
    module = ConfigModule(
        relative_path(raw.required("path"), raw.field("path")),
        relative_path(package_init, raw.field("package_init")) if package_init else "",
        tuple(deprecated),
    )
    raw.done()
    return module


def _data_package(data: Table) -> DataPackage | None:
    raw = data.table("data_package")
    if raw is None:
        return None
    package_init = raw.text("package_init", "")
    exports = raw.strings("exports")
    for index, name in enumerate(exports):
        binding_name(name, f"{raw.field('exports')}[{index}]")
    package = DataPackage(
        relative_path(raw.required("collators"), raw.field("collators")),
        relative_path(package_init, raw.field("package_init")) if package_init else "",
        exports,
    )
    raw.done()
    return package


def _plain_table(data: Table, key: str, *fields: str) -> dict[str, str]:
    raw = data.table(key)
    if raw is None:
        return {}
    values = {name: raw.text(name, "") for name in fields}
    raw.done()
    return values


def _check_renames(recipe: Recipe) -> None:
    """One new name per old name, and no name renamed to itself."""
    seen: dict[str, str] = {}
    for rename in recipe.all_renames:
        if rename.old == rename.new:
            raise RecipeError(f"renames: {rename.old!r} is renamed to itself")
        if seen.get(rename.old, rename.new) != rename.new:
            raise RecipeError(f"renames: {rename.old!r} is renamed twice, to {seen[rename.old]!r} and to {rename.new!r}")
        seen[rename.old] = rename.new


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    """The recipe in ``text``, every table checked; a RecipeError names the file, the table and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{source}: not valid TOML ({error})") from None
    try:
        return _parse(Table(data, ""), source)
    except RecipeError as error:
        raise RecipeError(f"{source}: {error}") from None


def _parse(data: Table, source: str) -> Recipe:
    plan = data.table("plan", required=True)
    assert plan is not None
    name = plan.required("name")
    title, main_file = plan.text("title", name), relative_path(plan.required("main_file"), plan.field("main_file"))
    plan.done()
    function = _config_function(data)
    recipe = Recipe(
        name=name,
        title=title,
        main_file=main_file,
        tasks=_tasks(data),
        superseded_script=_superseded_script(data),
        renames=_renames(data),
        rename_policy=_rename_policy(data),
        legacy=_legacy(data),
        config_function=function,
        config_blocks=_config_blocks(data, function),
        config_module=_config_module(data),
        data_package=_data_package(data),
        deprecation_banner=_plain_table(data, "deprecation", "banner").get("banner", ""),
        source=source,
        relabels=_relabels(data),
    )
    data.done()
    _check_renames(recipe)
    return recipe


def load_recipe(
    path: Path | None = None, root: Path | None = None, main_file: str | None = None, *, relabel: bool = True
) -> Recipe:
    """Load the recipe: an explicit file, else the target's [tool.refactor], else the bundled plan.

    Given ROOT, every path the recipe names must lead to a file inside it (through
    symbolic links too): a recipe a repository names for itself is input like any other.
    ROOT's own main file, ``main_file`` (``--main-file``) or else ``[tool.refactor]
    main_file``, replaces the recipe's ``plan.main_file``; with an explicit recipe
    file, pyproject.toml is not read at all. ``relabel=False`` leaves the relabelled names to
    be found later (``check`` finds them in the files its own ``git grep`` lists).
    """
    settings = pyproject_settings(Path(root)) if path is None and root is not None else {}
    if path is None and root is not None:
        path = settings.get("recipe")
    if path is None:
        text = resources.files("codemods.recipes").joinpath(DEFAULT_RECIPE).read_text(encoding="utf-8")
        recipe = parse_recipe(text, f"bundled:{DEFAULT_RECIPE}")
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise RecipeError(f"cannot read recipe {path}: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise RecipeError(f"cannot read recipe {path}: not UTF-8 ({error.reason} at byte {error.start})") from None
        recipe = parse_recipe(text, str(path))
    if root is not None:
        recipe = with_main_file(recipe, Path(root), main_file, settings.get("main_file"))
        confine_to_root(recipe, Path(root))
        if relabel:
            from codemods.core.relabel import with_relabelled  # reads ROOT's files: only when a ROOT is given

            recipe = with_relabelled(recipe, Path(root))
    return recipe


def confine_to_root(recipe: Recipe, root: Path) -> None:
    """Refuse a recipe path that resolves outside ROOT (``..``, absolute, or a symbolic link leading out)."""
    directory = root if root.is_dir() else root.parent
    try:
        base = directory.resolve()
    except (OSError, RuntimeError) as error:
        raise RecipeError(f"cannot resolve ROOT {directory}: {error}") from None
    for field, relative in recipe.named_paths().items():
        try:
            target = (base / relative).resolve()
        except (OSError, RuntimeError) as error:  # a symbolic link loop
            raise RecipeError(f"{recipe.source}: {field} = {relative!r} cannot be resolved ({error})") from None
        if not target.is_relative_to(base):
            raise RecipeError(
                f"{recipe.source}: {field} = {relative!r} resolves to {target}, outside ROOT ({base}); "
                "a recipe may only name files inside ROOT"
            )
