"""Smoke training, child side: what a short run proves beyond "the loss is finite".

- :func:`label_masking` - which share of a collator's tokens keep their labels, and whether any
  vision or padding token does (those carry nothing to learn: a collator that trains on them
  fits image placeholders, not the task);
- :class:`GradientProbe` - every optimizer step sees finite, non-zero gradients on the trainable
  (LoRA) weights;
- :func:`snapshot` / :func:`weights_changed` - the trainable weights moved during training.

Only the smoke child imports this module (torch is imported lazily, inside the functions).
"""

from __future__ import annotations

import math
from typing import Any

IGNORE_INDEX = -100
MASKING_SAMPLES = 4
# The Qwen2-VL config attributes naming the tokens that only ever stand for visual input.
VISION_TOKEN_ATTRIBUTES = ("vision_start_token_id", "vision_end_token_id", "image_token_id", "video_token_id")


def vision_token_ids(model_config: Any, tokenizer: Any) -> dict[int, str]:
    """``{token id: token text}`` of the model's vision tokens (read from its config, not assumed)."""
    found: dict[int, str] = {}
    for attribute in VISION_TOKEN_ATTRIBUTES:
        token_id = getattr(model_config, attribute, None)
        if isinstance(token_id, int) and token_id >= 0:
            found[token_id] = str(tokenizer.convert_ids_to_tokens(token_id))
    return found


def label_masking(collator: Any, dataset: Any, model_config: Any, tokenizer: Any, samples: int = MASKING_SAMPLES) -> dict[str, Any]:
    """Run ``collator`` on the first ``samples`` rows (batches of two) and count which labels it keeps.

    ``share`` is the fraction of real (non-padding) tokens whose label is kept. ``vision_unmasked``
    lists each vision token that keeps a label (``{"id", "token", "count"}``); ``pad_unmasked``
    counts padding positions (``attention_mask == 0`` or the pad token) that keep one.
    """
    import torch

    vision = vision_token_ids(model_config, tokenizer)
    pad_id = tokenizer.pad_token_id
    kept = real = pad_unmasked = 0
    vision_counts: dict[int, int] = {}
    rows = [dataset[i] for i in range(min(samples, len(dataset)))]
    for start in range(0, len(rows), 2):
        batch = collator(rows[start : start + 2])
        input_ids, labels = batch["input_ids"], batch["labels"]
        attention = batch.get("attention_mask")
        attention = torch.ones_like(input_ids) if attention is None else attention
        keeps = labels != IGNORE_INDEX
        padding = attention == 0
        if pad_id is not None:
            padding = padding | (input_ids == pad_id)
        kept += int((keeps & ~padding).sum())
        real += int((~padding).sum())
        pad_unmasked += int((keeps & padding).sum())
        for token_id in vision:
            count = int((keeps & (input_ids == token_id)).sum())
            if count:
                vision_counts[token_id] = vision_counts.get(token_id, 0) + count
    return {
        "samples": len(rows),
        "kept": kept,
        "real_tokens": real,
        "share": round(kept / real, 6) if real else 0.0,
        "vision_tokens": {str(token_id): text for token_id, text in vision.items()},
        "vision_unmasked": [{"id": i, "token": vision[i], "count": c} for i, c in sorted(vision_counts.items())],
        "pad_unmasked": pad_unmasked,
    }


def masking_problems(collator_name: str, masking: dict[str, Any]) -> list[str]:
    """What is wrong with a collator's labels, as sentences naming the token ids and kinds."""
    problems = []
    if masking["kept"] == 0:
        problems.append(f"{collator_name} masks every label: nothing would be trained")
    leaked = masking["vision_unmasked"]
    if leaked:
        listed = ", ".join(f"{entry['token']} (id {entry['id']}) x{entry['count']}" for entry in leaked)
        problems.append(
            f"{collator_name} leaves vision tokens unmasked: {listed} keep their labels in "
            f"{masking['samples']} samples; vision tokens must have label -100"
        )
    if masking["pad_unmasked"]:
        problems.append(
            f"{collator_name} leaves {masking['pad_unmasked']} padding position(s) unmasked; padding must have label -100"
        )
    return problems


def trainable_parameters(model: Any) -> dict[str, Any]:
    return {name: parameter for name, parameter in model.named_parameters() if parameter.requires_grad}


def snapshot(model: Any) -> dict[str, Any]:
    """A copy of every trainable weight, on the CPU (compared with :func:`weights_changed`)."""
    return {name: parameter.detach().to("cpu", copy=True) for name, parameter in trainable_parameters(model).items()}


def weights_changed(before: dict[str, Any], model: Any) -> dict[str, Any]:
    """How many trainable tensors differ from ``before``, and by how much at most."""
    after = trainable_parameters(model)
    changed, largest = 0, 0.0
    for name, old in before.items():
        new = after.get(name)
        if new is None:
            continue
        difference = float((new.detach().to("cpu").float() - old.float()).abs().max()) if old.numel() else 0.0
        if difference > 0:
            changed += 1
            largest = max(largest, difference)
    return {"changed": changed, "tensors": len(before), "max_abs_change": largest}


def make_gradient_probe(callback_base: type) -> Any:
    """A ``TrainerCallback`` (its base passed in: transformers is imported by the caller) recording gradients."""

    class GradientProbe(callback_base):
        """Before every optimizer step: the trainable weights' total gradient norm and any missing gradient."""

        def __init__(self) -> None:
            self.model = None
            self.norms: list[float] = []
            self.missing: set[str] = set()

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            if self.model is None:
                return
            total = 0.0
            for name, parameter in trainable_parameters(self.model).items():
                if parameter.grad is None:
                    self.missing.add(name)
                    continue
                total += float(parameter.grad.detach().float().pow(2).sum())
            self.norms.append(math.sqrt(total) if math.isfinite(total) else float("nan"))

        def summary(self) -> dict[str, Any]:
            finite = [n for n in self.norms if math.isfinite(n)]
            return {
                "steps": len(self.norms),
                "norms": [round(n, 8) if math.isfinite(n) else str(n) for n in self.norms],
                "finite": len(finite) == len(self.norms),
                "nonzero": bool(finite) and all(n > 0 for n in finite),
                "missing": sorted(self.missing)[:10],
                "missing_count": len(self.missing),
            }

    return GradientProbe()


def training_problems(gradients: dict[str, Any], weights: dict[str, Any]) -> list[str]:
    problems = []
    if gradients["steps"] == 0:
        problems.append("no optimizer step saw a gradient")
    elif not gradients["finite"]:
        problems.append(f"non-finite gradient norm(s) {gradients['norms']}")
    elif not gradients["nonzero"]:
        problems.append(f"zero gradient norm at some step ({gradients['norms']}): the loss does not reach the trainable weights")
    if weights["tensors"] and weights["changed"] == 0:
        problems.append(f"none of the {weights['tensors']} trainable (LoRA) tensors changed during training")
    return problems
