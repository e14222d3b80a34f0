"""
Debugging helpers for the training data pipeline.

``analyze_token_distribution`` answers the question "which tokens does the
loss actually see?" for a given collator: it collates a few samples one by one
and counts, per sample, the vision tokens, the masked tokens and the trainable
tokens, then decodes the trainable part.
"""

from typing import Dict, List

import torch

from src.data import collators

IGNORE_INDEX = -100


def analyze_token_distribution(collate_fn, dataset, num_samples=3) -> List[Dict[str, int]]:
    """
    Print and return how a collator splits each sample into masked / trained tokens.

    Args:
        collate_fn: a collator instance (anything called as ``collate_fn(batch)``
            that returns ``input_ids`` and ``labels``).
        dataset: formatted samples (``image`` + ``messages``).
        num_samples: how many samples to analyze.

    Returns:
        One dict per sample with ``total``, ``vision``, ``masked`` and
        ``trainable`` counts.

    Example:
        >>> from src.data.collators import AllTokensCollator
        >>> collate_fn = AllTokensCollator(processor, model)
        >>> stats = analyze_token_distribution(collate_fn, train_dataset, num_samples=3)
        >>> stats[0]["trainable"] > 0
        True
    """
    processor = collate_fn.processor
    tokenizer = processor.tokenizer
    image_pad_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    vision_ids = {
        image_pad_id,
        tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        tokenizer.convert_tokens_to_ids("<|vision_end|>"),
    }

    results = []
    print("=" * 70)
    print(f"📊 Token distribution for {type(collate_fn).__name__}")
    print("=" * 70)
    for idx in range(min(num_samples, len(dataset))):
        output = collate_fn([dataset[idx]])
        input_ids = output["input_ids"][0]
        labels = output["labels"][0]

        total = int(input_ids.numel())
        vision = int(sum(int(token in vision_ids) for token in input_ids.tolist()))
        masked = int((labels == IGNORE_INDEX).sum())
        trainable = total - masked
        stats = {"total": total, "vision": vision, "masked": masked, "trainable": trainable}
        results.append(stats)

        print(f"Sample {idx}: {total} tokens | {vision} vision | {masked} masked | {trainable} trainable")
        kept = labels[labels != IGNORE_INDEX].tolist()
        print(f"  trained on: {tokenizer.decode(kept)!r}")

    if results:
        avg = sum(r["trainable"] for r in results) / len(results)
        print(f"Average trainable tokens per sample: {avg:.1f}")
    print("=" * 70)
    return results


def quick_masking_check(processor, model, dataset, num_samples=2) -> Dict[str, float]:
    """
    Fraction of trainable tokens for the v1 collator on a few samples.

    Useful right after changing the processor's pixel limits: more image
    tokens means a smaller trainable fraction.
    """
    collate_fn = collators.AllTokensCollator(processor, model)
    batch = [dataset[i] for i in range(min(num_samples, len(dataset)))]
    output = collate_fn(batch)
    labels = output["labels"]
    attention = output["attention_mask"].bool()
    trainable = (labels != IGNORE_INDEX) & attention
    fraction = float(trainable.sum()) / float(attention.sum())
    print(f"✅ {fraction:.1%} of the non-padding tokens are trained on")
    return {"trainable_fraction": fraction}


def describe_batch(batch: Dict[str, torch.Tensor]) -> None:
    """Print shapes and dtypes of a collated batch."""
    for key, value in batch.items():
        if torch.is_tensor(value):
            print(f"  {key:20s} {tuple(value.shape)} {value.dtype}")
