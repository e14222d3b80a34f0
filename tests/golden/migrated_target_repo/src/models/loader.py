"""
Model and processor loading for Qwen2-VL fine-tuning.

The notebook trains Qwen2-VL-7B-Instruct with QLoRA: the base model is loaded
in 4-bit NF4 with BitsAndBytes and LoRA adapters are trained on the attention
projections.  Attention uses PyTorch SDPA; Flash Attention 2 needed bfloat16
pixel values and was dropped for training (see ``FlashAttentionPatchCollator``).
"""

from typing import List, Optional, Tuple

import torch
from peft import LoraConfig
from transformers import BitsAndBytesConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

DEFAULT_MODEL_ID = "Qwen/Qwen2-VL-7B-Instruct"

DEFAULT_LORA_TARGETS = ["q_proj", "v_proj"]


def create_bnb_config(use_4bit: bool = True) -> Optional[BitsAndBytesConfig]:
    """4-bit NF4 quantization config with bfloat16 compute (QLoRA)."""
    if not use_4bit:
        return None
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_model_and_processor(
    model_id: str = DEFAULT_MODEL_ID,
    use_4bit: bool = True,
    attn_implementation: str = "sdpa",
    min_pixels: Optional[int] = None,
    max_pixels: Optional[int] = None,
    device_map: str = "auto",
) -> Tuple[Qwen2VLForConditionalGeneration, Qwen2VLProcessor]:
    """
    Load the Qwen2-VL model (optionally 4-bit) and its processor.

    Args:
        model_id: Hub id or local path.
        use_4bit: quantize with BitsAndBytes NF4 (QLoRA).
        attn_implementation: "sdpa" (default), "eager" or "flash_attention_2".
        min_pixels / max_pixels: optional image resolution bounds for the
            image processor (fewer pixels -> fewer vision tokens).
        device_map: passed to ``from_pretrained``.
    """
    model = Qwen2VLForConditionalGeneration.from_pretrained(
        model_id,
        device_map=device_map,
        dtype=torch.bfloat16,
        quantization_config=create_bnb_config(use_4bit),
        attn_implementation=attn_implementation,
    )

    processor_kwargs = {}
    if min_pixels is not None:
        processor_kwargs["min_pixels"] = min_pixels
    if max_pixels is not None:
        processor_kwargs["max_pixels"] = max_pixels
    processor = Qwen2VLProcessor.from_pretrained(model_id, **processor_kwargs)

    print(f"✅ Loaded {model_id} ({'4-bit' if use_4bit else 'bf16'}, attn={attn_implementation})")
    return model, processor


def create_lora_config(
    r: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.05,
    target_modules: Optional[List[str]] = None,
) -> LoraConfig:
    """LoRA adapter config used for all training runs."""
    return LoraConfig(
        r=r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        bias="none",
        target_modules=list(target_modules or DEFAULT_LORA_TARGETS),
        task_type="CAUSAL_LM",
    )
