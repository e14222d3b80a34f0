"""Task 7: src/data/collators.py gets the renames and the legacy move; the package exports the new names."""

from __future__ import annotations

import ast
import importlib
import sys
import warnings

import pytest
from codemod_harness import assert_codemod, dedent, run_codemod, write_tree

from codemods.apply.session import Refusal

CODEMOD = "update_data_package"
COLLATORS = "src/data/collators.py"
INIT = "src/data/__init__.py"

BANNER = """\
# =============================================================================
# DRAFT / LEGACY COLLATORS
# =============================================================================
# The following collators are kept for reference but are NOT used in training.
# =============================================================================
"""

LEGACY_TEXT = """\
    LEGACY: Flash Attention dtype workaround.

    This was a workaround for Flash Attention 2 requiring bfloat16 pixel values.
    Since training now uses sdpa (not flash_attention_2), this is NOT needed.

    Kept for reference in case flash_attention_2 is used for inference.
"""

COLLATORS_BEFORE = dedent(
    '''
    """Collators: collate_fn_fixed_1, collate_fn_fixed_fixed1, collate_fn_fixed_3."""

    import torch


    class collate_fn_fixed_1:
        """All tokens."""

        def __init__(self, processor, model):
            self.processor = processor


    # =============================================================================
    # collate_fn_fixed_fixed1 - Flash Attention 2 dtype workaround
    # =============================================================================

    class collate_fn_fixed_fixed1:
        """
        collate_fn_fixed_1 + bfloat16 pixel values.
        """

        def __init__(self, processor, model, use_flash_patch=False):
            self.flash_patched = use_flash_patch


    class collate_fn_fixed_3:
        """Assistant only."""


    def make(name):
        return {"v1": collate_fn_fixed_1, "v3": collate_fn_fixed_3}[name]
    '''
)

COLLATORS_AFTER = (
    dedent(
        '''
    """Collators: AllTokensCollator, FlashAttentionPatchCollator, AssistantOnlyCollator."""

    import torch


    class AllTokensCollator:
        """All tokens."""

        def __init__(self, processor, model):
            self.processor = processor


    class AssistantOnlyCollator:
        """Assistant only."""


    def make(name):
        return {"v1": AllTokensCollator, "v3": AssistantOnlyCollator}[name]


    <BANNER>

    # =============================================================================
    # FlashAttentionPatchCollator - Flash Attention 2 dtype workaround
    # =============================================================================

    class FlashAttentionPatchCollator:
        """
        <LEGACY>

        AllTokensCollator + bfloat16 pixel values.
        """

        def __init__(self, processor, model, use_flash_patch=False):
            self.flash_patched = use_flash_patch
    '''
    )
    .replace("<BANNER>\n", BANNER)
    .replace("    <LEGACY>\n", LEGACY_TEXT)
)

INIT_AFTER = dedent(
    '''
    import sys
    import warnings

    from .collators import AllTokensCollator, AssistantOnlyCollator, FlashAttentionPatchCollator

    __all__ = ["AllTokensCollator", "AssistantOnlyCollator", "FlashAttentionPatchCollator"]


    # =============================================================================
    # DEPRECATED ALIASES
    # =============================================================================
    # Old names kept importable for backwards compatibility; each one warns.
    # =============================================================================

    _DEPRECATED_ALIASES = {
        "collate_fn_fixed_1": "AllTokensCollator",
        "collate_fn_fixed_3": "AssistantOnlyCollator",
        "collate_fn_fixed_fixed1": "FlashAttentionPatchCollator",
    }


    def __getattr__(name):
        """Resolve a deprecated collator name to its new class, with a DeprecationWarning."""
        if name in _DEPRECATED_ALIASES:
            new_name = _DEPRECATED_ALIASES[name]
            # `from package import name` looks it up twice (importlib probes first): warn at the import only.
            if sys._getframe(1).f_globals.get("__name__") != "importlib._bootstrap":
                warnings.warn(
                    f"{__name__}.{name} is deprecated; use {new_name} instead",
                    DeprecationWarning,
                    stacklevel=2,
                )
            return globals()[new_name]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    '''
)


def test_collators_module_and_empty_init(tmp_path):
    report = assert_codemod(
        tmp_path,
        CODEMOD,
        {COLLATORS: COLLATORS_BEFORE, INIT: ""},
        {COLLATORS: COLLATORS_AFTER, INIT: INIT_AFTER},
    )
    ast.parse(COLLATORS_AFTER)
    assert not [note for note in report.notes if note.level.value == "warning"]


def test_second_run_changes_nothing(tmp_path):
    changed, _ = run_codemod(tmp_path, CODEMOD, {COLLATORS: COLLATORS_AFTER, INIT: INIT_AFTER})
    assert changed == {}


def test_half_migrated_init_is_completed(tmp_path):
    init = dedent(
        '''
        """Data helpers."""

        from .collators import collate_fn_fixed_1
        from .dataset import load_nutrition_dataset

        __all__ = ["collate_fn_fixed_1", "load_nutrition_dataset"]
        '''
    )
    changed, _ = run_codemod(
        tmp_path, CODEMOD, {COLLATORS: COLLATORS_BEFORE, INIT: init, "src/data/dataset.py": ""}
    )
    merged = changed[INIT]
    head = dedent(
        '''
        """Data helpers."""

        import sys
        import warnings

        from .collators import AllTokensCollator, AssistantOnlyCollator, FlashAttentionPatchCollator
        from .dataset import load_nutrition_dataset

        __all__ = ["AllTokensCollator", "load_nutrition_dataset", "AssistantOnlyCollator", "FlashAttentionPatchCollator"]


        # ====
        '''
    ).rstrip("\n")
    assert merged.startswith(head)
    assert merged.endswith(INIT_AFTER[INIT_AFTER.index("# ====") :])
    again, _ = run_codemod(tmp_path / "again", CODEMOD, {COLLATORS: changed[COLLATORS], INIT: merged})
    assert again == {}


def test_multi_line_registry_item_is_registered_after_the_class(tmp_path):
    before = dedent(
        """
        class AllTokensCollator:
            pass


        class FlashAttentionPatchCollator:
            pass


        REGISTRY = {
            "v1": AllTokensCollator,  # all tokens
            "v1-flash": FlashAttentionPatchCollator,  # bf16 pixels
            # "v2": retired,
        }


        def get(name):
            return REGISTRY[name]
        """
    )
    changed, report = run_codemod(tmp_path, CODEMOD, {COLLATORS: before, INIT: ""})
    text = changed[COLLATORS]
    assert 'REGISTRY = {\n    "v1": AllTokensCollator,  # all tokens\n    # "v2": retired,\n}\n' in text
    assert text.endswith(
        "    pass\n\n\n"
        "# Registered here, not in REGISTRY above: this class is defined last.\n"
        'REGISTRY["v1-flash"] = FlashAttentionPatchCollator  # bf16 pixels\n'
    )
    namespace: dict = {}
    exec(compile(text, COLLATORS, "exec"), namespace)
    assert namespace["get"]("v1-flash") is namespace["FlashAttentionPatchCollator"]
    assert any("REGISTRY" in note.message for note in report.notes if note.level.value == "warning")


def test_registry_read_on_import_is_refused(tmp_path):
    before = dedent(
        """
        class FlashAttentionPatchCollator:
            pass


        REGISTRY = {"v1-flash": FlashAttentionPatchCollator}
        DEFAULT = REGISTRY["v1-flash"]
        """
    )
    with pytest.raises(Refusal, match="NameError"):
        run_codemod(tmp_path, CODEMOD, {COLLATORS: before, INIT: ""})


def test_missing_collators_module_is_not_applicable(tmp_path):
    changed, report = run_codemod(tmp_path, CODEMOD, {"src/other.py": "x = 1\n"})
    assert changed == {}
    assert "7" in report.not_applicable


def test_generated_package_imports_and_old_names_warn(tmp_path, monkeypatch):
    package = tmp_path / "pkg_under_test"
    write_tree(
        package,
        {
            "collators.py": dedent(
                """
                class AllTokensCollator:
                    pass


                class AssistantOnlyCollator:
                    pass


                class FlashAttentionPatchCollator:
                    def __init__(self, use_flash_patch=False):
                        self.use_flash_patch = use_flash_patch
                """
            ),
            "__init__.py": INIT_AFTER,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("pkg_under_test")
        assert module.__all__ == ["AllTokensCollator", "AssistantOnlyCollator", "FlashAttentionPatchCollator"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from pkg_under_test import collate_fn_fixed_1, collate_fn_fixed_fixed1
        assert collate_fn_fixed_1 is module.AllTokensCollator
        assert collate_fn_fixed_fixed1(use_flash_patch=True).use_flash_patch is True
        assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
        assert "use AllTokensCollator instead" in str(caught[0].message)
        assert caught[0].filename == __file__  # stacklevel points at the importer
        with pytest.raises(AttributeError):
            module.not_a_collator  # noqa: B018
        with pytest.warns(DeprecationWarning):
            assert module.collate_fn_fixed_3 is module.AssistantOnlyCollator
    finally:
        for name in [name for name in sys.modules if name.startswith("pkg_under_test")]:
            del sys.modules[name]


def test_absolute_import_of_the_collators_is_extended_not_duplicated(tmp_path):
    init = "from src.data.collators import collate_fn_fixed_1\n"
    changed, _ = run_codemod(tmp_path, CODEMOD, {COLLATORS: COLLATORS_BEFORE, INIT: init})
    merged = changed[INIT]
    assert merged.startswith(
        "import sys\nimport warnings\n\n"
        "from src.data.collators import AllTokensCollator, AssistantOnlyCollator, FlashAttentionPatchCollator\n"
    )
    assert [line for line in merged.splitlines() if "collators import" in line] == [
        "from src.data.collators import AllTokensCollator, AssistantOnlyCollator, FlashAttentionPatchCollator"
    ]
    ast.parse(merged)


def test_names_bound_by_another_import_of_the_collators_are_not_imported_again(tmp_path):
    """Each `from .collators import` got every missing export: the same class bound twice (ruff F811)."""
    init = dedent(
        """
        from .collators import collate_fn_fixed_1, collate_fn_fixed_3
        from .collators import collate_fn_fixed_fixed1 as FlashCollator
        """
    )
    changed, _ = run_codemod(tmp_path, CODEMOD, {COLLATORS: COLLATORS_BEFORE, INIT: init})
    tree = ast.parse(changed[INIT])
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == "collators"]
    bound = [alias.asname or alias.name for node in imports for alias in node.names]
    assert sorted(bound) == ["AllTokensCollator", "AssistantOnlyCollator", "FlashAttentionPatchCollator", "FlashCollator"]
    assert [alias.name for alias in imports[1].names] == ["FlashAttentionPatchCollator"]  # its alias, as it was
