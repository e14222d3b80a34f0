"""
Data collators for Qwen2-VL nutrition table detection.

A collator turns a list of formatted samples (``{"image": PIL.Image,
"messages": [...]}``, see ``src.data.dataset.format_data``) into a batch of
tensors for ``SFTTrainer``:

    1. put the PIL image back where the conversation holds IMAGE_PLACEHOLDER
    2. render each conversation with the processor's chat template
    3. extract the images with ``qwen_vl_utils.process_vision_info``
    4. run the processor (tokenize + expand <|image_pad|> + pixel values)
    5. build ``labels`` = ``input_ids`` with every ignored position set to -100

The collators differ only in step 5 (and, for one of them, in dtypes).

Collators in this module
------------------------
AllTokensCollator
    The collator used for the first training run ("v1", all tokens).
    Masks padding and the vision tokens (<|vision_start|>, <|vision_end|>,
    <|image_pad|>); the model learns every text token, including the system
    prompt and the user question.

FlashAttentionPatchCollator
    AllTokensCollator plus a Flash Attention 2 workaround: FA2 only runs
    in fp16/bf16, and the vision tower received float32 pixel values, so this
    collator casts ``pixel_values`` to bfloat16 and can optionally patch
    ``flash_attn`` to cast its inputs.  Not needed with SDPA attention.

collate_fn_fixed_2
    An earlier attempt written as a plain function
    (``collate_fn_fixed_2(batch, processor, model)``) that masked the prompt
    by its rendered length.  Kept for reference; it breaks when the image
    expansion changes the prompt length.

AssistantOnlyCollator
    Assistant-only masking (the second training run).  Only the tokens of the
    assistant answer (after ``<|im_start|>assistant\\n`` up to and including
    the closing ``<|im_end|>``) keep their labels; everything else is -100.
    Has a small debug mode printing the unmasked text of the first samples.

debug_collate_fn
    Prints what a collator produced for a batch (shapes, masked counts,
    decoded labels).

test_assistant_only_collator
    A quick sanity check for AssistantOnlyCollator on a few dataset samples.

Troubleshooting
---------------
"Image features and image tokens do not match"
    The number of <|image_pad|> tokens in ``input_ids`` must equal the number
    of merged patches.  This happens when the chat template is rendered with
    one image but ``process_vision_info`` returns a different number (for
    example when a content item holds ``"image": None``).  All collators
    here go through ``restore_images_in_conversations``, which drops such
    keys.

"FlashAttention only support fp16 and bf16 data type"
    Use FlashAttentionPatchCollator (bfloat16 pixel values) or switch the model
    to ``attn_implementation="sdpa"``.

Loss is much lower with AssistantOnlyCollator than with AllTokensCollator
    Expected: the v2 loss is averaged over the answer tokens only, which are
    hard to predict, while v1 also averages over the (trivially predictable)
    system prompt and question.  Compare eval IoU, not loss.

Usage:
    >>> from src.data.collators import AllTokensCollator, AssistantOnlyCollator
    >>> collate_fn = AllTokensCollator(processor, model)
    >>> collate_fn_v2 = AssistantOnlyCollator(processor, model)
    >>> batch = collate_fn([train_dataset[0], train_dataset[1]])
"""

import copy
from typing import Any, Dict, List, Optional

import torch
from qwen_vl_utils import process_vision_info

from src.data.dataset import IMAGE_PLACEHOLDER

IGNORE_INDEX = -100

# Special tokens of Qwen2-VL that only ever stand for visual input
VISION_START_TOKEN = "<|vision_start|>"
VISION_END_TOKEN = "<|vision_end|>"
IMAGE_PAD_TOKEN = "<|image_pad|>"

# Chat markers
IM_START_TOKEN = "<|im_start|>"
IM_END_TOKEN = "<|im_end|>"
ASSISTANT_HEADER = "<|im_start|>assistant\n"


# =============================================================================
# Shared helpers
# =============================================================================

def restore_images_in_conversations(messages: List[Dict[str, Any]], image) -> List[Dict[str, Any]]:
    """
    Return a deep copy of ``messages`` with the real image put back.

    Samples stored in a ``datasets.Dataset`` cannot hold a PIL image inside the
    nested ``messages`` column, so ``format_data`` writes IMAGE_PLACEHOLDER in
    the image content item and keeps the image in the top-level ``image``
    column.  Before rendering we swap the placeholder for the image again.

    ``datasets`` also normalizes every content dict to the union of all keys,
    so a text item comes back as ``{"type": "text", "text": "...", "image":
    None}``.  ``process_vision_info`` treats ANY item with an ``image`` key as
    an image, so keys whose value is None are dropped here.

    The input is never modified (the dataset may cache the objects).

    Args:
        messages: the conversation of one sample.
        image: the PIL image of that sample.

    Returns:
        A new list of messages, safe to hand to ``apply_chat_template`` and
        ``process_vision_info``.
    """
    restored = copy.deepcopy(messages)
    for message in restored:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        cleaned = []
        for item in content:
            if not isinstance(item, dict):
                cleaned.append(item)
                continue
            item = {key: value for key, value in item.items() if value is not None}
            if item.get("type") == "image" or item.get("image") == IMAGE_PLACEHOLDER:
                item["type"] = "image"
                item["image"] = image
            cleaned.append(item)
        message["content"] = cleaned
    return restored


def _vision_token_ids(tokenizer) -> List[int]:
    """Ids of <|vision_start|>, <|vision_end|> and <|image_pad|>."""
    return [
        tokenizer.convert_tokens_to_ids(VISION_START_TOKEN),
        tokenizer.convert_tokens_to_ids(VISION_END_TOKEN),
        tokenizer.convert_tokens_to_ids(IMAGE_PAD_TOKEN),
    ]


# =============================================================================
# AllTokensCollator - train on all non-vision tokens (v1)
# =============================================================================

class AllTokensCollator:
    """
    Collator for the first training run: learn every text token.

    Why "fixed_1"?  The first collator from the tutorial masked only the
    padding token and the image pad token.  The model then also had to predict
    <|vision_start|> / <|vision_end|>, which it cannot learn anything useful
    from, and the loss was dominated by the image placeholders of long
    sequences.  This version masks all vision tokens.

    Masked (label = -100):
        - the padding token (``tokenizer.pad_token_id``, <|endoftext|>)
        - <|vision_start|>
        - <|vision_end|>
        - <|image_pad|> (repeated once per merged image patch)

    Everything else keeps its label, so the loss covers:
        - the system prompt
        - the user question
        - the assistant answer (<|object_ref_start|>...<|box_end|>)
        - the chat markers (<|im_start|>, <|im_end|>, role names, newlines)

    Because the system prompt and the question are identical for every
    sample, most of the loss after a few steps comes from the assistant
    answer anyway; AssistantOnlyCollator removes the prompt from the loss
    completely.

    Args:
        processor: ``Qwen2VLProcessor`` (tokenizer + image processor).
        model: the model being trained; kept for symmetry with the other
            collators (device / dtype checks).

    Example:
        >>> collate_fn = AllTokensCollator(processor, model)
        >>> batch = collate_fn([train_dataset[0], train_dataset[1]])
        >>> batch["labels"].shape == batch["input_ids"].shape
        True
    """

    def __init__(self, processor, model):
        self.processor = processor
        self.model = model
        tokenizer = processor.tokenizer

        self.pad_token_id = tokenizer.pad_token_id
        self.vision_start_id, self.vision_end_id, self.image_pad_id = _vision_token_ids(tokenizer)

        # Token ids whose labels are set to -100 
        # (the tutorial's first collator only had pad + image pad)
        self.masked_token_ids = [
            self.pad_token_id,
            self.vision_start_id,
            self.vision_end_id,
            self.image_pad_id,
        ]  # same list as FlashAttentionPatchCollator

    def __call__(self, batch: List[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        """
        Collate a list of formatted samples.

        Args:
            batch: samples with ``image`` (PIL) and ``messages`` (conversation
                holding IMAGE_PLACEHOLDER).

        Returns:
            The processor output (``input_ids``, ``attention_mask``,
            ``pixel_values``, ``image_grid_thw``, ...) plus ``labels``.
        """
        # 1. Restore the images (deep copy - the dataset rows are not touched)
        conversations = [
            restore_images_in_conversations(example["messages"], example["image"])
            for example in batch
        ]

        # 2. Render the chat template (text only, no tokenization yet)
        texts = [
            self.processor.apply_chat_template(conversation, tokenize=False)
            for conversation in conversations
        ]

        # 3. Collect the PIL images in conversation order
        image_inputs = [process_vision_info(conversation)[0] for conversation in conversations]

        # 4. Tokenize + image features
        model_inputs = self.processor(
            text=texts,
            images=image_inputs,
            return_tensors="pt",
            padding=True,
        )

        # 5. Labels: copy of input_ids with pad + vision tokens masked
        labels = model_inputs["input_ids"].clone()
        for token_id in self.masked_token_ids:
            labels[labels == token_id] = IGNORE_INDEX
        model_inputs["labels"] = labels

        return model_inputs


def create_collator(processor, model) -> "AllTokensCollator":
    """Default collator of the project (all non-vision tokens)."""
    print("✅ AllTokensCollator created (pad + vision tokens masked)")
    return AllTokensCollator(processor, model)


# =============================================================================
# AssistantOnlyCollator - assistant-only masking (v2)
# =============================================================================

class AssistantOnlyCollator:
    """
    Collator for the assistant-only training run.

    Only the assistant answer contributes to the loss.  For every 
    ``<|im_start|>assistant\\n`` header in a sequence, the tokens after the
    header up to and including the next ``<|im_end|>`` keep their labels.
    Everything else - system prompt, user question, vision tokens, chat
    markers, the assistant header itself, padding - is set to -100.

    Including the closing ``<|im_end|>`` teaches the model to stop after the
    box; without it generation ran on and repeated the answer.

    Why not mask by prompt length (like collate_fn_fixed_2)?  The processor
    expands one <|image_pad|> into N tokens depending on the image size, so
    the rendered prompt length is not the tokenized prompt length.  Searching
    for the header token ids in the final ``input_ids`` is robust to that and
    to left/right padding.

    Debugging:
        Set ``debug = True`` to print, for the first ``max_debug`` samples,
        how many tokens stay unmasked and what they decode to.
        ``debug_count`` counts printed samples.

            >>> collate_fn_v2 = AssistantOnlyCollator(processor, model)
            >>> collate_fn_v2.debug = True
            >>> collate_fn_v2.max_debug = 5
            >>> batch = collate_fn_v2([train_dataset[0]])

    Args:
        processor: ``Qwen2VLProcessor``.
        model: the model being trained (unused, kept for a uniform signature).
        debug: print masking details for the first samples.
        max_debug: how many samples to print in debug mode.
    """

    def __init__(self, processor, model, debug=False, max_debug=3):
        self.processor = processor
        self.model = model
        self.debug = debug
        self.max_debug = max_debug
        self.debug_count = 0

        tokenizer = processor.tokenizer
        self.tokenizer = tokenizer
        self.pad_token_id = tokenizer.pad_token_id
        self.im_end_id = tokenizer.convert_tokens_to_ids(IM_END_TOKEN)
        # "<|im_start|>assistant\n" as token ids (3 tokens for Qwen2)
        self.assistant_header_ids = tokenizer.encode(ASSISTANT_HEADER, add_special_tokens=False)

        if self.debug:
            print(f"[AssistantOnlyCollator] assistant header ids: {self.assistant_header_ids}")
            print(f"[AssistantOnlyCollator] <|im_end|> id: {self.im_end_id}")

    def _find_assistant_spans(self, ids: List[int]) -> List[tuple]:
        """(start, end) index pairs, end exclusive, of every assistant answer."""
        header = self.assistant_header_ids
        header_len = len(header)
        spans = []
        i = 0
        while i <= len(ids) - header_len:
            if ids[i : i + header_len] == header:
                start = i + header_len
                end = start
                while end < len(ids) and ids[end] != self.im_end_id:
                    end += 1
                # include the closing <|im_end|> when it is there (not truncated)
                stop = end + 1 if end < len(ids) else end
                spans.append((start, stop))
                i = stop
            else:
                i += 1
        return spans

    def __call__(self, batch: List[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        """
        Collate a batch and keep labels only on the assistant answers.

        The processor call is the same as in AllTokensCollator; only the
        label construction differs:

            labels = [-100] * len(input_ids)
            for each assistant header found in input_ids:
                labels[answer_start : answer_end + 1] = input_ids[...]

        Returns:
            The processor output plus ``labels``.
        """
        conversations = [
            restore_images_in_conversations(example["messages"], example["image"])
            for example in batch
        ]
        texts = [
            self.processor.apply_chat_template(conversation, tokenize=False)
            for conversation in conversations
        ]
        image_inputs = [process_vision_info(conversation)[0] for conversation in conversations]

        model_inputs = self.processor(
            text=texts,
            images=image_inputs,
            return_tensors="pt",
            padding=True,
        )

        input_ids = model_inputs["input_ids"]
        labels = torch.full_like(input_ids, IGNORE_INDEX)

        for row in range(input_ids.shape[0]):
            ids = input_ids[row].tolist()
            spans = self._find_assistant_spans(ids)
            for start, stop in spans:
                labels[row, start:stop] = input_ids[row, start:stop]

            if not spans:
                print(f"[AssistantOnlyCollator] WARNING: no assistant answer found in sample {row} - fully masked")

            if self.debug and self.debug_count < self.max_debug:
                kept = labels[row][labels[row] != IGNORE_INDEX]
                print(f"[AssistantOnlyCollator] Sample {self.debug_count}: {kept.numel()}/{len(ids)} tokens unmasked")
                print(f"[AssistantOnlyCollator]   spans: {spans}")
                print(f"[AssistantOnlyCollator]   target: {self.tokenizer.decode(kept.tolist())!r}")
                self.debug_count += 1

        # Padding is never inside an answer, but be explicit about it
        if "attention_mask" in model_inputs:
            labels[model_inputs["attention_mask"] == 0] = IGNORE_INDEX

        model_inputs["labels"] = labels
        return model_inputs


def count_trainable_tokens(collator: AssistantOnlyCollator, batch: List[Dict[str, Any]]) -> int:
    """Number of label positions that are not -100 for ``batch``."""
    output = collator(batch)
    return int((output["labels"] != IGNORE_INDEX).sum().item())


# =============================================================================
# collate_fn_fixed_2 - prompt-length masking (superseded, kept for reference)
# =============================================================================

def collate_fn_fixed_2(batch, processor, model):
    """
    Function-style collator that masks the prompt by its length.

    For every sample it renders the prompt (system + user, with the generation
    prompt) and the full conversation, tokenizes both and masks the first
    ``len(prompt_ids)`` positions of the full sequence.

    Known problem: the prompt is tokenized WITHOUT the image, so its
    <|image_pad|> is one token while the processed sequence holds one per
    merged patch.  The masked prefix is therefore too short and part of the
    prompt leaks into the loss.  AssistantOnlyCollator replaced this function.

    Use it through a lambda/partial:

        >>> from functools import partial
        >>> collate_fn = partial(collate_fn_fixed_2, processor=processor, model=model)
    """
    print(f"[collate_fn_fixed_2] collating {len(batch)} samples")

    conversations = [
        restore_images_in_conversations(example["messages"], example["image"]) for example in batch
    ]
    texts = [processor.apply_chat_template(conversation, tokenize=False) for conversation in conversations]
    prompts = [
        processor.apply_chat_template(conversation[:-1], tokenize=False, add_generation_prompt=True)
        for conversation in conversations
    ]
    image_inputs = [process_vision_info(conversation)[0] for conversation in conversations]

    model_inputs = processor(text=texts, images=image_inputs, return_tensors="pt", padding=True)

    labels = model_inputs["input_ids"].clone()
    tokenizer = processor.tokenizer
    for row, prompt in enumerate(prompts):
        prompt_len = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        labels[row, :prompt_len] = IGNORE_INDEX
        print(f"[collate_fn_fixed_2] sample {row}: masked {prompt_len} prompt tokens")

    labels[labels == tokenizer.pad_token_id] = IGNORE_INDEX
    for token_id in _vision_token_ids(tokenizer):
        labels[labels == token_id] = IGNORE_INDEX

    model_inputs["labels"] = labels
    print(f"[collate_fn_fixed_2] done: input_ids {tuple(model_inputs['input_ids'].shape)}")
    return model_inputs


# Old usage in the notebook (before AssistantOnlyCollator):
# collate_fn = lambda batch: collate_fn_fixed_2(batch, processor, model)
# trainer = SFTTrainer(model=model, args=training_args, data_collator=collate_fn)
#
# and before that, the v1 run:
# collate_fn = AllTokensCollator(processor, model)
# analyze_token_distribution(collate_fn, train_dataset, num_samples=3)


# =============================================================================
# Debug helpers
# =============================================================================

def debug_collate_fn(batch, processor, model=None, collate_fn=None, max_samples=2, verbose=True):
    """
    Run a collator on ``batch`` and print what it produced.

    Prints the tensor shapes and dtypes, the number of masked / unmasked label
    positions per sample, and (with ``verbose``) the decoded unmasked labels so
    that one can see exactly which text the loss is computed on.

    Args:
        batch: list of formatted samples.
        processor: ``Qwen2VLProcessor``.
        model: model (only needed when ``collate_fn`` is None).
        collate_fn: collator to inspect; defaults to AllTokensCollator.
        max_samples: how many samples to decode.
        verbose: decode the unmasked labels.

    Returns:
        The collated batch.
    """
    if collate_fn is None:
        collate_fn = AllTokensCollator(processor, model)  # default: v1 collator

    name = getattr(collate_fn, "__name__", type(collate_fn).__name__)
    print("=" * 70)
    print(f"🔍 debug_collate_fn - collator: {name}")
    print("=" * 70)

    output = collate_fn(batch)

    for key, value in output.items():
        if torch.is_tensor(value):
            print(f"  {key:20s} shape={tuple(value.shape)} dtype={value.dtype}")

    labels = output["labels"]
    input_ids = output["input_ids"]
    tokenizer = processor.tokenizer
    for row in range(min(max_samples, labels.shape[0])):
        masked = int((labels[row] == IGNORE_INDEX).sum())
        total = labels.shape[1]
        print(f"  sample {row}: {total - masked} trainable / {masked} masked / {total} total")
        if verbose:
            kept = labels[row][labels[row] != IGNORE_INDEX].tolist()
            print(f"    labels -> {tokenizer.decode(kept)!r}")
            print(f"    input  -> {tokenizer.decode(input_ids[row].tolist())[:200]!r}...")

    print("=" * 70)
    return output


def compare_collators(batch, processor, model) -> Dict[str, int]:
    """
    Trainable token counts of the v1 and v2 collators on the same batch.

    Assistant-only masking should keep far fewer tokens than v1; the numbers
    were used in the notebook to explain the loss scale difference between
    the two runs.
    """
    v1 = AllTokensCollator(processor, model)
    v3 = AssistantOnlyCollator(processor, model)
    counts = {
        "AllTokensCollator": int((v1(batch)["labels"] != IGNORE_INDEX).sum()),
        "AssistantOnlyCollator": count_trainable_tokens(v3, batch),
    }
    for name, count in counts.items():
        print(f"  {name:22s}: {count} trainable tokens")
    return counts


def test_assistant_only_collator(processor, model, dataset, num_samples=2, debug=True):
    """
    Sanity check for AssistantOnlyCollator on the first ``num_samples`` samples.

    Checks:
        - labels and input_ids have the same shape
        - at least one token per sample stays unmasked
        - every unmasked label equals its input id
        - the unmasked text ends with <|im_end|> and contains <|box_start|>

    Returns the collated batch so the notebook can inspect it further.
    """
    print("🧪 Testing AssistantOnlyCollator ...")
    collator = AssistantOnlyCollator(processor, model, debug=debug, max_debug=num_samples)
    batch = [dataset[i] for i in range(min(num_samples, len(dataset)))]
    output = collator(batch)

    labels = output["labels"]
    input_ids = output["input_ids"]
    assert labels.shape == input_ids.shape, "labels/input_ids shape mismatch"

    tokenizer = processor.tokenizer
    for row in range(labels.shape[0]):
        keep = labels[row] != IGNORE_INDEX
        assert keep.any(), f"sample {row}: everything is masked"
        assert torch.equal(labels[row][keep], input_ids[row][keep]), f"sample {row}: labels differ from input_ids"
        target = tokenizer.decode(labels[row][keep].tolist())
        assert target.endswith(IM_END_TOKEN), f"sample {row}: answer does not end with {IM_END_TOKEN}"
        assert "<|box_start|>" in target, f"sample {row}: no box in the answer"

    print("✅ AssistantOnlyCollator passed all checks")
    return output


# =============================================================================
# Batch checks
# =============================================================================

def verify_batch(output: Dict[str, torch.Tensor], processor, require_padding: bool = False) -> List[str]:
    """
    Return a list of problems found in a collated batch (empty when fine).

    Checks that are independent of the masking strategy:
        - ``labels`` exists and has the shape of ``input_ids``
        - every label is -100 or equal to its input id
        - no vision token and no padding token keeps its label
        - the number of <|image_pad|> tokens matches ``image_grid_thw``
        - every sample keeps at least one label
    """
    problems = []
    if "labels" not in output:
        return ["no labels in the batch"]

    input_ids = output["input_ids"]
    labels = output["labels"]
    if labels.shape != input_ids.shape:
        return [f"labels shape {tuple(labels.shape)} != input_ids shape {tuple(input_ids.shape)}"]

    kept = labels != IGNORE_INDEX
    if not torch.equal(labels[kept], input_ids[kept]):
        problems.append("some labels differ from their input ids")

    tokenizer = processor.tokenizer
    never_trained = _vision_token_ids(tokenizer)
    for token_id in never_trained:
        if bool(((input_ids == token_id) & kept).any()):
            problems.append(f"token {tokenizer.convert_ids_to_tokens(token_id)} keeps its label")

    if "attention_mask" in output:
        padding = output["attention_mask"] == 0
        if bool((padding & kept).any()):
            problems.append("padding positions keep their labels")
        if require_padding and not bool(padding.any()):
            problems.append("the batch has no padding")

    if "image_grid_thw" in output:
        merge = getattr(processor.image_processor, "merge_size", 2)
        expected = int(output["image_grid_thw"].prod(dim=-1).sum()) // (merge * merge)
        image_pad_id = tokenizer.convert_tokens_to_ids(IMAGE_PAD_TOKEN)
        found = int((input_ids == image_pad_id).sum())
        if expected != found:
            problems.append(f"{found} <|image_pad|> tokens for {expected} merged patches")

    for row in range(labels.shape[0]):
        if not bool(kept[row].any()):
            problems.append(f"sample {row} has no trainable token")

    return problems


def print_collator_summary(collate_fn) -> None:
    """One-line description of a collator instance."""
    name = type(collate_fn).__name__
    masked = getattr(collate_fn, "masked_token_ids", None)
    if isinstance(collate_fn, AssistantOnlyCollator):
        print(f"📋 {name}: assistant-only labels (header ids {collate_fn.assistant_header_ids})")
    elif masked is not None:
        print(f"📋 {name}: all tokens except ids {masked}")
    else:
        print(f"📋 {name}: unknown masking")


# =============================================================================
# Notes
# =============================================================================

_MASKING_NOTES = """
Masking summary (what the loss is computed on)  

    collator                  system  user  vision  assistant  <|im_end|>
    AllTokensCollator          yes    yes    no       yes        yes
    FlashAttentionPatchCollator     yes    yes    no       yes        yes
    collate_fn_fixed_2          no*    no*    no       yes        yes
    AssistantOnlyCollator          no     no     no       yes        yes

    * collate_fn_fixed_2 under-masks the prompt when the image expands.

Loss values are therefore not comparable between the v1 run
(AllTokensCollator) and the v2 run (AssistantOnlyCollator): the v2 loss is
averaged over ~30 answer tokens only.
"""


def print_masking_notes() -> None:
    """Print the masking summary table."""
    print(_MASKING_NOTES)


# =============================================================================
# Registry
# =============================================================================

COLLATORS = {
    "v1": AllTokensCollator,  # all tokens 
    "v3": AssistantOnlyCollator,  # assistant only (AssistantOnlyCollator)
    # "v2": collate_fn_fixed_2,  # function, needs functools.partial
}


def get_collator(name: str, processor, model, **kwargs):
    """
    Build a collator by short name ("v1", "v1-flash", "v3").

    >>> collate_fn = get_collator("v3", processor, model, debug=True)
    >>> isinstance(collate_fn, AssistantOnlyCollator)
    True
    """
    try:
        collator_cls = COLLATORS[name]
    except KeyError:
        raise ValueError(f"Unknown collator {name!r}; choose from {sorted(COLLATORS)}") from None
    return collator_cls(processor, model, **kwargs)


# =============================================================================
# DRAFT / LEGACY COLLATORS
# =============================================================================
# The following collators are kept for reference but are NOT used in training.
# =============================================================================

# =============================================================================
# FlashAttentionPatchCollator - Flash Attention 2 dtype workaround
# =============================================================================

class FlashAttentionPatchCollator:
    """
    LEGACY: Flash Attention dtype workaround.

    This was a workaround for Flash Attention 2 requiring bfloat16 pixel values.
    Since training now uses sdpa (not flash_attention_2), this is NOT needed.

    Kept for reference in case flash_attention_2 is used for inference.

    AllTokensCollator + bfloat16 pixel values (Flash Attention 2 workaround).

    Background
    ----------
    With ``attn_implementation="flash_attention_2"`` the first training step
    crashed inside the vision tower with

        RuntimeError: FlashAttention only support fp16 and bf16 data type

    The processor returns ``pixel_values`` as float32.  The 4-bit model keeps
    its vision patch embedding in float32 too, so the query/key/value tensors
    reaching ``flash_attn_varlen_func`` were float32.  The fix that worked:

        - cast ``pixel_values`` to bfloat16 in the collator, and
        - (optionally) wrap ``flash_attn``'s entry points so that any float32
          q/k/v is cast to bfloat16 before the kernel call.

    Training later moved to SDPA attention, which accepts float32, so this
    collator is no longer used in the notebook.  ``scripts/train.py`` still
    uses it with ``use_flash_patch=True``.

    Masking is identical to AllTokensCollator: pad + vision tokens.

    Args:
        processor: ``Qwen2VLProcessor``.
        model: the model being trained.
        use_flash_patch: patch ``flash_attn`` on construction.  When the
            package is not installed the patch is skipped with a message.
        pixel_dtype: dtype for ``pixel_values`` (bfloat16 by default).
    """

    def __init__(self, processor, model, use_flash_patch=False, pixel_dtype=torch.bfloat16):
        self.processor = processor
        self.model = model
        self.pixel_dtype = pixel_dtype
        self.call_count = 0
        self.flash_patched = False

        tokenizer = processor.tokenizer
        self.pad_token_id = tokenizer.pad_token_id
        self.vision_start_id, self.vision_end_id, self.image_pad_id = _vision_token_ids(tokenizer)
        self.masked_token_ids = [
            self.pad_token_id,
            self.vision_start_id,
            self.vision_end_id,
            self.image_pad_id,
        ]

        if use_flash_patch:
            self.flash_patched = self._patch_flash_attention()

    def _patch_flash_attention(self) -> bool:
        """
        Wrap ``flash_attn.flash_attn_varlen_func`` / ``flash_attn_func`` so that
        float32 inputs are cast to bfloat16 (and the output cast back).

        Returns True when the patch was applied, False when ``flash_attn`` is
        not available (e.g. CPU machines, SDPA training).
        """
        try:
            import flash_attn
        except ImportError:
            print("⚠️ flash_attn is not installed - FlashAttentionPatchCollator skips the Flash Attention patch")
            return False

        if getattr(flash_attn, "_flash_attention_patch_collator_patched", False):
            return True

        def _to_half(tensor):
            # Only floating point float32 tensors are cast; ints (cu_seqlens) stay as they are
            if torch.is_tensor(tensor) and tensor.dtype == torch.float32:
                return tensor.to(torch.bfloat16)
            return tensor

        def _wrap(original):
            def patched(q, k, v, *args, **kwargs):
                input_dtype = q.dtype
                out = original(_to_half(q), _to_half(k), _to_half(v), *args, **kwargs)
                if torch.is_tensor(out) and out.dtype != input_dtype:
                    out = out.to(input_dtype)
                return out

            patched.__wrapped__ = original
            return patched

        @staticmethod
        def describe_patch():
            return "flash_attn inputs cast float32 -> bfloat16 by FlashAttentionPatchCollator"

        for name in ("flash_attn_varlen_func", "flash_attn_func"):
            original = getattr(flash_attn, name, None)
            if original is not None:
                setattr(flash_attn, name, _wrap(original))

        flash_attn._flash_attention_patch_collator_patched = True
        flash_attn._flash_attention_patch_collator_description = describe_patch
        print("✅ Flash Attention patched (float32 -> bfloat16)")
        return True

    def __call__(self, batch: List[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        """
        Same as AllTokensCollator.__call__, then cast ``pixel_values`` to
        ``self.pixel_dtype``.  Prints the shapes of the first batch.
        """
        self.call_count += 1

        conversations = [
            restore_images_in_conversations(example["messages"], example["image"])
            for example in batch
        ]
        texts = [
            self.processor.apply_chat_template(conversation, tokenize=False)
            for conversation in conversations
        ]
        image_inputs = [process_vision_info(conversation)[0] for conversation in conversations]

        model_inputs = self.processor(
            text=texts,
            images=image_inputs,
            return_tensors="pt",
            padding=True,
        )

        # The actual fix: Flash Attention 2 needs half precision inputs
        if "pixel_values" in model_inputs:
            model_inputs["pixel_values"] = model_inputs["pixel_values"].to(self.pixel_dtype)
        if "pixel_values_videos" in model_inputs:
            model_inputs["pixel_values_videos"] = model_inputs["pixel_values_videos"].to(self.pixel_dtype)

        labels = model_inputs["input_ids"].clone()
        for token_id in self.masked_token_ids:
            labels[labels == token_id] = IGNORE_INDEX
        model_inputs["labels"] = labels

        if self.call_count == 1:
            print(
                f"[FlashAttentionPatchCollator] first batch: input_ids {tuple(model_inputs['input_ids'].shape)}, "
                f"pixel_values dtype {model_inputs['pixel_values'].dtype}"
            )

        return model_inputs


# Registered here, not in COLLATORS above: this class is defined last.
COLLATORS["v1-flash"] = FlashAttentionPatchCollator  # all tokens, bf16 pixels
