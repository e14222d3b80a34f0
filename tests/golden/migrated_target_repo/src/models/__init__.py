"""Model and processor loading helpers."""

from src.models.loader import create_lora_config, load_model_and_processor

__all__ = ["create_lora_config", "load_model_and_processor"]
