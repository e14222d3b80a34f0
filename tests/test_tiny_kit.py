"""The tiny offline Qwen2-VL kit: processor, model and synthetic dataset."""

from __future__ import annotations

import copy
import math
import re
import socket

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("qwen_vl_utils")

from codemods.kit import (  # noqa: E402
    IMAGE_PLACEHOLDER,
    SPECIAL_TOKENS,
    SYSTEM_MESSAGE,
    build_nutrition_dataset,
    build_nutrition_records,
    build_tiny_model,
    build_tiny_processor,
    count_parameters,
    load_tiny_kit,
    save_tiny_kit,
)

ANSWER_RE = re.compile(
    r"^<\|object_ref_start\|>nutrition table<\|object_ref_end\|>"
    r"<\|box_start\|>\((\d+),(\d+)\),\((\d+),(\d+)\)<\|box_end\|>$"
)


def _render(processor, record):
    """Chat text + images of one record, with the placeholder swapped for the image."""
    from qwen_vl_utils import process_vision_info

    messages = copy.deepcopy(record["messages"])
    for message in messages:
        items = []
        for item in message["content"]:
            item = {k: v for k, v in item.items() if v is not None}
            if item.get("type") == "image":
                item["image"] = record["image"]
            items.append(item)
        message["content"] = items
    text = processor.apply_chat_template(messages, tokenize=False)
    images, _ = process_vision_info(messages)
    return text, images


def test_kit_builds_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted while building the tiny kit")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    processor = build_tiny_processor()
    model = build_tiny_model(processor)
    assert type(processor).__name__ == "Qwen2VLProcessor"
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert 100_000 < count_parameters(model) < 1_000_000


def test_tokenizer_layout(tiny_processor):
    tokenizer = tiny_processor.tokenizer
    vocab = tokenizer.get_vocab()
    for token in SPECIAL_TOKENS:
        assert token in vocab, token
        # special tokens are never split
        assert tokenizer.encode(token, add_special_tokens=False) == [vocab[token]]
    assert tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.pad_token_id == vocab["<|endoftext|>"]
    assert len(tokenizer) < 1000
    text = "Detect the bounding box of the nutrition table. (12,345),(678,999)"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_builds_are_deterministic(tiny_processor):
    other = build_tiny_processor()
    assert other.tokenizer.get_vocab() == tiny_processor.tokenizer.get_vocab()
    a = build_tiny_model(tiny_processor, seed=3).state_dict()
    b = build_tiny_model(other, seed=3).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = build_tiny_model(tiny_processor, seed=4).state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_model_config_uses_the_small_vocabulary(tiny_processor, tiny_model_factory):
    model = tiny_model_factory()
    config = model.config
    tokenizer = tiny_processor.tokenizer
    vocab = tokenizer.get_vocab()
    assert config.text_config.vocab_size == len(tokenizer)
    assert config.image_token_id == vocab["<|image_pad|>"]
    assert config.video_token_id == vocab["<|video_pad|>"]
    assert config.vision_start_token_id == vocab["<|vision_start|>"]
    assert config.vision_end_token_id == vocab["<|vision_end|>"]
    for cfg in (config, config.text_config):
        assert cfg.pad_token_id == vocab["<|endoftext|>"]
        assert cfg.eos_token_id == vocab["<|im_end|>"]
        assert cfg.bos_token_id < len(tokenizer)


def test_dataset_records_have_the_expected_format(tiny_dataset):
    from PIL import Image

    assert len(tiny_dataset) == 16
    assert tiny_dataset.column_names == ["image", "messages"]
    for record in tiny_dataset:
        assert isinstance(record["image"], Image.Image)
        assert record["image"].mode == "RGB"
        system, user, assistant = record["messages"]
        assert [m["role"] for m in (system, user, assistant)] == ["system", "user", "assistant"]
        assert system["content"][0]["text"] == SYSTEM_MESSAGE
        image_item, question = user["content"]
        assert image_item["type"] == "image" and image_item["image"] == IMAGE_PLACEHOLDER
        assert question == {
            "type": "text",
            "text": "Detect the bounding box of the nutrition table.",
            "image": None,
        }
        match = ANSWER_RE.match(assistant["content"][0]["text"])
        assert match, assistant["content"][0]["text"]
        x1, y1, x2, y2 = map(int, match.groups())
        assert 0 <= x1 < x2 <= 1000 and 0 <= y1 < y2 <= 1000


def test_boxes_match_the_drawn_table():
    records = build_nutrition_records(num_samples=6, seed=1)
    for record in records:
        image = record["image"]
        assert 112 * 112 <= image.width * image.height <= 224 * 224
        x1, y1, x2, y2 = map(int, ANSWER_RE.match(record["messages"][2]["content"][0]["text"]).groups())
        px1, py1 = round(x1 / 1000 * image.width), round(y1 / 1000 * image.height)
        px2, py2 = round(x2 / 1000 * image.width), round(y2 / 1000 * image.height)
        # the table is light, the background darker; sample just inside the top-left
        # corner (off the grid lines) and just outside the left and right edges
        assert min(image.getpixel((px1 + 3, py1 + 3))) >= 215
        mid_y = (py1 + py2) // 2
        assert max(image.getpixel((max(px1 - 2, 0), mid_y))) <= 150
        assert max(image.getpixel((min(px2 + 2, image.width - 1), mid_y))) <= 150


def test_dataset_is_deterministic(tiny_dataset):
    again = build_nutrition_dataset(num_samples=16, seed=0)
    assert again["messages"] == tiny_dataset["messages"]
    assert [im.tobytes() for im in again["image"]] == [im.tobytes() for im in tiny_dataset["image"]]


def test_processor_renders_a_record_with_vision_tokens(tiny_processor, tiny_dataset):
    record = tiny_dataset[0]
    text, images = _render(tiny_processor, record)
    assert text.startswith("<|im_start|>system\n" + SYSTEM_MESSAGE + "<|im_end|>\n")
    assert "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Detect the bounding box" in text
    assert text.endswith("<|box_end|><|im_end|>\n")
    assert text.count("<|image_pad|>") == 1

    enc = tiny_processor(text=[text], images=[images], return_tensors="pt", padding=True)
    vocab = tiny_processor.tokenizer.get_vocab()
    ids = enc["input_ids"][0].tolist()
    grid = enc["image_grid_thw"][0]
    merge = tiny_processor.image_processor.merge_size
    assert ids.count(vocab["<|image_pad|>"]) == int(grid.prod()) // merge**2
    assert ids.count(vocab["<|vision_start|>"]) == 1 and ids.count(vocab["<|vision_end|>"]) == 1
    assert enc["pixel_values"].shape[0] == int(grid.prod())
    assert int(grid.prod()) <= 64  # max_pixels = 112 * 112


def test_generation_prompt(tiny_processor):
    messages = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    text = tiny_processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n")


def test_model_forward_gives_finite_loss(tiny_processor, tiny_model_factory, tiny_dataset):
    model = tiny_model_factory()
    texts, images = zip(*(_render(tiny_processor, tiny_dataset[i]) for i in range(2)), strict=True)
    enc = tiny_processor(text=list(texts), images=list(images), return_tensors="pt", padding=True)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    out = model(**enc, labels=labels)
    assert math.isfinite(out.loss.item())
    assert out.logits.shape[:2] == enc["input_ids"].shape
    out.loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_save_and_load_round_trip(tmp_path, tiny_processor, tiny_dataset):
    save_tiny_kit(tmp_path / "kit", seed=0)
    processor, model = load_tiny_kit(tmp_path / "kit")
    text, images = _render(tiny_processor, tiny_dataset[1])
    a = tiny_processor(text=[text], images=[images], return_tensors="pt")
    b = processor(text=[text], images=[images], return_tensors="pt")
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert torch.allclose(a["pixel_values"], b["pixel_values"])
    reference = build_tiny_model(tiny_processor, seed=0)
    with torch.no_grad():
        assert torch.allclose(reference(**a).logits, model(**b).logits, atol=1e-5)
