"""
Training configuration for Qwen2-VL nutrition table detection.

Two ``SFTConfig`` factories mirror the two training runs of the notebook:

- ``create_sft_config``: the first run (v1) - all non-vision tokens are
  trained (use with ``collate_fn_fixed_1``).
- ``create_assistant_only_training_config``: the second run (v3) - only the
  assistant answers are trained (use with ``collate_fn_fixed_3``).

Both keep ``remove_unused_columns=False`` (the collator needs the ``image`` and
``messages`` columns) and let the collator do all tokenization.

Usage:
    from src.training.config import create_sft_config, print_training_config

    training_args = create_sft_config(
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

DEFAULT_OUTPUT_DIR = "./vlm_outputs/qwen2vl-nutrition-detection-lora"
DEFAULT_LOGGING_DIR = "./vlm_outputs/logs"
DEFAULT_RUN_NAME = "qwen2vl-nutrition-detection"


def create_sft_config(
    output_dir: str = DEFAULT_OUTPUT_DIR,
    logging_dir: str = DEFAULT_LOGGING_DIR,
    logging_steps: int = 10,
    num_train_epochs: int = 3,
    per_device_train_batch_size: int = 1,
    per_device_eval_batch_size: int = 1,
    gradient_accumulation_steps: int = 8,
    gradient_checkpointing: bool = False,
    learning_rate: float = 2e-5,
    warmup_steps: int = 100,
    lr_scheduler_type: str = "cosine",
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    bf16: bool = True,
    tf32: bool = True,
    eval_steps: int = 50,
    save_steps: int = 300,
    save_total_limit: int = 3,
    max_length: int = 2048,
    report_to: str = "wandb",
    run_name: str = DEFAULT_RUN_NAME,
    seed: int = 42,
) -> SFTConfig:
    """
    Create the SFT training configuration of the first run (all tokens).

    The defaults are the values used in the notebook for Qwen2-VL-7B with
    QLoRA on a single 24 GB GPU: effective batch size 8 (1 x 8 accumulation),
    cosine schedule with 100 warmup steps, evaluation every 50 steps and a
    checkpoint every 300 steps (the best one by eval loss is reloaded at the
    end).

    Args:
        output_dir: where checkpoints and the final adapter go.
        logging_dir: TensorBoard log directory.
        logging_steps: log the training loss every N optimizer steps.
        num_train_epochs: number of epochs.
        per_device_train_batch_size: micro batch size for training.
        per_device_eval_batch_size: micro batch size for evaluation.
        gradient_accumulation_steps: micro batches per optimizer step.
        gradient_checkpointing: keep False - it broke QLoRA training.
        learning_rate: peak learning rate.
        warmup_steps: linear warmup steps.
        lr_scheduler_type: scheduler name.
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient clipping.
        bf16: bfloat16 mixed precision.
        tf32: allow TF32 matmuls (Ampere+ GPUs).
        eval_steps: evaluate every N steps.
        save_steps: checkpoint every N steps (multiple of ``eval_steps``).
        save_total_limit: checkpoints to keep.
        max_length: maximum sequence length.
        report_to: "wandb", "tensorboard" or "none".
        run_name: W&B run name.
        seed: random seed.

    Returns:
        A ``trl.SFTConfig``.

    Example:
        >>> from src.training.config import create_sft_config
        >>> training_args = create_sft_config(
        ...     output_dir="./vlm_outputs/test-run",
        ...     num_train_epochs=1,
        ...     report_to="none",
        ... )
        >>> training_args.eval_steps
        50
    """
    return SFTConfig(
        # Output and logging
        output_dir=output_dir,
        logging_dir=logging_dir,
        logging_steps=logging_steps,

        # Training hyperparameters
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=per_device_train_batch_size,
        per_device_eval_batch_size=per_device_eval_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        gradient_checkpointing=gradient_checkpointing,  # False - causes issues with QLoRA

        # Learning rate and optimization
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        lr_scheduler_type=lr_scheduler_type,
        optim="adamw_torch",
        adam_beta2=0.999,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,

        # Mixed precision and performance
        bf16=bf16,
        tf32=tf32,
        dataloader_num_workers=0,

        # Evaluation and saving
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,

        # Other settings
        remove_unused_columns=False,  # the collator needs "image" and "messages"
        push_to_hub=False,
        report_to=report_to,
        run_name=run_name,
        seed=seed,

        # TRL specific
        dataset_text_field="",  # not used - the collator renders the chat template
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


def create_assistant_only_training_config(
    output_dir: str = "./vlm_outputs/qwen2vl-nutrition-detection-lora-assistantonly",
    logging_dir: str = "./vlm_outputs/logs-assistantonly",
    num_train_epochs: int = 3,
    learning_rate: float = 2e-5,
    eval_steps: int = 100,
    save_steps: int = 100,
    report_to: str = "wandb",
    run_name: str = "qwen2vl-7b-assistant-only",
    bf16: bool = True,
    tf32: bool = True,
) -> SFTConfig:
    """
    Create the SFT configuration of the assistant-only run (v3).

    Same optimizer settings as ``create_sft_config``; evaluation and saving
    happen every 100 steps.  ``label_names=["labels"]`` makes the Trainer
    report eval loss for the PEFT-wrapped model, and packing stays off
    because every sample carries its own image.

    Use it together with ``collate_fn_fixed_3``:

        >>> from src.data.collators import collate_fn_fixed_3
        >>> training_args_v3 = create_assistant_only_training_config()
        >>> collate_fn_v3 = collate_fn_fixed_3(processor, model)
        >>> trainer_v3 = SFTTrainer(
        ...     model=model,
        ...     args=training_args_v3,
        ...     train_dataset=train_dataset,
        ...     eval_dataset=eval_dataset,
        ...     data_collator=collate_fn_v3,
        ...     processing_class=processor,
        ...     peft_config=lora_config,
        ... )

    Returns:
        A ``trl.SFTConfig``.
    """
    return SFTConfig(
        # Output and logging
        output_dir=output_dir,
        logging_dir=logging_dir,
        logging_steps=10,

        # Training hyperparameters
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=1,
        per_device_eval_batch_size=1,
        gradient_accumulation_steps=8,
        gradient_checkpointing=False,

        # Learning rate and optimization
        learning_rate=learning_rate,
        warmup_steps=100,
        lr_scheduler_type="cosine",
        optim="adamw_torch",
        adam_beta2=0.999,
        weight_decay=0.01,
        max_grad_norm=1.0,

        # Mixed precision and performance
        bf16=bf16,
        tf32=tf32,
        dataloader_num_workers=0,

        # Evaluation and saving
        eval_strategy="steps",
        eval_steps=eval_steps,  # less frequent than v1
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=3,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,

        # Data handling
        remove_unused_columns=False,
        label_names=["labels"],

        # Logging
        report_to=report_to,
        run_name=run_name,

        # TRL specific
        dataset_text_field=None,
        packing=False,
    )

