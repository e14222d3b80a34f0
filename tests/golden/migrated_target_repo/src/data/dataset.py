"""
Dataset loading and formatting for nutrition table detection.

The source data is the Open Food Facts nutrition table detection dataset on
the Hugging Face Hub.  Every sample holds a product photo and one or more
bounding boxes (normalized ``[y_min, x_min, y_max, x_max]``).  ``format_data``
turns a sample into a chat conversation that Qwen2-VL can be trained on:

    system    -> SYSTEM_MESSAGE
    user      -> <image> + "Detect the bounding box of the nutrition table."
    assistant -> <|object_ref_start|>nutrition table<|object_ref_end|>
                 <|box_start|>(x1,y1),(x2,y2)<|box_end|>

Qwen2-VL expects box coordinates on a 0-1000 grid, independent of the image
size, so the normalized boxes are simply scaled by 1000.

The PIL image itself is NOT stored inside the messages: ``datasets`` cannot
hold a PIL object in a nested list of dicts next to strings, so the image
content item carries ``IMAGE_PLACEHOLDER`` and the collators put the real image
back (see ``src.data.collators.restore_images_in_conversations``).
"""

import re
from typing import Dict, List, Optional, Sequence, Tuple

from datasets import load_dataset

IMAGE_PLACEHOLDER = "IMAGE_PLACEHOLDER"

SYSTEM_MESSAGE = (
    "You are a Vision Language Model specialized in detecting nutrition tables. "
    "Your task is to identify the nutrition table in the image and provide its "
    "bounding box coordinates."
)

USER_PROMPT = "Detect the bounding box of the nutrition table."

DEFAULT_DATASET_ID = "openfoodfacts/nutrition-table-detection"

_BOX_PATTERN = re.compile(r"\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)")


# =============================================================================
# Bounding box helpers
# =============================================================================

def convert_bbox_to_qwen_format(bbox: Sequence[float]) -> Tuple[int, int, int, int]:
    """
    Convert a normalized ``[y_min, x_min, y_max, x_max]`` box to Qwen2-VL's
    ``(x1, y1, x2, y2)`` on the 0-1000 grid.

    >>> convert_bbox_to_qwen_format([0.1, 0.2, 0.5, 0.9])
    (200, 100, 900, 500)
    """
    y_min, x_min, y_max, x_max = bbox
    to_grid = lambda value: int(round(min(max(value, 0.0), 1.0) * 1000))  # noqa: E731
    return to_grid(x_min), to_grid(y_min), to_grid(x_max), to_grid(y_max)


def format_bbox_answer(box: Sequence[int], label: str = "nutrition table") -> str:
    """Assistant answer in Qwen2-VL grounding syntax."""
    x1, y1, x2, y2 = box
    return (
        f"<|object_ref_start|>{label}<|object_ref_end|>"
        f"<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"
    )


def parse_bbox_from_text(text: str) -> Optional[Tuple[int, int, int, int]]:
    """
    Extract the first ``(x1,y1),(x2,y2)`` box from generated text.

    Returns ``None`` when the model produced no parsable box.

    >>> parse_bbox_from_text("<|box_start|>(10,20),(300,400)<|box_end|>")
    (10, 20, 300, 400)
    """
    match = _BOX_PATTERN.search(text or "")
    if match is None:
        return None
    return tuple(int(group) for group in match.groups())  # type: ignore[return-value]


def compute_iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes."""
    ax1, ay1, ax2, ay2 = box_a
    bx1, by1, bx2, by2 = box_b
    inter_w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    inter_h = max(0.0, min(ay2, by2) - max(ay1, by1))
    intersection = inter_w * inter_h
    area_a = max(0.0, ax2 - ax1) * max(0.0, ay2 - ay1)
    area_b = max(0.0, bx2 - bx1) * max(0.0, by2 - by1)
    union = area_a + area_b - intersection
    return intersection / union if union > 0 else 0.0


# =============================================================================
# Conversation formatting
# =============================================================================

def format_data(sample: Dict) -> Dict:
    """
    Format one dataset sample as a Qwen2-VL chat conversation.

    Only the first box of the sample is used (almost every product photo has a
    single nutrition table).

    Returns:
        ``{"image": <PIL image>, "messages": [system, user, assistant]}`` where
        the user's image item holds ``IMAGE_PLACEHOLDER``.
    """
    bboxes = sample["objects"]["bbox"]
    box = convert_bbox_to_qwen_format(bboxes[0])
    return {
        "image": sample["image"],
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": SYSTEM_MESSAGE}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": IMAGE_PLACEHOLDER},
                    {"type": "text", "text": USER_PROMPT},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "text", "text": format_bbox_answer(box)}],
            },
        ],
    }


def load_nutrition_dataset(
    dataset_id: str = DEFAULT_DATASET_ID,
    train_split: str = "train",
    eval_split: str = "val",
    num_train_samples: Optional[int] = None,
    num_eval_samples: Optional[int] = None,
):
    """
    Load the nutrition table dataset from the Hub and format it for training.

    Args:
        dataset_id: Hub dataset id.
        train_split / eval_split: split names.
        num_train_samples / num_eval_samples: optional caps for quick runs.

    Returns:
        ``(train_dataset, eval_dataset)`` as ``datasets.Dataset`` objects with
        ``image`` and ``messages`` columns.
    """
    train_raw = load_dataset(dataset_id, split=train_split)
    eval_raw = load_dataset(dataset_id, split=eval_split)

    if num_train_samples is not None:
        train_raw = train_raw.select(range(min(num_train_samples, len(train_raw))))
    if num_eval_samples is not None:
        eval_raw = eval_raw.select(range(min(num_eval_samples, len(eval_raw))))

    columns_to_drop = [c for c in train_raw.column_names if c not in ("image",)]
    train_dataset = train_raw.map(format_data, remove_columns=columns_to_drop)
    eval_dataset = eval_raw.map(format_data, remove_columns=columns_to_drop)

    print(f"✅ Loaded {len(train_dataset)} train / {len(eval_dataset)} eval samples from {dataset_id}")
    return train_dataset, eval_dataset


def get_ground_truth_boxes(dataset, indices: Optional[List[int]] = None) -> List[Tuple[int, int, int, int]]:
    """Parse the assistant answers of formatted samples back into boxes."""
    indices = range(len(dataset)) if indices is None else indices
    boxes = []
    for idx in indices:
        answer = dataset[idx]["messages"][-1]["content"][0]["text"]
        boxes.append(parse_bbox_from_text(answer))
    return boxes
