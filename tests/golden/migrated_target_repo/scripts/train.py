#!/usr/bin/env python
"""
Command-line training for Qwen2-VL nutrition table detection.

Runs the same QLoRA fine-tuning as the notebook without Jupyter:

    python scripts/train.py --output-dir ./vlm_outputs/cli-run --epochs 1

Steps:
    1. load and format the nutrition table dataset
    2. load Qwen2-VL-7B-Instruct in 4-bit and its processor
    3. build the SFT configuration and the collator
    4. train with TRL's SFTTrainer (LoRA adapters)
    5. save the adapter and the processor
"""

import argparse
import os
import sys
from pathlib import Path
import dataclasses

# Make "src" importable when the script is run from anywhere
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
from trl import SFTTrainer  # noqa: E402

from src.data.collators import FlashAttentionPatchCollator  # noqa: E402
from src.data.dataset import load_nutrition_dataset  # noqa: E402
from src.models.loader import create_lora_config, load_model_and_processor  # noqa: E402
from src.training.config import create_training_config, print_training_config  # noqa: E402

DEFAULT_MODEL_ID = "Qwen/Qwen2-VL-7B-Instruct"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fine-tune Qwen2-VL for nutrition table detection (QLoRA + TRL).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )

    # Model
    parser.add_argument("--model-id", default=DEFAULT_MODEL_ID, help="Hub id or local path of the base model")
    parser.add_argument("--no-4bit", action="store_true", help="load the model in bf16 instead of 4-bit")
    parser.add_argument(
        "--attn-implementation",
        default="sdpa",
        choices=["sdpa", "eager", "flash_attention_2"],
        help="attention implementation",
    )
    parser.add_argument("--max-pixels", type=int, default=None, help="image processor max_pixels")

    # Data
    parser.add_argument("--dataset-id", default="openfoodfacts/nutrition-table-detection")
    parser.add_argument("--num-train-samples", type=int, default=None)
    parser.add_argument("--num-eval-samples", type=int, default=None)

    # Output / logging
    parser.add_argument("--output-dir", default="./vlm_outputs/qwen2vl-nutrition-detection-v1-all-tokens")
    parser.add_argument("--logging-dir", default="./vlm_outputs/logs-v1-all-tokens")
    parser.add_argument("--run-name", default="qwen2vl-nutrition-detection")
    parser.add_argument("--wandb-project", default="qwen2vl-nutrition-detection")
    parser.add_argument("--no-wandb", action="store_true", help="disable Weights & Biases logging")

    # Hyperparameters
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=42)

    # LoRA
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--lora-alpha", type=int, default=16)
    parser.add_argument("--lora-dropout", type=float, default=0.05)

    # Misc
    parser.add_argument("--preview-batch", action="store_true", help="collate and describe one batch before training")
    parser.add_argument("--resume-from-checkpoint", default=None, help="checkpoint directory to resume from")

    return parser.parse_args(argv)


def preview_first_batch(collate_fn, dataset, processor, num_samples: int = 2) -> None:
    """Collate the first samples and show what the loss will be computed on."""
    batch = [dataset[i] for i in range(min(num_samples, len(dataset)))]
    output = collate_fn(batch)
    print("\n🔍 First batch:")
    for key, value in output.items():
        if torch.is_tensor(value):
            print(f"  {key:20s} {tuple(value.shape)} {value.dtype}")
    labels = output["labels"]
    for row in range(labels.shape[0]):
        kept = labels[row][labels[row] != -100].tolist()
        print(f"  sample {row}: {len(kept)} trainable tokens")
        print(f"    {processor.tokenizer.decode(kept)[:160]!r}")


def save_run_info(args: argparse.Namespace, output_dir: str) -> Path:
    """Write the command-line arguments next to the adapter."""
    import json

    path = Path(output_dir) / "run_args.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(vars(args), indent=2, sort_keys=True))
    return path


def setup_wandb(args: argparse.Namespace) -> str:
    """Configure W&B through environment variables; returns the report_to value."""
    if args.no_wandb:
        os.environ["WANDB_DISABLED"] = "true"
        return "none"
    os.environ.setdefault("WANDB_PROJECT", args.wandb_project)
    os.environ.setdefault("WANDB_LOG_MODEL", "false")
    return "wandb"


def print_gpu_info() -> None:
    if not torch.cuda.is_available():
        print("⚠️ No CUDA device found - training a 7B model on CPU is not practical")
        return
    for idx in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(idx)
        print(f"🖥️ GPU {idx}: {props.name} ({props.total_memory / 1024**3:.1f} GB)")


def main(argv=None) -> None:
    args = parse_args(argv)
    print("=" * 70)
    print("Qwen2-VL nutrition table detection - training")
    print("=" * 70)
    print_gpu_info()

    report_to = setup_wandb(args)

    # ------------------------------------------------------------------
    # 1. Data
    # ------------------------------------------------------------------
    print("\n📦 Loading dataset ...")
    train_dataset, eval_dataset = load_nutrition_dataset(
        dataset_id=args.dataset_id,
        num_train_samples=args.num_train_samples,
        num_eval_samples=args.num_eval_samples,
    )

    # ------------------------------------------------------------------
    # 2. Model and processor
    # ------------------------------------------------------------------
    print("\n🤖 Loading model and processor ...")
    model, processor = load_model_and_processor(
        model_id=args.model_id,
        use_4bit=not args.no_4bit,
        attn_implementation=args.attn_implementation,
        max_pixels=args.max_pixels,
    )

    lora_config = create_lora_config(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
    )

    # ------------------------------------------------------------------
    # 3. Training configuration and collator
    # ------------------------------------------------------------------
    training_args = dataclasses.replace(
        create_training_config(
            variant="v1-all-tokens",
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            gradient_accumulation_steps=args.grad_accum,
            learning_rate=args.learning_rate,
            warmup_steps=args.warmup_steps,
            max_length=args.max_length,
            seed=args.seed,
        ),
        output_dir=args.output_dir,
        logging_dir=args.logging_dir,
        run_name=args.run_name,
        report_to=report_to,
    )
    print_training_config(training_args)

    # bf16 pixel values + Flash Attention patch (no-op without flash_attn)
    collate_fn = FlashAttentionPatchCollator(processor, model, use_flash_patch=True)
    if args.preview_batch:
        preview_first_batch(collate_fn, train_dataset, processor)

    # ------------------------------------------------------------------
    # 4. Train
    # ------------------------------------------------------------------
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collate_fn,
        processing_class=processor,
        peft_config=lora_config,
    )
    trainer.model.print_trainable_parameters()

    print("\n🚀 Starting training ...")
    train_result = trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    print(f"✅ Training finished: {train_result.metrics}")

    # ------------------------------------------------------------------
    # 5. Save
    # ------------------------------------------------------------------
    trainer.save_model(training_args.output_dir)
    processor.save_pretrained(training_args.output_dir)
    save_run_info(args, training_args.output_dir)
    print(f"💾 Adapter and processor saved to {training_args.output_dir}")

    metrics = trainer.evaluate()
    print(f"📈 Final eval loss: {metrics.get('eval_loss')}")

    if report_to == "wandb":
        try:
            import wandb

            if wandb.run is not None:
                wandb.finish()
        except ImportError:
            pass


if __name__ == "__main__":
    main()
