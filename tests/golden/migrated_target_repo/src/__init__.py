"""
Qwen2-VL nutrition table detection.

Reusable pieces of the fine-tuning notebook, split into small modules:

- ``src.data``: dataset loading/formatting and the data collators
- ``src.models``: model / processor loading (QLoRA) and LoRA configuration
- ``src.training``: ``SFTConfig`` factories for the training runs
- ``src.utils``: debugging helpers (token distribution analysis)

The notebook (``fine_tuning_vlm_for_object_detection_trl.py``) remains the
main entry point; ``scripts/train.py`` runs the same training from the
command line.
"""

__version__ = "0.1.0"
