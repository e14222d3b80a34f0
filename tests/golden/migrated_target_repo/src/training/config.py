"""
Training configuration for Qwen2-VL nutrition table detection.

Two ``SFTConfig`` factories mirror the two training runs of the notebook:

- ``create_training_config``: the first run (v1) - all non-vision tokens are
  trained (use with ``AllTokensCollator``).
- ``create_training_config``: the second run (v2) - only the
  assistant answers are trained (use with ``AssistantOnlyCollator``).

Both keep ``remove_unused_columns=False`` (the collator needs the ``image`` and
``messages`` columns) and let the collator do all tokenization.

Usage:
    from src.training.config import create_training_config, print_training_config

    training_args = create_training_config(variant="v1-all-tokens",
        output_dir="./vlm_outputs/my-experiment",
        num_train_epochs=1,
        report_to="none",
    )
    print_training_config(training_args)

    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collate_fn,
        processing_class=processor,
        peft_config=lora_config,
    )
"""

from trl import SFTConfig
import dataclasses
import inspect
import warnings

DEFAULT_OUTPUT_DIR = "./vlm_outputs/qwen2vl-nutrition-detection-v1-all-tokens"
DEFAULT_LOGGING_DIR = "./vlm_outputs/logs-v1-all-tokens"
DEFAULT_RUN_NAME = "qwen2vl-nutrition-detection"


def create_training_config(
    # === VARIANT NAME (used for output dir and W&B run name) ===
    variant: str,  # e.g., "v1-all-tokens", "v2-assistant-only", "v3-encoder-only"

    # === HYPERPARAMETERS (with sensible defaults) ===
    num_train_epochs: int = 3,
    per_device_train_batch_size: int = 1,
    per_device_eval_batch_size: int = 1,
    gradient_accumulation_steps: int = 8,
    learning_rate: float = 2e-5,
    warmup_steps: int = 100,

    # === EVAL/SAVE FREQUENCY ===
    eval_steps: int = 50,
    save_steps: int = 300,

    # === SEQUENCE SETTINGS ===
    max_length: int = 2048,

    # === ADVANCED (rarely changed) ===
    lr_scheduler_type: str = "cosine",
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    seed: int = 42,
) -> SFTConfig:
    """
    Create SFT training configuration for any training variant.

    Args:
        variant: Name like "v1-all-tokens", "v2-assistant-only", etc.
                 Used for output_dir suffix and W&B run_name.

    Supports: v1 (all tokens), v2 (assistant-only), v3 (encoder-only), v4 (LLM-only)
    """
    base_output_dir = "./vlm_outputs/qwen2vl-nutrition-detection"
    base_logging_dir = "./vlm_outputs/logs"

    return SFTConfig(
        # Output and logging - use variant name for paths
        output_dir=f"{base_output_dir}-{variant}",
        logging_dir=f"{base_logging_dir}-{variant}",
        logging_steps=10,

        # Training hyperparameters
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=per_device_train_batch_size,
        per_device_eval_batch_size=per_device_eval_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        gradient_checkpointing=False,  # DISABLED - causes issues with QLoRA

        # Learning rate and optimization
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        lr_scheduler_type=lr_scheduler_type,
        optim="adamw_torch",
        adam_beta2=0.999,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,

        # Mixed precision and performance
        bf16=True,
        tf32=True,
        dataloader_num_workers=0,

        # Evaluation and saving
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=3,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,

        # Other settings
        remove_unused_columns=False,
        push_to_hub=False,
        report_to="wandb",
        run_name=f"qwen2vl-{variant}",
        seed=seed,

        # TRL specific - CONSISTENT for all variants
        dataset_text_field="",
        max_length=max_length,
        dataset_kwargs={"skip_prepare_dataset": True},
    )


def print_training_config(config: SFTConfig) -> None:
    """Print the settings that differ between runs."""
    print("=" * 60)
    print("Training configuration")
    print("=" * 60)
    print(f"  Run name:          {config.run_name}")
    print(f"  Output dir:        {config.output_dir}")
    print(f"  Epochs:            {config.num_train_epochs}")
    print(f"  Batch size:        {config.per_device_train_batch_size}")
    print(f"  Grad accumulation: {config.gradient_accumulation_steps}")
    effective = config.per_device_train_batch_size * config.gradient_accumulation_steps
    print(f"  Effective batch:   {effective}")
    print(f"  Learning rate:     {config.learning_rate}")
    print(f"  Scheduler:         {config.lr_scheduler_type} (warmup {config.warmup_steps})")
    print(f"  Eval / save steps: {config.eval_steps} / {config.save_steps}")
    print(f"  bf16:              {config.bf16}")
    print(f"  Report to:         {config.report_to}")
    print("=" * 60)


# =============================================================================
# DEPRECATED ALIASES
# =============================================================================
# Old names kept importable for backwards compatibility; each one warns.
# =============================================================================

def _config_from_deprecated_call(old_name: str, variant: str, kwargs: dict) -> SFTConfig:
    """Build what a deprecated factory built, through create_training_config().

    Keywords that create_training_config() takes are forwarded to it; any other keyword
    (output_dir, run_name, label_names, ...) is set on the config it returns.
    """
    # stacklevel=3 skips this function and the alias, so the warning points at the caller.
    warnings.warn(
        f"{old_name}() is deprecated; use create_training_config(variant={variant!r}, ...) instead",
        DeprecationWarning,
        stacklevel=3,
    )
    accepted = set(inspect.signature(create_training_config).parameters) - {"variant"}
    forwarded = {key: value for key, value in kwargs.items() if key in accepted}
    extra = {key: value for key, value in kwargs.items() if key not in accepted}
    config = create_training_config(variant=variant, **forwarded)
    settable = {field.name for field in dataclasses.fields(config) if field.init}
    rejected = sorted(set(extra) - settable)
    if rejected:
        raise TypeError(
            f"{old_name}() got {', '.join(rejected)}, which SFTConfig does not accept; "
            f"call create_training_config(variant={variant!r}, ...) and set the remaining fields another way"
        )
    return dataclasses.replace(config, **extra) if extra else config


def create_sft_config(**kwargs) -> SFTConfig:
    """Deprecated: use ``create_training_config(variant="v1-all-tokens", ...)`` instead."""
    return _config_from_deprecated_call(
        "create_sft_config",
        "v1-all-tokens",
        kwargs,
    )


def create_assistant_only_training_config(**kwargs) -> SFTConfig:
    """Deprecated: use ``create_training_config(variant="v2-assistant-only", ...)`` instead."""
    return _config_from_deprecated_call(
        "create_assistant_only_training_config",
        "v2-assistant-only",
        {"eval_steps": 100, "save_steps": 100, **kwargs},
    )
