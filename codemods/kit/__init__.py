"""A tiny offline Qwen2-VL kit for exercising training code without downloads.

``build_tiny_processor`` and ``build_tiny_model`` give a processor/model pair
with the real Qwen2-VL token layout; ``build_nutrition_dataset`` gives
synthetic records in the nutrition-table detection format.
"""

from .nutrition_dataset import (
    IMAGE_PLACEHOLDER,
    SYSTEM_MESSAGE,
    USER_PROMPT,
    build_nutrition_dataset,
    build_nutrition_records,
    format_answer,
)
from .tiny_qwen2vl import (
    CHAT_TEMPLATE,
    SPECIAL_TOKENS,
    VISION_TOKENS,
    build_tiny_config,
    build_tiny_kit,
    build_tiny_model,
    build_tiny_processor,
    build_tiny_tokenizer,
    count_parameters,
    load_tiny_kit,
    save_tiny_kit,
)

__all__ = [
    "IMAGE_PLACEHOLDER",
    "SYSTEM_MESSAGE",
    "USER_PROMPT",
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "VISION_TOKENS",
    "build_nutrition_dataset",
    "build_nutrition_records",
    "format_answer",
    "build_tiny_config",
    "build_tiny_kit",
    "build_tiny_model",
    "build_tiny_processor",
    "build_tiny_tokenizer",
    "count_parameters",
    "load_tiny_kit",
    "save_tiny_kit",
]
