"""
Token distribution of one collator batch (quick standalone check).

Loads the processor and a few validation images, runs a collator on them and
prints how many tokens are text, vision and padding, and how many end up with
a real label (!= -100).

    python analyze_tokens.py --collator all --num-samples 4
    python analyze_tokens.py --collator assistant
"""
import argparse
from collections import Counter

import torch
from datasets import load_dataset
from transformers import Qwen2VLProcessor

from src.data.collators import collate_fn_fixed_1, collate_fn_fixed_3
from src.data.dataset import format_data

MODEL_ID = "Qwen/Qwen2-VL-7B-Instruct"
DATASET_ID = "openfoodfacts/nutrition-table-detection"
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collator", choices=["all", "assistant"], default="all")
    parser.add_argument("--num-samples", type=int, default=4)
    parser.add_argument("--split", default="val")
    return parser.parse_args()


def token_table(tokenizer, input_ids, labels, attention_mask):
    vision_ids = {tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS}
    counts = Counter()
    for token_id, label, mask in zip(input_ids.tolist(), labels.tolist(), attention_mask.tolist()):
        if not mask:
            counts["padding"] += 1
            continue
        kind = "vision" if token_id in vision_ids else "text"
        counts[kind] += 1
        if label != -100:
            counts[f"{kind}_labelled"] += 1
    return counts


def main():
    args = parse_args()
    processor = Qwen2VLProcessor.from_pretrained(MODEL_ID)
    tokenizer = processor.tokenizer
    rows = load_dataset(DATASET_ID, split=args.split).select(range(args.num_samples))
    records = [format_data(row) for row in rows]

    if args.collator == "all":
        collator = collate_fn_fixed_1(processor, model=None)
    else:
        collator = collate_fn_fixed_3(processor, model=None)
    batch = collator(records)

    print(f"Collator: {type(collator).__name__} | batch input_ids {tuple(batch['input_ids'].shape)}")
    print(f"{'sample':>6} {'text':>6} {'vision':>7} {'pad':>5} {'labelled':>9} {'labelled %':>11}")
    total = Counter()
    for i in range(batch["input_ids"].size(0)):
        c = token_table(tokenizer, batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i])
        labelled = c["text_labelled"] + c["vision_labelled"]
        real = c["text"] + c["vision"]
        print(f"{i:>6} {c['text']:>6} {c['vision']:>7} {c['padding']:>5} {labelled:>9} {labelled / max(real, 1):>10.1%}")
        total.update(c)
    if total["vision_labelled"]:
        print(f"WARNING: {total['vision_labelled']} vision tokens have labels - check the masking!")
    answer = batch["labels"][0][batch["labels"][0] != -100]
    print("Labelled text of sample 0 (tail):", repr(tokenizer.decode(answer)[-160:]))
    print("pixel_values:", tuple(batch["pixel_values"].shape), batch["pixel_values"].dtype, "| torch", torch.__version__)


if __name__ == "__main__":
    main()
