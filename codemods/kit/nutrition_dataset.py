"""Synthetic nutrition-table detection records.

Each record mirrors what the target project's ``format_data`` produces from
the real nutrition-table dataset: a PIL image plus a three-turn conversation
(system, user with an image placeholder and a question, assistant with the
answer in Qwen2-VL's grounding syntax, coordinates on the 0-1000 scale).
"""

from __future__ import annotations

import random

__all__ = [
    "IMAGE_PLACEHOLDER",
    "SYSTEM_MESSAGE",
    "USER_PROMPT",
    "draw_nutrition_image",
    "format_answer",
    "make_record",
    "build_nutrition_records",
    "build_nutrition_dataset",
]

IMAGE_PLACEHOLDER = "IMAGE_PLACEHOLDER"

SYSTEM_MESSAGE = (
    "You are a Vision Language Model specialized in detecting nutrition tables. "
    "Your task is to identify the nutrition table in the image and provide its "
    "bounding box coordinates."
)

USER_PROMPT = "Detect the bounding box of the nutrition table."

_SIZES = ((112, 112), (140, 112), (168, 140), (196, 140), (224, 168), (168, 224))


def _to_thousandths(value: int, extent: int) -> int:
    return max(0, min(1000, round(value * 1000 / extent)))


def format_answer(box_1000: tuple[int, int, int, int]) -> str:
    """Assistant text for a box given on the 0-1000 scale."""
    x1, y1, x2, y2 = box_1000
    return (
        "<|object_ref_start|>nutrition table<|object_ref_end|>"
        f"<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"
    )


def draw_nutrition_image(rng: random.Random):
    """Draw a small package-like image holding a light "nutrition table".

    Returns ``(image, pixel_box, box_1000)`` where ``pixel_box`` is the drawn
    rectangle in pixels and ``box_1000`` the same box on Qwen's 0-1000 scale.
    """
    from PIL import Image, ImageDraw

    width, height = rng.choice(_SIZES)
    background = tuple(rng.randint(40, 150) for _ in range(3))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)

    table_w = rng.randint(width // 3, (width * 2) // 3)
    table_h = rng.randint(height // 3, (height * 2) // 3)
    x1 = rng.randint(2, width - table_w - 2)
    y1 = rng.randint(2, height - table_h - 2)
    x2, y2 = x1 + table_w, y1 + table_h
    fill = tuple(rng.randint(215, 250) for _ in range(3))
    draw.rectangle([x1, y1, x2, y2], fill=fill, outline=(20, 20, 20), width=1)

    rows = rng.randint(3, 6)
    step = table_h / (rows + 1)
    for row in range(1, rows + 1):
        y = int(y1 + row * step)
        draw.line([x1 + 2, y, x2 - 2, y], fill=(60, 60, 60), width=1)
    mid = x1 + table_w // 2
    draw.line([mid, y1 + 2, mid, y2 - 2], fill=(90, 90, 90), width=1)

    box_1000 = (
        _to_thousandths(x1, width),
        _to_thousandths(y1, height),
        _to_thousandths(x2, width),
        _to_thousandths(y2, height),
    )
    return image, (x1, y1, x2, y2), box_1000


def make_record(image, box_1000) -> dict:
    """One training record in the target project's format."""
    return {
        "image": image,
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM_MESSAGE}]},
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": IMAGE_PLACEHOLDER},
                    {"type": "text", "text": USER_PROMPT},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": format_answer(box_1000)}]},
        ],
    }


def build_nutrition_records(num_samples: int = 16, seed: int = 0) -> list[dict]:
    """Plain Python records (no ``datasets`` normalisation)."""
    rng = random.Random(seed)
    records = []
    for _ in range(num_samples):
        image, _pixel_box, box_1000 = draw_nutrition_image(rng)
        records.append(make_record(image, box_1000))
    return records


def build_nutrition_dataset(num_samples: int = 16, seed: int = 0):
    """A ``datasets.Dataset`` of synthetic nutrition-table records.

    ``Dataset.from_list`` gives every content dict every key (``type``,
    ``text``, ``image``), filling the missing ones with ``None``; the image
    column is stored as an ``Image`` feature and decodes back to PIL.
    """
    from datasets import Dataset

    return Dataset.from_list(build_nutrition_records(num_samples=num_samples, seed=seed))
