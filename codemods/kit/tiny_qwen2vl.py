"""A tiny, fully offline Qwen2-VL model and processor.

Everything here is built from scratch in memory: a byte-level BPE tokenizer
trained on a small fixed word list, Qwen2-VL's image and video processors with
a small pixel budget, and a Qwen2-VL model of a few hundred thousand
parameters.  Nothing is downloaded and nothing is written to disk unless
:func:`save_tiny_kit` is called with a directory.

The result behaves like the real ``Qwen/Qwen2-VL-7B-Instruct`` pair as far as
the training code of the target project is concerned: the same special tokens,
the same chat-template layout and the same processor outputs
(``input_ids``, ``attention_mask``, ``pixel_values``, ``image_grid_thw``, ...).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "SPECIAL_TOKENS",
    "VISION_TOKENS",
    "CHAT_TEMPLATE",
    "build_tiny_tokenizer",
    "build_tiny_processor",
    "build_tiny_config",
    "build_tiny_model",
    "build_tiny_kit",
    "save_tiny_kit",
    "load_tiny_kit",
    "count_parameters",
]

#: Qwen2-VL's special tokens, in the order they receive ids (0, 1, 2, ...).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Tokens that only ever stand for visual input.
VISION_TOKENS: tuple[str, ...] = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>")

#: A Qwen2-VL style chat template.  Content items are selected by their
#: ``type`` so that records coming out of ``datasets`` (where every content
#: dict carries every key, with ``None`` for the missing ones) render the same
#: way as plain Python lists.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or content['type'] == 'image_url' %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['text'] is defined and content['text'] is not none %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Words the tokenizer is trained on.  The list is fixed, so training is
# deterministic and every build yields the same ids.
_WORDS = """
system user assistant You are a helpful Vision Language Model specialized in
detecting nutrition tables images Your task is to identify the table and
provide its bounding box coordinates Detect bounding box of nutrition table
Nutrition Facts Information Energy energy kJ kcal Fat fat of which saturates
Saturated Trans Cholesterol Carbohydrate carbohydrates Sugars sugars Fibre
Fiber Protein protein Salt salt Sodium sodium Calcium Iron Vitamin per 100g
100ml serving size Serving portion Amount Daily Value Total Calories calories
label labels package food product ingredients allergens reference intake
object ref box start end quad vision image pad video detect detection
locate find draw rectangle region coordinates top left bottom right width
height x y x1 y1 x2 y2 predicted ground truth IoU score answer question
the a an in on at to for with from by and or not is are be this that it as
one two three four five six seven eight nine ten zero
0 1 2 3 4 5 6 7 8 9 10 12 25 50 64 100 128 250 500 750 999 1000
( ) [ ] { } , . : ; ! ? - _ / % + = * < > | ' " # @
(0,0),(1000,1000) (123,456),(789,912) (12,34),(560,780) <|box_start|> <|box_end|>
"""


# Qwen2's pre-tokenization pattern (contractions, letter runs, single digits,
# punctuation runs, newlines, other whitespace).
_QWEN2_SPLIT_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def _training_corpus() -> list[str]:
    words = _WORDS.split()
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    # Repeat the most common shapes a few times so they become single tokens.
    frequent = [
        "nutrition table",
        "Detect the bounding box of the nutrition table.",
        "You are a Vision Language Model specialized in detecting nutrition tables.",
        "(120,340),(560,780)",
        "system\nuser\nassistant\n",
        "You are a helpful assistant.",
    ]
    return lines + frequent * 8


def build_tiny_tokenizer(vocab_size: int = 400):
    """Train a small byte-level BPE and wrap it as a Qwen2 tokenizer.

    The special tokens take ids ``0..13`` in the order of :data:`SPECIAL_TOKENS`;
    the 256 byte symbols follow, then the learned merges.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    backend = Tokenizer(models.BPE())
    # The same pipeline ``Qwen2Tokenizer`` rebuilds when it is loaded back
    # with ``from_pretrained``: NFC, Qwen2's split regex (digits one by one),
    # then byte-level without its own regex.  Using it here as well keeps the
    # ids identical before and after a save/load round trip.
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_training_corpus(), trainer=trainer)

    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=backend,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<|endoftext|>", "<|im_end|>")],
        model_max_length=4096,
        padding_side="right",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_processor():
    """Return a ``Qwen2VLProcessor`` built entirely offline.

    The image processor keeps images between ``56*56`` and ``112*112`` pixels,
    so an image becomes at most 64 patches (16 ``<|image_pad|>`` tokens).
    """
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    tokenizer = build_tiny_tokenizer()
    image_processor = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112)
    video_processor = Qwen2VLVideoProcessor()
    return Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def _token_id(tokenizer, token: str) -> int:
    vocab = tokenizer.get_vocab()
    if token not in vocab:
        raise ValueError(f"token {token!r} is missing from the tiny vocabulary")
    return int(vocab[token])


def build_tiny_config(processor):
    """Return the ``Qwen2VLConfig`` used by :func:`build_tiny_model`."""
    from transformers import Qwen2VLConfig

    tokenizer = processor.tokenizer
    vocab_size = len(tokenizer)
    pad_id = _token_id(tokenizer, "<|endoftext|>")
    eos_id = _token_id(tokenizer, "<|im_end|>")
    bos_id = pad_id
    hidden = 64
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "tie_word_embeddings": False,
    }
    vision_config = {
        "depth": 1,
        "embed_dim": 32,
        "hidden_size": hidden,
        "num_heads": 2,
        "mlp_ratio": 2,
        "in_channels": 3,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    return Qwen2VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=_token_id(tokenizer, "<|image_pad|>"),
        video_token_id=_token_id(tokenizer, "<|video_pad|>"),
        vision_start_token_id=_token_id(tokenizer, "<|vision_start|>"),
        vision_end_token_id=_token_id(tokenizer, "<|vision_end|>"),
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=False,
    )


def build_tiny_model(processor, seed: int = 0, attn_implementation: str = "sdpa"):
    """Return a freshly initialised ``Qwen2VLForConditionalGeneration``.

    The weights depend only on ``seed``; the global torch RNG state is left as
    it was.
    """
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    config = build_tiny_config(processor)
    config._attn_implementation = attn_implementation
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config)
    model.eval()
    return model


def build_tiny_kit(seed: int = 0):
    """Return ``(processor, model)``."""
    processor = build_tiny_processor()
    return processor, build_tiny_model(processor, seed=seed)


def save_tiny_kit(directory, seed: int = 0) -> Path:
    """Save a tiny model and its processor with ``save_pretrained``.

    ``Qwen2VLForConditionalGeneration.from_pretrained(directory)`` and
    ``AutoProcessor.from_pretrained(directory)`` then work without network.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    processor, model = build_tiny_kit(seed=seed)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def load_tiny_kit(directory):
    """Load ``(processor, model)`` saved by :func:`save_tiny_kit`."""
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    processor = AutoProcessor.from_pretrained(directory, local_files_only=True)
    model = Qwen2VLForConditionalGeneration.from_pretrained(directory, local_files_only=True)
    return processor, model


def count_parameters(model, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
