"""Behaviour of the sample target repository (``target_repo/src``) before the plan is applied.

The collators run on the tiny offline Qwen2-VL kit, train for a few LoRA steps through TRL's
real ``SFTTrainer``, and the config factories are checked against TRL 1.16 exactly as written.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import importlib
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("peft")
pytest.importorskip("qwen_vl_utils")

# TRL 1.16 / transformers 5.23 still accept ``gradient_checkpointing`` but warn that it is renamed.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

IGNORE_INDEX = -100
ASSISTANT_HEADER = "<|im_start|>assistant\n"
IM_END = "<|im_end|>"

# Keyword order of the notebook's v1 ``SFTConfig(...)`` block (and of ``create_sft_config``'s call).
V1_KEYWORDS = [
    "output_dir", "logging_dir", "logging_steps", "num_train_epochs", "per_device_train_batch_size",
    "per_device_eval_batch_size", "gradient_accumulation_steps", "gradient_checkpointing", "learning_rate",
    "warmup_steps", "lr_scheduler_type", "optim", "adam_beta2", "weight_decay", "max_grad_norm", "bf16",
    "tf32", "dataloader_num_workers", "eval_strategy", "eval_steps", "save_strategy", "save_steps",
    "save_total_limit", "load_best_model_at_end", "metric_for_best_model", "greater_is_better",
    "remove_unused_columns", "push_to_hub", "report_to", "run_name", "seed", "dataset_text_field",
    "max_length", "dataset_kwargs",
]  # fmt: skip

V1_VALUES = {
    "output_dir": "./vlm_outputs/qwen2vl-nutrition-detection-lora",
    "logging_dir": "./vlm_outputs/logs",
    "logging_steps": 10,
    "num_train_epochs": 3,
    "per_device_train_batch_size": 1,
    "per_device_eval_batch_size": 1,
    "gradient_accumulation_steps": 8,
    "gradient_checkpointing": False,
    "learning_rate": 2e-5,
    "warmup_steps": 100,
    "lr_scheduler_type": "cosine",
    "optim": "adamw_torch",
    "adam_beta2": 0.999,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "bf16": True,
    "tf32": True,
    "dataloader_num_workers": 0,
    "eval_strategy": "steps",
    "eval_steps": 50,
    "save_strategy": "steps",
    "save_steps": 300,
    "save_total_limit": 3,
    "load_best_model_at_end": True,
    "metric_for_best_model": "eval_loss",
    "greater_is_better": False,
    "remove_unused_columns": False,
    "push_to_hub": False,
    "report_to": "wandb",
    "run_name": "qwen2vl-nutrition-detection",
    "seed": 42,
    "dataset_text_field": "",
    "max_length": 2048,
    "dataset_kwargs": {"skip_prepare_dataset": True},
}

# The v3 (assistant-only) block: v1 minus four keywords, plus label_names and packing.
V3_KEYWORDS = [k for k in V1_KEYWORDS if k not in ("push_to_hub", "seed", "max_length", "dataset_kwargs")]
V3_KEYWORDS.insert(V3_KEYWORDS.index("remove_unused_columns") + 1, "label_names")
V3_KEYWORDS.append("packing")

V3_VALUES = {
    **{k: V1_VALUES[k] for k in V3_KEYWORDS if k in V1_VALUES},
    "output_dir": "./vlm_outputs/qwen2vl-nutrition-detection-lora-assistantonly",
    "logging_dir": "./vlm_outputs/logs-assistantonly",
    "eval_steps": 100,
    "save_steps": 100,
    "run_name": "qwen2vl-7b-assistant-only",
    "dataset_text_field": None,
    "label_names": ["labels"],
    "packing": False,
}


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def vision_and_pad_ids(processor) -> set[int]:
    vocab = processor.tokenizer.get_vocab()
    return {
        vocab["<|endoftext|>"],
        vocab["<|vision_start|>"],
        vocab["<|vision_end|>"],
        vocab["<|image_pad|>"],
    }


def mixed_length_batch(dataset, processor, size=2):
    """Records whose images expand to different numbers of tokens, so the batch needs padding."""
    grids = {}
    for idx in range(len(dataset)):
        thw = processor.image_processor(images=[dataset[idx]["image"]], return_tensors="pt")["image_grid_thw"]
        grids.setdefault(int(thw.prod()), idx)
        if len(grids) >= size:
            break
    assert len(grids) >= size, "the tiny dataset should hold images of different sizes"
    return [dataset[idx] for idx in list(grids.values())[:size]]


def assert_masks_pad_and_vision_tokens(output, processor):
    input_ids, labels = output["input_ids"], output["labels"]
    assert labels.shape == input_ids.shape
    masked_ids = vision_and_pad_ids(processor)
    pad_id = processor.tokenizer.pad_token_id
    assert (input_ids == pad_id).any(), "batch has no padding: the pad masking is not exercised"
    for row in range(input_ids.shape[0]):
        ids = input_ids[row].tolist()
        labs = labels[row].tolist()
        expected = {i for i, t in enumerate(ids) if t in masked_ids}
        actual = {i for i, t in enumerate(labs) if t == IGNORE_INDEX}
        assert actual == expected
        assert all(labs[i] == ids[i] for i in range(len(ids)) if i not in expected)


def expected_assistant_positions(ids: list[int], tokenizer) -> set[int]:
    """Token positions inside the assistant answers, found on the decoded text.

    Each token is decoded on its own; the answer spans are located by string search in the
    concatenation (from just after ``<|im_start|>assistant\\n`` through the closing ``<|im_end|>``),
    and a token belongs to the answer when its characters lie inside such a span.
    """
    pieces = [tokenizer.decode([t]) for t in ids]
    starts, text = [], ""
    for piece in pieces:
        starts.append(len(text))
        text += piece
    spans = []
    at = text.find(ASSISTANT_HEADER)
    while at != -1:
        begin = at + len(ASSISTANT_HEADER)
        close = text.find(IM_END, begin)
        end = len(text) if close == -1 else close + len(IM_END)
        spans.append((begin, end))
        at = text.find(ASSISTANT_HEADER, end)
    assert spans, "no assistant answer in the decoded sequence"
    positions = set()
    for i, piece in enumerate(pieces):
        lo, hi = starts[i], starts[i] + len(piece)
        if any(b <= lo and hi <= e for b, e in spans):
            positions.add(i)
        else:
            # answer boundaries must fall on token boundaries
            assert not any(b < hi and lo < e for b, e in spans), (i, piece)
    return positions


def assert_assistant_only(output, processor, batch):
    tokenizer = processor.tokenizer
    input_ids, labels = output["input_ids"], output["labels"]
    assert labels.shape == input_ids.shape
    for row in range(input_ids.shape[0]):
        ids = input_ids[row].tolist()
        labs = labels[row].tolist()
        expected = expected_assistant_positions(ids, tokenizer)
        actual = {i for i, t in enumerate(labs) if t != IGNORE_INDEX}
        assert actual == expected
        assert all(labs[i] == ids[i] for i in actual)
        answer = batch[row]["messages"][-1]["content"][0]["text"]
        assert tokenizer.decode([labs[i] for i in sorted(actual)]) == answer + IM_END


def lora_train(model, processor, dataset, collate_fn, output_dir, steps=5):
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(output_dir),
        max_steps=steps,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        report_to=[],
        logging_steps=1,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        gradient_checkpointing=False,
        bf16=False,
        use_cpu=True,
        save_strategy="no",
        dataset_text_field="",
        seed=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collate_fn,
        processing_class=processor,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return trainable, losses


# ---------------------------------------------------------------------------
# imports
# ---------------------------------------------------------------------------


def test_target_src_imports_cleanly(target_src):
    for name in ("src.data.collators", "src.training.config", "src.utils.debug", "src.training", "src.utils"):
        importlib.import_module(name)
    training = importlib.import_module("src.training")
    assert set(training.__all__) >= {"create_sft_config", "create_assistant_only_training_config"}
    utils = importlib.import_module("src.utils")
    assert utils.analyze_token_distribution.__module__ == "src.utils.debug"
    assert (target_src / "src" / "data" / "__init__.py").read_text() == ""


# ---------------------------------------------------------------------------
# collators
# ---------------------------------------------------------------------------


def test_restore_images_keeps_the_record_and_drops_none_keys(target_src, tiny_dataset):
    collators = importlib.import_module("src.data.collators")
    record = tiny_dataset[0]
    restored = collators.restore_images_in_conversations(record["messages"], record["image"])
    assert record["messages"][1]["content"][0]["image"] == "IMAGE_PLACEHOLDER"
    image_item, text_item = restored[1]["content"]
    assert image_item == {"type": "image", "image": record["image"]}
    assert text_item == {"type": "text", "text": "Detect the bounding box of the nutrition table."}
    assert all(None not in item.values() for message in restored for item in message["content"])


def test_collate_fn_fixed_1_masks_exactly_pad_and_vision_tokens(
    target_src, tiny_processor, tiny_model_factory, tiny_dataset
):
    collators = importlib.import_module("src.data.collators")
    collate_fn = collators.collate_fn_fixed_1(tiny_processor, tiny_model_factory())
    batch = mixed_length_batch(tiny_dataset, tiny_processor)
    output = collate_fn(batch)
    assert_masks_pad_and_vision_tokens(output, tiny_processor)
    assert set(collate_fn.masked_token_ids) == vision_and_pad_ids(tiny_processor)
    assert collators.verify_batch(output, tiny_processor, require_padding=True) == []
    assert output["pixel_values"].dtype == torch.float32


def test_collate_fn_fixed_1_accepts_plain_list_records(target_src, tiny_processor, tiny_model_factory):
    from codemods.kit import build_nutrition_records

    collators = importlib.import_module("src.data.collators")
    records = build_nutrition_records(num_samples=3, seed=5)
    output = collators.collate_fn_fixed_1(tiny_processor, tiny_model_factory())(records)
    assert output["input_ids"].shape[0] == 3
    assert all(r["messages"][1]["content"][0]["image"] == "IMAGE_PLACEHOLDER" for r in records)


def test_collate_fn_fixed_3_keeps_only_assistant_answers(
    target_src, tiny_processor, tiny_model_factory, tiny_dataset, capsys
):
    collators = importlib.import_module("src.data.collators")
    collate_fn = collators.collate_fn_fixed_3(tiny_processor, tiny_model_factory())
    assert (collate_fn.debug, collate_fn.max_debug, collate_fn.debug_count) == (False, 3, 0)
    batch = mixed_length_batch(tiny_dataset, tiny_processor, size=2) + [tiny_dataset[5]]
    output = collate_fn(batch)
    assert_assistant_only(output, tiny_processor, batch)
    assert collators.verify_batch(output, tiny_processor, require_padding=True) == []

    collate_fn.debug = True
    collate_fn.max_debug = 1
    collate_fn(batch)
    printed = capsys.readouterr().out
    assert printed.count("[collate_fn_fixed_3] Sample") == 1
    assert collate_fn.debug_count == 1


def test_collate_fn_fixed_fixed1_degrades_without_flash_attn(
    target_src, tiny_processor, tiny_model_factory, tiny_dataset, capsys
):
    collators = importlib.import_module("src.data.collators")
    model = tiny_model_factory()
    try:
        import flash_attn  # noqa: F401

        has_flash = True
    except ImportError:
        has_flash = False

    collate_fn = collators.collate_fn_fixed_fixed1(tiny_processor, model, use_flash_patch=True)
    assert collate_fn.flash_patched is has_flash
    if not has_flash:
        assert "flash_attn" in capsys.readouterr().out

    batch = mixed_length_batch(tiny_dataset, tiny_processor)
    output = collate_fn(batch)
    assert output["pixel_values"].dtype == torch.bfloat16
    assert_masks_pad_and_vision_tokens(output, tiny_processor)
    reference = collators.collate_fn_fixed_1(tiny_processor, model)(batch)
    assert torch.equal(output["labels"], reference["labels"])
    assert torch.equal(output["pixel_values"], reference["pixel_values"].to(torch.bfloat16))
    assert collate_fn.call_count == 1

    plain = collators.collate_fn_fixed_fixed1(tiny_processor, model)
    assert plain.flash_patched is False


def test_legacy_helpers_run(target_src, tiny_processor, tiny_model_factory, tiny_dataset, capsys):
    collators = importlib.import_module("src.data.collators")
    debug = importlib.import_module("src.utils.debug")
    model = tiny_model_factory()
    batch = mixed_length_batch(tiny_dataset, tiny_processor)

    out2 = collators.collate_fn_fixed_2(batch, tiny_processor, model)
    assert out2["labels"].shape == out2["input_ids"].shape
    assert "[collate_fn_fixed_2]" in capsys.readouterr().out

    collators.debug_collate_fn(batch, tiny_processor, model)
    collators.test_collate_fn_fixed_3(tiny_processor, model, tiny_dataset, num_samples=2)
    counts = collators.compare_collators(batch, tiny_processor, model)
    assert counts["collate_fn_fixed_3"] < counts["collate_fn_fixed_1"]

    stats = debug.analyze_token_distribution(
        collators.collate_fn_fixed_3(tiny_processor, model), tiny_dataset, num_samples=2
    )
    assert len(stats) == 2 and all(s["trainable"] > 0 and s["vision"] > 0 for s in stats)
    assert debug.quick_masking_check(tiny_processor, model, tiny_dataset)["trainable_fraction"] > 0.5


@pytest.mark.training
@pytest.mark.parametrize("collator_name", ["collate_fn_fixed_1", "collate_fn_fixed_3"])
def test_five_lora_steps_with_sfttrainer(
    collator_name, target_src, tiny_processor, tiny_model_factory, tiny_dataset, tmp_path
):
    collators = importlib.import_module("src.data.collators")
    model = tiny_model_factory(seed=0)
    collate_fn = getattr(collators, collator_name)(tiny_processor, model)
    trainable, losses = lora_train(model, tiny_processor, tiny_dataset, collate_fn, tmp_path)
    assert trainable > 0
    assert len(losses) == 5
    assert all(math.isfinite(loss) for loss in losses)


# ---------------------------------------------------------------------------
# src/training/config.py against TRL 1.16
# ---------------------------------------------------------------------------


def _lenient_sftconfig(captured: list):
    """A stand-in for ``SFTConfig`` that records the keywords, then builds a real one.

    TRL 1.16 dropped ``logging_dir`` and refuses ``tf32=True`` without CUDA (and ``bf16=True``
    on a CPU-only machine unless ``use_cpu`` is set), so those are adjusted before the real
    constructor runs; every other keyword goes through unchanged.
    """
    from trl import SFTConfig

    def build(**kwargs):
        captured.append(dict(kwargs))
        kwargs.pop("logging_dir")
        kwargs["tf32"] = False
        if not torch.cuda.is_available():
            kwargs["use_cpu"] = True
        return SFTConfig(**kwargs)

    return build


@pytest.mark.parametrize("factory", ["create_sft_config", "create_assistant_only_training_config"])
def test_config_factories_fail_on_trl_116_because_of_logging_dir(target_src, factory, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = importlib.import_module("src.training.config")
    with pytest.raises(TypeError, match="logging_dir"):
        getattr(config, factory)()


def test_create_sft_config_keywords_build_a_real_sftconfig(target_src, tmp_path, monkeypatch):
    from trl import SFTConfig

    monkeypatch.chdir(tmp_path)
    config = importlib.import_module("src.training.config")
    captured: list = []
    monkeypatch.setattr(config, "SFTConfig", _lenient_sftconfig(captured))

    args = config.create_sft_config()
    assert isinstance(args, SFTConfig)
    (kwargs,) = captured
    assert list(kwargs) == V1_KEYWORDS
    assert kwargs == V1_VALUES
    assert (args.eval_steps, args.save_steps, args.run_name) == (50, 300, "qwen2vl-nutrition-detection")
    assert args.max_length == 2048 and args.dataset_text_field == ""
    assert args.dataset_kwargs == {"skip_prepare_dataset": True}
    assert args.gradient_checkpointing is False and args.remove_unused_columns is False
    assert args.report_to == ["wandb"]
    config.print_training_config(args)

    captured.clear()
    args = config.create_sft_config(output_dir="out", run_name="custom", eval_steps=10, save_steps=20)
    assert (args.output_dir, args.run_name, args.eval_steps, args.save_steps) == ("out", "custom", 10, 20)


def test_create_assistant_only_config_keywords_build_a_real_sftconfig(target_src, tmp_path, monkeypatch):
    from trl import SFTConfig

    monkeypatch.chdir(tmp_path)
    config = importlib.import_module("src.training.config")
    captured: list = []
    monkeypatch.setattr(config, "SFTConfig", _lenient_sftconfig(captured))

    args = config.create_assistant_only_training_config()
    assert isinstance(args, SFTConfig)
    (kwargs,) = captured
    assert list(kwargs) == V3_KEYWORDS
    assert len(V3_KEYWORDS) == 32
    assert kwargs == V3_VALUES
    assert (args.eval_steps, args.save_steps) == (100, 100)
    assert args.label_names == ["labels"] and args.packing is False
    assert args.dataset_text_field is None
    assert args.run_name == "qwen2vl-7b-assistant-only"


# ---------------------------------------------------------------------------
# the collator classes of the main notebook-script
# ---------------------------------------------------------------------------

MAIN_FILE = "fine_tuning_vlm_for_object_detection_trl.py"
MAIN_FILE_COLLATORS = ("collate_fn_fixed_1", "collate_fn_fixed_3", "collate_fn_fixed_fixed1")


def _cell_starts(source: str) -> list[int]:
    """1-based line numbers of the jupytext ``# %%`` cell markers."""
    return [number for number, line in enumerate(source.splitlines(), 1) if line.startswith("# %%")]


def _names_bound_inside(node: ast.AST) -> set[str]:
    bound: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            bound.add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            bound.add(sub.name)
    return bound


def load_main_file_collators(path: Path) -> dict:
    """Exec the collator classes of the main file in a fresh namespace.

    Takes the module-level ``import``/``from ... import`` statements of the cells that define the
    collator classes, the module-level literal constants the classes read (``IMAGE_PLACEHOLDER``
    and the like), and the ``ClassDef`` nodes themselves -- nothing else of the notebook runs.
    """
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    starts = _cell_starts(source)

    def cell_of(node: ast.stmt) -> int:
        return bisect.bisect_right(starts, node.lineno)

    classes = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name in MAIN_FILE_COLLATORS
    }
    missing = sorted(set(MAIN_FILE_COLLATORS) - set(classes))
    assert not missing, f"{MAIN_FILE} defines no module-level class {missing}"

    class_cells = {cell_of(node) for node in classes.values()}
    imports = [
        node
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom)) and cell_of(node) in class_cells
    ]
    imported = _names_bound_inside(ast.Module(body=imports, type_ignores=[]))

    loaded: set[str] = set()
    for node in classes.values():
        loaded |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        loaded -= _names_bound_inside(node)
    free = loaded - imported - set(dir(builtins)) - set(classes)

    constants = {}
    first_class_line = min(node.lineno for node in classes.values())
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in free
            and node.lineno < first_class_line
        ):
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            constants[node.targets[0].id] = node
    unresolved = sorted(free - set(constants))
    assert not unresolved, (
        f"the collator classes of {MAIN_FILE} read names that neither their cells' imports nor "
        f"module-level literal constants define: {unresolved}"
    )

    ordered_classes = sorted(classes.values(), key=lambda node: node.lineno)
    module = ast.Module(body=[*imports, *constants.values(), *ordered_classes], type_ignores=[])
    namespace: dict = {"__name__": "main_file_collators"}
    exec(compile(module, str(path), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def main_file_collators(target_repo_dir):
    path = target_repo_dir / MAIN_FILE
    assert path.is_file(), f"{MAIN_FILE} is missing from target_repo"
    return load_main_file_collators(path)


def test_main_file_collator_cells_are_self_contained(main_file_collators):
    for name in MAIN_FILE_COLLATORS:
        cls = main_file_collators[name]
        assert isinstance(cls, type) and cls.__name__ == name
        assert callable(cls.__call__)


def test_main_file_collate_fn_fixed_1_masks_exactly_pad_and_vision_tokens(
    main_file_collators, tiny_processor, tiny_model_factory, tiny_dataset
):
    collate_fn = main_file_collators["collate_fn_fixed_1"](tiny_processor, tiny_model_factory())
    batch = mixed_length_batch(tiny_dataset, tiny_processor)
    output = collate_fn(batch)
    assert_masks_pad_and_vision_tokens(output, tiny_processor)


def test_main_file_collate_fn_fixed_3_keeps_only_assistant_answers(
    main_file_collators, tiny_processor, tiny_model_factory, tiny_dataset, capsys
):
    collate_fn = main_file_collators["collate_fn_fixed_3"](tiny_processor, tiny_model_factory())
    batch = mixed_length_batch(tiny_dataset, tiny_processor, size=2) + [tiny_dataset[5]]
    output = collate_fn(batch)
    assert_assistant_only(output, tiny_processor, batch)

    collate_fn.debug = True
    collate_fn.max_debug = 1
    collate_fn(batch)
    assert capsys.readouterr().out.count("[collate_fn_fixed_3] Sample") == 1
    assert collate_fn.debug_count == 1


def test_main_file_collate_fn_fixed_fixed1_gives_bf16_pixels(
    main_file_collators, tiny_processor, tiny_model_factory, tiny_dataset
):
    model = tiny_model_factory()
    collate_fn = main_file_collators["collate_fn_fixed_fixed1"](tiny_processor, model)
    batch = mixed_length_batch(tiny_dataset, tiny_processor)
    output = collate_fn(batch)
    assert output["pixel_values"].dtype == torch.bfloat16
    assert_masks_pad_and_vision_tokens(output, tiny_processor)
    reference = main_file_collators["collate_fn_fixed_1"](tiny_processor, model)(batch)
    assert torch.equal(output["labels"], reference["labels"])


@pytest.mark.training
@pytest.mark.parametrize("collator_name", ["collate_fn_fixed_1", "collate_fn_fixed_3"])
def test_main_file_collators_train_with_sfttrainer(
    collator_name, main_file_collators, tiny_processor, tiny_model_factory, tiny_dataset, tmp_path
):
    model = tiny_model_factory(seed=0)
    collate_fn = main_file_collators[collator_name](tiny_processor, model)
    trainable, losses = lora_train(model, tiny_processor, tiny_dataset, collate_fn, tmp_path)
    assert trainable > 0
    assert len(losses) == 5 and all(math.isfinite(loss) for loss in losses)


def test_main_file_loader_takes_only_the_collator_cells(tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(
        "# %%\n"
        "import json\n"
        'IMAGE_PLACEHOLDER = "IMAGE_PLACEHOLDER"\n'
        "unused = open('/nonexistent')\n"
        "\n"
        "# %%\n"
        "import os.path\n"
        "class collate_fn_fixed_1:\n"
        "    def __call__(self, batch):\n"
        "        return os.path.join(IMAGE_PLACEHOLDER, *batch)\n"
        "\n"
        "class collate_fn_fixed_3(collate_fn_fixed_1):\n"
        "    pass\n"
        "\n"
        "class collate_fn_fixed_fixed1(collate_fn_fixed_1):\n"
        "    pass\n"
        "print('not executed')\n",
        encoding="utf-8",
    )
    namespace = load_main_file_collators(script)
    assert namespace["collate_fn_fixed_3"]()(["x"]) == "IMAGE_PLACEHOLDER/x"
    assert "json" not in namespace and "unused" not in namespace
