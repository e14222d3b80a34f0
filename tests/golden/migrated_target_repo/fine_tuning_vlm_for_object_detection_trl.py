# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: A100
#     machine_shape: hm
#     provenance: []
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.4
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] id="vKadZFQ2IdJb"
# # Fine-Tuning a Vision Language Model (Qwen2-VL-7B) for Object Detection with Hugging Face TRL
#
# In this notebook we fine-tune **Qwen2-VL-7B-Instruct** to find the nutrition table on photos of food packaging. The model already “knows” how to output bounding boxes with its special grounding tokens (`<|box_start|>` … `<|box_end|>`), but out of the box it is not very precise on this domain: boxes are often too large, sometimes they cover the ingredients list instead of the nutrition facts, and sometimes the model just describes the picture instead of answering with a box. The idea is simple: show it ~1k labelled examples with QLoRA and see how far the IoU goes up.
#
# The notebook grew organically while debugging (Colab first, then a rented H100), so there are a few detours kept on purpose: the label-masking collators, a token-distribution analysis, and a **second training run** where only the assistant answer is trained. Everything that did not work out was moved to `src/` or deleted (see the “DELETED FOR CLEANNESS” banner further down).
#
# 🧪 **Status:** run 1 (all tokens) and run 2 (assistant-only) both finished. Results are at the bottom.

# %% [markdown] id="3cVqZq5nNQ1k"
# ## What we will do
#
# 1. Install the libraries (transformers + TRL from `main`, because Qwen2-VL support in the trainer moved fast)  
# 2. Load the `openfoodfacts/nutrition-table-detection` dataset and convert the boxes to Qwen2-VL’s 0–1000 coordinate system  
# 3. Format every sample as a chat (system / user with image / assistant with the box)  
# 4. Load Qwen2-VL-7B in 4-bit, check what it predicts **before** fine-tuning  
# 5. Set up QLoRA + `SFTConfig`, write a custom data collator that masks the right tokens  
# 6. Train, evaluate with IoU, then train again with assistant-only labels and compare  
#
# ⚠️ You need a GPU with at least 40 GB for the 4-bit 7B model with our image sizes. A T4 will not work.

# %% id="zm_xJtRCm_Hl"
# Colab / fresh machine only - the rented box already has everything installed
# !pip install -U -q git+https://github.com/huggingface/transformers.git git+https://github.com/huggingface/trl.git
# !pip install -U -q peft bitsandbytes accelerate datasets qwen-vl-utils wandb jupytext
# !pip install -q flash-attn --no-build-isolation

print("📦 Install cell skipped (packages already present)")

# %% id="gK3pQ9vYd2Lw"
# !nvidia-smi

# %% [markdown]
# Show the output of **every** expression in a cell, not only the last one. Handy while poking at batches and configs; the downside is that bare assignments to `_` are the only way to silence a value.

# %% id="Hb7uT0sXnR4e"
from IPython.core.interactiveshell import InteractiveShell
InteractiveShell.ast_node_interactivity = "all"

# %% [markdown] id="Q8mFz2kLw0aT"
# ## Imports and environment
#
# Nothing special here. `transformers` and `trl` must be recent enough to have `Qwen2VLForConditionalGeneration`, `Qwen2VLProcessor` and the `processing_class=` argument in `SFTTrainer`. If `SFTTrainer` complains about `tokenizer=`, you are on an old TRL.

# %% id="x1YbRk7cT5Jm"
import os
import sys
import gc
import re
import json
import math
import time
import random
import warnings
from pathlib import Path

import numpy as np
import torch
import matplotlib.pyplot as plt
import matplotlib.patches as patches
from PIL import Image, ImageDraw
from IPython.display import display, Markdown

from datasets import load_dataset, Dataset
from transformers import (
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
    BitsAndBytesConfig,
    set_seed,
)
from qwen_vl_utils import process_vision_info

# %matplotlib inline
warnings.filterwarnings("ignore", category=UserWarning)

import transformers, trl, peft
print(f"torch        : {torch.__version__}")
print(f"transformers : {transformers.__version__}")
print(f"trl          : {trl.__version__}")
print(f"peft         : {peft.__version__}")

# %% [markdown] id="Tq6Mb0Xs3FaC"
# ### GPU check
#
# The 4-bit 7B model needs ~6 GB, but activations for a ~1,500-token multimodal sequence without gradient checkpointing add up quickly. On a 40 GB A100 it fits with batch size 1; on anything smaller, stop here.

# %% id="pR6wLd0Mz3Xe"
# Fail early if there is no GPU - loading the 7B model on CPU just hangs forever
if torch.cuda.is_available():
    device = torch.device("cuda")
    gpu_name = torch.cuda.get_device_name(0)
    gpu_mem_gb = torch.cuda.get_device_properties(0).total_memory / 1024**3
    print(f"✅ GPU detected: {gpu_name} ({gpu_mem_gb:.1f} GB)")
    if gpu_mem_gb < 40:
        print("⚠️ Less than 40 GB of GPU memory - you will probably need to reduce max_length or image resolution")
    print(f"   bf16 supported: {torch.cuda.is_bf16_supported()}")
else:
    print("❌ No CUDA device found. This notebook needs a GPU (A100/H100 recommended).")
    print("   On Colab: Runtime -> Change runtime type -> GPU")
    sys.exit(1)

# %% [markdown] id="Jw1Ed5Rk8LoP"
# ### Reproducibility and paths
#
# Everything is written under `./vlm_outputs/` (checkpoints, logs, W&B files). On the rented box this is a symlink to the big SSD; on Colab it is just a folder next to the notebook.

# %% id="c0TfY7nWq8Ls"
SEED = 42 
set_seed(SEED)
random.seed(SEED)
np.random.seed(SEED)

# Where all checkpoints / logs go (relative to the repo so it works on Colab and on the rented box)
OUTPUT_ROOT = Path("./vlm_outputs")
OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)

os.environ["WANDB_PROJECT"] = "qwen2vl-nutrition-detection"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
print(f"Outputs will be written to {OUTPUT_ROOT.resolve()}")

# %% id="Ic4Nt8Rm1ZuE"
def print_gpu_memory(tag=""):
    """Print allocated / reserved / peak GPU memory in GB (no-op without CUDA)."""
    if not torch.cuda.is_available():
        print(f"[{tag}] no CUDA device")
        return None
    allocated = torch.cuda.memory_allocated() / 1024**3
    reserved = torch.cuda.memory_reserved() / 1024**3
    peak = torch.cuda.max_memory_allocated() / 1024**3
    print(f"[{tag}] GPU memory: allocated {allocated:.2f} GB | reserved {reserved:.2f} GB | peak {peak:.2f} GB")
    return {"allocated": allocated, "reserved": reserved, "peak": peak}


print_gpu_memory("start")

# %% [markdown] id="aD4eKx9Pm1Rz"
# ### Hugging Face login
#
# The dataset and the model are public, so logging in is only needed if you want to push the adapter to the Hub at the end (we don’t by default: `push_to_hub=False`).

# %% id="Jt2Wc5Rb9HvN"
# from huggingface_hub import notebook_login
# notebook_login()

# from google.colab import userdata
# os.environ["HF_TOKEN"] = userdata.get("HF_TOKEN")
# os.environ["WANDB_API_KEY"] = userdata.get("WANDB_API_KEY")

print("HF token present:", "HF_TOKEN" in os.environ)


# %% [markdown] id="Lw7eQ3sYkP0v"
# ## 1. Load the dataset
#
# We use the [OpenFoodFacts nutrition table detection](https://huggingface.co/datasets/openfoodfacts/nutrition-table-detection) dataset. Each row is a photo of a product (taken by OpenFoodFacts contributors with their phones, so lighting, angle and resolution vary a lot) together with one or more bounding boxes around the nutrition table. The boxes are stored as **normalized** `[y_min, x_min, y_max, x_max]` – note the order, y first! – in `objects["bbox"]`, and the category is always `nutrition-table`. There are two splits, `train` (~1.1k images) and `val` (~120 images); we use `val` for evaluation during training and a slice of it as our test set.

# %% id="H2nXc6Kb1QwE"
dataset_id = "openfoodfacts/nutrition-table-detection"

raw_dataset = load_dataset(dataset_id) 
print(f"✅ Loaded {dataset_id}")
print(raw_dataset)
display(raw_dataset)
display(raw_dataset["train"].features)

# %% [markdown]
# Let's look at a single example. The `image` column is already decoded to a PIL image by `datasets`.

# %% id="fN9eUq2Tz6Ya"
sample = raw_dataset["train"][0]
print("Keys:", list(sample.keys()))
print("Image size (W x H):", sample["image"].size)
print("Image mode:", sample["image"].mode)
print("Objects:", sample["objects"])
print("Number of boxes:", len(sample["objects"]["bbox"]))
display(sample["image"].resize((sample["image"].width // 4, sample["image"].height // 4)))

# %% [markdown] id="Rk2Lq7vAe9Xs"
# ### Bounding box formats (the annoying part)
#
# Three different box conventions meet in this notebook:
#
# | Where | Format | Range |  
# |---|---|---|
# | dataset (`objects["bbox"]`) | `[y_min, x_min, y_max, x_max]` | 0–1 (normalized) |  
# | Qwen2-VL grounding tokens | `(x1,y1),(x2,y2)` | 0–1000 (integers) |  
# | matplotlib / PIL drawing | `(x1, y1, x2, y2)` | pixels |  
#
# Qwen2-VL was pre-trained with boxes written as text between `<|box_start|>` and `<|box_end|>`, e.g. `<|object_ref_start|>nutrition table<|object_ref_end|><|box_start|>(120,80),(560,720)<|box_end|>`, where the coordinates are relative to the image scaled to 1000×1000. If we feed it boxes in that exact format we are speaking its language, and fine-tuning only has to teach it *where*, not *how*. Getting the y/x order wrong here silently produces garbage boxes that still parse fine – I lost half a day to that, hence the round-trip test below.

# %% id="tB9wCq3Lh5Zd"
def convert_bbox_to_qwen(bbox):
    """
    Convert a dataset box [y_min, x_min, y_max, x_max] (normalized 0-1)
    to Qwen2-VL integer coordinates (x1, y1, x2, y2) in the 0-1000 range.
    """
    y_min, x_min, y_max, x_max = bbox
    x1 = int(round(x_min * 1000))
    y1 = int(round(y_min * 1000))
    x2 = int(round(x_max * 1000))
    y2 = int(round(y_max * 1000))
    # clamp - a handful of boxes in the dataset go slightly outside [0, 1]
    x1, x2 = max(0, min(1000, x1)), max(0, min(1000, x2))
    y1, y2 = max(0, min(1000, y1)), max(0, min(1000, y2))
    return x1, y1, x2, y2


def format_qwen_box(box, label="nutrition table"):
    """Format a (x1, y1, x2, y2) box in 0-1000 space as Qwen2-VL grounding text."""
    x1, y1, x2, y2 = box
    return f"<|object_ref_start|>{label}<|object_ref_end|><|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"


def parse_qwen_bbox(text):
    """
    Extract the first (x1, y1, x2, y2) box from model output.
    
    Accepts both "(x1,y1),(x2,y2)" and "(x1, y1), (x2, y2)" (the base model
    likes to add spaces). Returns None when nothing parseable is found.
    """
    import re
    if text is None:
        return None
    match = re.search(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", text)
    if match is None:
        return None
    x1, y1, x2, y2 = (int(v) for v in match.groups())
    # some outputs have the corners swapped
    if x2 < x1:
        x1, x2 = x2, x1
    if y2 < y1:
        y1, y2 = y2, y1
    return x1, y1, x2, y2


def qwen_to_pixel_bbox(box, width, height):
    """Scale a 0-1000 box to pixel coordinates of an image of size (width, height)."""
    if box is None:
        return None
    x1, y1, x2, y2 = box
    return (
        x1 / 1000 * width,
        y1 / 1000 * height,
        x2 / 1000 * width,
        y2 / 1000 * height,
    )

# %% id="oP3uXw8Ye2Kr"
# Round-trip test: dataset box -> qwen text -> parsed box
_bbox = sample["objects"]["bbox"][0]
_qwen_box = convert_bbox_to_qwen(_bbox)
_text = format_qwen_box(_qwen_box)
_parsed = parse_qwen_bbox(_text)
print("dataset bbox :", _bbox)
print("qwen box     :", _qwen_box)
print("qwen text    :", _text)
print("parsed back  :", _parsed)
assert _parsed == _qwen_box, "round trip failed - check the y/x order!"
print("✅ bbox round trip OK")

# %% [markdown] id="Ai7sNv3Gc0Df"
# ### Visualisation helpers
#
# Green = ground truth, red = prediction. Boxes are always drawn from the 0–1000 Qwen format so that we look at exactly what the model sees / outputs.

# %% id="wE5nHq8Ul1Bc"
def draw_boxes(ax, image, boxes, colors=None, labels=None, linewidth=3):
    """Draw 0-1000 boxes on a matplotlib axis over `image`."""
    width, height = image.size
    ax.imshow(image)
    colors = colors or ["lime"] * len(boxes)
    labels = labels or [None] * len(boxes)
    for box, color, label in zip(boxes, colors, labels):
        if box is None:
            continue
        x1, y1, x2, y2 = qwen_to_pixel_bbox(box, width, height)
        rect = patches.Rectangle(
            (x1, y1), x2 - x1, y2 - y1,
            linewidth=linewidth, edgecolor=color, facecolor="none",
        )
        ax.add_patch(rect)
        if label:
            ax.text(x1, max(0, y1 - 10), label, color="white", fontsize=9,
                    bbox=dict(facecolor=color, alpha=0.7, pad=1, edgecolor="none"))
    ax.axis("off")
    return ax


def visualize_sample(image, gt_box=None, pred_box=None, title=None, figsize=(6, 8)):
    """Show one image with the ground truth box (green) and an optional prediction (red)."""
    fig, ax = plt.subplots(1, 1, figsize=figsize)
    boxes, colors, labels = [], [], []
    if gt_box is not None:
        boxes.append(gt_box); colors.append("lime"); labels.append("GT")
    if pred_box is not None:
        boxes.append(pred_box); colors.append("red"); labels.append("pred")
    draw_boxes(ax, image, boxes, colors, labels)
    if title:
        ax.set_title(title, fontsize=10)
    plt.tight_layout()
    plt.show()
    return fig


def visualize_grid(images, gt_boxes, pred_boxes=None, titles=None, ncols=4, figsize_per_img=(4, 5)):
    """Grid version of visualize_sample for a quick look at many predictions."""
    n = len(images)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(figsize_per_img[0] * ncols, figsize_per_img[1] * nrows))
    axes = np.array(axes).reshape(-1)
    for i, ax in enumerate(axes):
        if i >= n:
            ax.axis("off")
            continue
        boxes = [gt_boxes[i]]
        colors = ["lime"]
        if pred_boxes is not None:
            boxes.append(pred_boxes[i])
            colors.append("red")
        draw_boxes(ax, images[i], boxes, colors)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    plt.tight_layout()
    plt.show()
    return fig

# %% [markdown]
# First eight training images with their ground-truth boxes. If a box is visibly off here, the conversion above is wrong – fix that before anything else.

# %% id="Kq0Tz7Vb3RnM"
_imgs = [raw_dataset["train"][i]["image"] for i in range(8)]
_gts = [convert_bbox_to_qwen(raw_dataset["train"][i]["objects"]["bbox"][0]) for i in range(8)]
visualize_grid(_imgs, _gts, titles=[f"train[{i}]" for i in range(8)])


# %% [markdown] id="Dz5yGm0Vh4Pj"
# ## 2. Format the data as chat conversations
#
# `SFTTrainer` (and our collator) expects each sample to be a list of chat messages. We use the standard three-turn layout: a **system** message explaining the task, a **user** message with the image and a short instruction, and the **assistant** message with the box in Qwen2-VL’s grounding format.
#
# One practical problem: PIL images cannot live inside the nested `messages` structure once it goes through `datasets.Dataset.from_list` (Arrow wants one type per column, and a nested image in a list of dicts with mixed keys does not serialize). So the image is stored **once** in a top-level `image` column and the message only contains the string `IMAGE_PLACEHOLDER`. The collator swaps the placeholder back for the real image right before calling the processor. Also note that Arrow fills every missing key with `None`, so a text item ends up as `{"type": "text", "text": "...", "image": None}` – the collators have to drop those `None`s, otherwise Qwen’s chat template sees an `image` key and inserts a vision block for every text item 🙃.

# %% id="Nf4Bp1Wc8YtA"
IMAGE_PLACEHOLDER = "IMAGE_PLACEHOLDER"

SYSTEM_MESSAGE = """You are a Vision Language Model specialized in detecting nutrition tables on food packaging.
Your task is to locate the nutrition table (nutrition facts) in the image and answer with its bounding box.
Answer only with the grounding format: <|object_ref_start|>nutrition table<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>
Coordinates are integers between 0 and 1000, relative to the image width and height. 
Do not describe the image and do not add any other text."""

USER_PROMPT = "Detect the bounding box of the nutrition table."

print(f"System message: {len(SYSTEM_MESSAGE)} characters")
print(f"User prompt   : {USER_PROMPT!r}")

# %% id="Ww2Gk5Yr0Ls8"
def format_data(sample):
    """
    Convert one raw dataset row into the chat record used everywhere in this notebook:
    
        {"image": <PIL.Image>, "messages": [system, user(image placeholder + prompt), assistant(box)]}
    
    Only the FIRST box is used (95%+ of the images have exactly one nutrition table).
    """
    image = sample["image"]
    if image.mode != "RGB":
        image = image.convert("RGB")
    qwen_box = convert_bbox_to_qwen(sample["objects"]["bbox"][0])
    answer = format_qwen_box(qwen_box)
    return {
        "image": image,
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": SYSTEM_MESSAGE}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": IMAGE_PLACEHOLDER},
                    {"type": "text", "text": USER_PROMPT},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "text", "text": answer}],
            },
        ],
    }
_formatted = format_data(raw_dataset["train"][0])
print("image:", _formatted["image"])
print(json.dumps(_formatted["messages"], indent=2, ensure_ascii=False))

# %% [markdown] id="Mv8Sy1Kd5QrP"
# ### Build the splits
#
# `train` → training, `val` → split in two halves: the first half is the `eval_dataset` used by the trainer for `eval_loss`, the second half is our held-out **test** set for IoU. (Yes, the test set is small. It is good enough to see a 0.3 → 0.8 IoU jump.)

# %% id="Ge7vXp2Ac1Nw"
t0 = time.time()
train_records = [format_data(s) for s in raw_dataset["train"]]
val_records = [format_data(s) for s in raw_dataset["val"]]

half = len(val_records) // 2 
eval_records = val_records[:half]
test_records = val_records[half:]

# SFTTrainer refuses plain python lists now -> wrap in datasets.Dataset
train_dataset = Dataset.from_list(train_records)
eval_dataset = Dataset.from_list(eval_records)
test_dataset = Dataset.from_list(test_records)

print(f"✅ Formatted datasets in {time.time() - t0:.1f}s")
print(f"   train: {len(train_dataset)} | eval: {len(eval_dataset)} | test: {len(test_dataset)}")

# %%
# What does a row look like after the Arrow round trip? (note the None values!)
_row = train_dataset[0]
print(type(_row["image"]))
for _msg in _row["messages"]:
    print(_msg["role"], "->", _msg["content"])

# %% [markdown] id="Pj3Ws7Lc0RvG"
# ### Dataset statistics
#
# How big are the boxes? Nutrition tables usually take 10–40 % of the picture, but there is a long tail of tiny tables photographed from far away (those are the hard cases for the model, and also the ones where a few pixels of error kill the IoU). The aspect ratio also varies a lot: landscape tables on the side of a box, very tall tables on bottles.

# %% id="Vr2Lh8Qa4NcJ"
def box_stats(records):
    """Area fraction and aspect ratio of the (first) box of every record, in 0-1000 space."""
    areas, ratios, widths, heights = [], [], [], []
    for rec in records:
        box = parse_qwen_bbox(rec["messages"][2]["content"][0]["text"])
        if box is None:
            continue
        x1, y1, x2, y2 = box
        w, h = max(1, x2 - x1), max(1, y2 - y1)
        areas.append(w * h / 1_000_000)
        ratios.append(w / h)
        widths.append(w)
        heights.append(h)
    return {
        "area": np.array(areas),
        "ratio": np.array(ratios),
        "width": np.array(widths),
        "height": np.array(heights),
    }


_stats = box_stats(train_records)
print(f"📦 {len(_stats['area'])} boxes in train")
print(f"   area fraction : mean {_stats['area'].mean():.3f} | median {np.median(_stats['area']):.3f} | min {_stats['area'].min():.4f}")
print(f"   aspect (w/h)  : mean {_stats['ratio'].mean():.2f} | min {_stats['ratio'].min():.2f} | max {_stats['ratio'].max():.2f}")
print(f"   boxes < 2% of the image: {(_stats['area'] < 0.02).sum()}")

fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
axes[0].hist(_stats["area"], bins=40, color="tab:green")
axes[0].set_title("box area / image area")
axes[1].hist(np.log2(_stats["ratio"]), bins=40, color="tab:orange")
axes[1].set_title("log2(aspect ratio)")
axes[2].scatter(_stats["width"], _stats["height"], s=4, alpha=0.4)
axes[2].set_xlabel("width (0-1000)")
axes[2].set_ylabel("height (0-1000)")
axes[2].set_title("box sizes")
plt.tight_layout()
plt.show()

# Images with more than one nutrition table (we only train on the first box)
_multi = [i for i, s in enumerate(raw_dataset["train"]) if len(s["objects"]["bbox"]) > 1]
print(f"Images with > 1 box: {len(_multi)} / {len(raw_dataset['train'])}")
print("First few:", _multi[:10])

# %% [markdown] id="Bq6Wn3Ti0YhE"
# ## 3. Load the model (4-bit) and the processor
#
# We load **Qwen2-VL-7B-Instruct** with bitsandbytes NF4 quantization (QLoRA). The base weights are frozen in 4-bit, LoRA adapters are trained in bf16 on top. With `attn_implementation="sdpa"` we avoid the whole flash-attention dtype saga (see `FlashAttentionPatchCollator` below for the scars): SDPA is slightly slower than FlashAttention-2 on H100 but it “just works” with 4-bit weights and bf16 pixel values. The processor bundles the tokenizer and the image processor; the image processor resizes every picture so that its side lengths are multiples of 28 and the total number of pixels stays between `min_pixels` and `max_pixels`.

# %% id="kF1Xo8Nv4DsQ"
model_id = "Qwen/Qwen2-VL-7B-Instruct" 

bnb_config = BitsAndBytesConfig(
    load_in_4bit=True,
    bnb_4bit_use_double_quant=True,
    bnb_4bit_quant_type="nf4",
    bnb_4bit_compute_dtype=torch.bfloat16,
)

t0 = time.time()
model = Qwen2VLForConditionalGeneration.from_pretrained(
    model_id,
    device_map="auto",
    torch_dtype=torch.bfloat16,
    attn_implementation="sdpa",
    quantization_config=bnb_config,
)
print(f"✅ Model loaded in {time.time() - t0:.0f}s")
print(f"   dtype: {model.dtype} | device: {model.device}")
print(f"   GPU memory allocated: {torch.cuda.memory_allocated() / 1024**3:.2f} GB")

# %% id="Zr0Ec5Uj8KpB"
processor = Qwen2VLProcessor.from_pretrained(model_id)

tokenizer = processor.tokenizer 
print(f"✅ Processor loaded: {type(processor).__name__}")
print(f"   vocab size      : {len(tokenizer)}")
print(f"   pad token       : {tokenizer.pad_token!r} (id={tokenizer.pad_token_id})")
print(f"   eos token       : {tokenizer.eos_token!r} (id={tokenizer.eos_token_id})")
print(f"   padding side    : {tokenizer.padding_side}")
for _tok in ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
             "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>"]:
    print(f"   {_tok:22s} -> {tokenizer.convert_tokens_to_ids(_tok)}")

# %% [markdown] id="Cq8Rv3Hs6JyL"
# ### How many tokens does one image become?
#
# Qwen2-VL uses dynamic resolution: the image is resized to multiples of 28 px, cut into 14×14 patches, and every 2×2 group of patches is merged into one token. So a 1008×1344 image becomes `(1008/28) × (1344/28) = 36 × 48 = 1,728` `<|image_pad|>` tokens. This is why `max_length=2048` is tight for large photos, and why masking the vision tokens in the labels matters so much (next section). We keep the processor defaults here; lowering `max_pixels` would make training faster at the cost of precision on small tables.

# %% id="Gd1Kx6Ty9PwB"
def count_vision_tokens(processor, image):
    """Number of <|image_pad|> tokens the processor will produce for `image`."""
    inputs = processor.image_processor(images=[image], return_tensors="pt")
    t, h, w = inputs["image_grid_thw"][0].tolist()
    merge = processor.image_processor.merge_size
    return int(t * h * w // (merge * merge))


_counts = []
for _i in range(20):
    _img = train_dataset[_i]["image"]
    _counts.append((_img.size, count_vision_tokens(processor, _img)))
for _size, _n in _counts[:8]:
    print(f"   image {_size[0]:4d} x {_size[1]:4d} -> {_n:5d} vision tokens")
print(f"Mean vision tokens over 20 images: {np.mean([n for _, n in _counts]):.0f}")
print(f"Max  vision tokens over 20 images: {max(n for _, n in _counts)}")

# %% [markdown] id="Fp9Lc2Wm7ArU"
# ## 4. What does the base model predict?
#
# Before training anything it is worth knowing the baseline. `generate_text_from_sample` builds the prompt **without** the assistant turn (`add_generation_prompt=True`), generates greedily and returns the decoded answer with special tokens kept – we need `<|box_start|>` etc. to parse the box.

# %% id="Cs5Hv1Px3GjT"
def prepare_inference_messages(sample):
    """
    Take a chat record, drop the assistant turn and put the real image back
    in place of IMAGE_PLACEHOLDER. Returns a new list (the record is not modified).
    """
    image = sample["image"]
    messages = []
    for message in sample["messages"]:
        if message["role"] == "assistant":
            continue
        content = []
        for item in message["content"]:
            if item.get("type") == "image":
                content.append({"type": "image", "image": image})
            else:
                content.append({k: v for k, v in item.items() if v is not None})
        messages.append({"role": message["role"], "content": content})
    return messages


def generate_text_from_sample(model, processor, sample, max_new_tokens=64, device=None):
    """Greedy generation for a single chat record. Returns the decoded assistant answer."""
    messages = prepare_inference_messages(sample) 
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image_inputs, _ = process_vision_info(messages)
    inputs = processor(text=[text], images=image_inputs, return_tensors="pt", padding=True)
    inputs = inputs.to(device or model.device)
    
    with torch.no_grad():
        generated_ids = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    
    trimmed = generated_ids[:, inputs["input_ids"].shape[1]:]
    output_text = processor.batch_decode(
        trimmed, skip_special_tokens=False, clean_up_tokenization_spaces=False
    )[0]
    # cut at the end of turn, keep the grounding tokens
    return output_text.split("<|im_end|>")[0].strip()

# %% id="Re1Tb6Yk9MfW"
_sample = test_dataset[0] 
_pred_text = generate_text_from_sample(model, processor, _sample)
_gt_text = _sample["messages"][2]["content"][0]["text"]
print("GT  :", _gt_text)
print("PRED:", _pred_text)
visualize_sample(
    _sample["image"],
    gt_box=parse_qwen_bbox(_gt_text),
    pred_box=parse_qwen_bbox(_pred_text),
    title="Base model (before fine-tuning)",
)

# %% [markdown] id="Wg0Ns4Bv1KeZ"
# ### IoU metric
#
# Intersection over Union between the predicted and the ground-truth box, both in the 0–1000 space. A prediction that cannot be parsed counts as IoU = 0 (and as a *parse failure*, which we track separately because the base model often answers in prose). We report mean / median IoU and the fraction of predictions above 0.5 and 0.75 (the usual “accuracy at IoU threshold”).

# %% id="Ju6Rq0Ls2NcV"
def compute_iou(box_a, box_b):
    """IoU between two (x1, y1, x2, y2) boxes. Returns 0.0 if either box is None."""
    if box_a is None or box_b is None:
        return 0.0
    ax1, ay1, ax2, ay2 = box_a
    bx1, by1, bx2, by2 = box_b
    inter_w = max(0, min(ax2, bx2) - max(ax1, bx1))
    inter_h = max(0, min(ay2, by2) - max(ay1, by1))
    inter = inter_w * inter_h
    area_a = max(0, ax2 - ax1) * max(0, ay2 - ay1)
    area_b = max(0, bx2 - bx1) * max(0, by2 - by1)
    union = area_a + area_b - inter
    if union <= 0:
        return 0.0
    return inter / union



def evaluate_model(model, processor, dataset, num_samples=None, desc="model", max_new_tokens=64, verbose=False):
    """
    Run generation on `num_samples` records of `dataset` and compute IoU statistics.
    
    Returns:
        metrics (dict): mean_iou, median_iou, acc_50, acc_75, parse_failure_rate, ...
        ious (list[float]): per-sample IoU, in dataset order
    """
    import numpy as np
    n = len(dataset) if num_samples is None else min(num_samples, len(dataset))
    ious = []
    parse_failures = 0
    t_start = time.time()
    model.eval()
    for idx in range(n):
        sample = dataset[idx]
        gt_box = parse_qwen_bbox(sample["messages"][2]["content"][0]["text"])
        pred_text = generate_text_from_sample(model, processor, sample, max_new_tokens=max_new_tokens)
        pred_box = parse_qwen_bbox(pred_text)
        if pred_box is None:
            parse_failures += 1
        iou = compute_iou(pred_box, gt_box) 
        ious.append(iou)
        if verbose or idx % 10 == 0:
            print(f"   [{desc}] {idx + 1}/{n}  IoU={iou:.3f}  pred={pred_text[:80]!r}")
    
    ious_arr = np.array(ious) if ious else np.zeros(1)
    metrics = {
        "num_samples": n,
        "mean_iou": float(ious_arr.mean()),
        "median_iou": float(np.median(ious_arr)),
        "acc_50": float((ious_arr >= 0.5).mean()),
        "acc_75": float((ious_arr >= 0.75).mean()),
        "parse_failure_rate": parse_failures / max(n, 1),
        "seconds": time.time() - t_start,
    }
    print(f"📊 {desc}: mean IoU {metrics['mean_iou']:.3f} | acc@0.5 {metrics['acc_50']:.2%} | parse failures {parse_failures}/{n}")
    return metrics, ious


# sanity checks for compute_iou
assert compute_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
assert compute_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
assert abs(compute_iou((0, 0, 10, 10), (5, 0, 15, 10)) - 1 / 3) < 1e-9
assert compute_iou(None, (0, 0, 1, 1)) == 0.0
print("✅ compute_iou sanity checks passed")

# %% [markdown] id="Lb3Yh8Uc2VsO"
# ### Baseline on the test split
#
# 50 test images, greedy decoding, ~3 minutes on an H100. These are the numbers to beat.  
# (`NUM_EVAL_SAMPLES` is reused for every evaluation below so the comparison stays fair.)

# %% id="Py4Mk8Qe0VzD"
NUM_EVAL_SAMPLES = 50 
metrics_base, ious_base = evaluate_model(model, processor, test_dataset, num_samples=NUM_EVAL_SAMPLES, desc="base model")
display(metrics_base)
plt.figure(figsize=(7, 4))
plt.hist(ious_base, bins=20, range=(0, 1), color="gray", edgecolor="black")
plt.axvline(np.mean(ious_base), color="red", linestyle="--", label=f"mean={np.mean(ious_base):.2f}")
plt.xlabel("IoU")
plt.ylabel("count")
plt.title("Base Qwen2-VL-7B: IoU on the test split")
plt.legend()
plt.show()

# %% [markdown] id="Xs1Jf6Ua3TeK"
# The base model is not useless (it does know the grounding format), but it is sloppy: many boxes cover the whole back of the package, and roughly one answer in five is free text instead of a box.

# %% [markdown] id="N0hPe4Yb2GuC"
# ## Set Up QLoRA and SFTConfig
#
# **LoRA:** rank 16, alpha 32, dropout 0.05 on the attention projections of the language model (`q_proj`, `v_proj`). We tried adding the MLP projections as well – more trainable parameters, slower steps, no measurable IoU gain on this small dataset. The vision tower stays completely frozen.
#
# **SFTConfig:** the important bits are not the hyperparameters but the *data* flags: `remove_unused_columns=False` (otherwise the trainer drops the `image` and `messages` columns before the collator ever sees them), `dataset_text_field=""` and `dataset_kwargs={"skip_prepare_dataset": True}` (TRL must not try to tokenize the dataset itself – our collator does it, images included). `gradient_checkpointing` is **off**: with QLoRA + Qwen2-VL it produced `None` gradients for the LoRA weights in our setup.

# %% id="Ib6Lk0Ws5RyJ"
from peft import LoraConfig, get_peft_model 

lora_config = LoraConfig(
    r=16,
    lora_alpha=32,
    lora_dropout=0.05,
    bias="none",
    target_modules=["q_proj", "v_proj"],
    task_type="CAUSAL_LM",
)

# Only to look at the numbers - SFTTrainer applies peft_config itself
peft_model = get_peft_model(model, lora_config)
peft_model.print_trainable_parameters()

# %% [markdown] id="Tg3Ue8Hx6LnS"
# ### Training configuration (run 1: all tokens)
#
# Effective batch size is `1 × 8 = 8`. With ~1.1k training images that is ~140 optimizer steps per epoch, so `eval_steps=50` gives us ~8 evaluations over 3 epochs, and `save_steps=300` keeps the number of checkpoints low (each adapter checkpoint is small, but the optimizer state is not).

# %%
from trl import SFTConfig


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


# %% id="Ys4Tq0xPzVh2"
# TASK: check eval/save steps again before the next run - 300 save steps means only 1 checkpoint per run

training_args = create_training_config(
    variant="v1-all-tokens",
    eval_steps=50,  # Evaluate every 50 steps
    save_steps=300,  # Must be a multiple of eval_steps for load_best_model_at_end
)

print(f"Output dir        : {training_args.output_dir}")
print(f"Run name          : {training_args.run_name}")
print(f"Epochs            : {training_args.num_train_epochs}")
print(f"Learning rate     : {training_args.learning_rate}")
print(f"Grad accumulation : {training_args.gradient_accumulation_steps}")
print(f"Eval / save steps : {training_args.eval_steps} / {training_args.save_steps}")
print(f"Max length        : {training_args.max_length}")

# %% [markdown] id="Vb0Wq5Ef4IrL"
# ### Weights & Biases
#
# Loss curves go to W&B. The run name matches `run_name` in the config so that the trainer’s own logging lands in the same run instead of creating a second one.

# %% id="Uo2Dx7Mh5AjQ"
import wandb 

wandb.init(
    project="qwen2vl-nutrition-detection",
    name="qwen2vl-v1-all-tokens",
    config={
        "model_id": model_id,
        "dataset_id": dataset_id,
        "lora_r": lora_config.r,
        "lora_alpha": lora_config.lora_alpha,
        "lora_dropout": lora_config.lora_dropout,
        "learning_rate": training_args.learning_rate,
        "num_train_epochs": training_args.num_train_epochs,
        "effective_batch_size": training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps,
        "quantization": "nf4-double-quant",
        "attn_implementation": "sdpa",
    },
    tags=["qwen2-vl", "qlora", "object-detection", "nutrition-table", "collator:v1"],
)
print(f"🚀 W&B run: {wandb.run.name if wandb.run else 'not initialised'}")

# %% [markdown] id="Kc5Ym2Gt8PwA"
# ## 6. The data collator (a.k.a. where most of the time went)
#
# The collator turns a list of chat records into model inputs: it renders the chat template, runs the image processor, pads, and builds `labels`. The default TRL collator does not know about our `IMAGE_PLACEHOLDER` trick, and – more importantly – it does not mask the **vision tokens**. A single 1000×1300 photo becomes ~1,200 `<|image_pad|>` tokens; if those stay in the labels, the loss is dominated by the model trying to “predict” image padding, which is meaningless and makes the loss curve look great while IoU does not move at all.
#
# The first working version is `AllTokensCollator` (the “_1” is the first fix that actually trained; earlier attempts are in the deleted section below). It masks pad + all three vision special tokens and trains on everything else: system prompt, user prompt and the answer.

# %% id="Wq1nB6tYcL0a"
import torch
from transformers import Qwen2VLProcessor, Qwen2VLForConditionalGeneration
from qwen_vl_utils import process_vision_info

# Collator v1: restore images, apply chat template, mask pad + vision tokens (labels = everything else)
class AllTokensCollator:
    """
    Data collator for Qwen2-VL fine-tuning (first version that trains correctly).
    
    Implemented as a class (not a closure) so that it can be pickled by the
    DataLoader and so that the masked token ids are computed only once.
    
    What it does for every batch:
        1. copies each record's messages and puts the PIL image back where
           the IMAGE_PLACEHOLDER string is (datasets cannot store it there)
        2. drops the None values that Arrow adds to every content dict
        3. renders the chat template (tokenize=False) and extracts the images
           with qwen_vl_utils.process_vision_info
        4. runs the processor on the whole batch with padding
        5. labels = input_ids, with pad / <|vision_start|> / <|vision_end|> /
           <|image_pad|> set to -100
    
    The system prompt and the user prompt are NOT masked - the model is trained
    on them too. That is what AssistantOnlyCollator changes later on.
    
    Example:
        >>> collate_fn = AllTokensCollator(processor, model)
        >>> batch = collate_fn([train_dataset[0], train_dataset[1]])
        >>> sorted(batch.keys())
        ['attention_mask', 'image_grid_thw', 'input_ids', 'labels', 'pixel_values']
        >>> for key, value in batch.items():
        ...     print(key, tuple(value.shape))
    """
    
    def __init__(self, processor, model):
        self.processor = processor
        self.model = model
        self.tokenizer = processor.tokenizer
        
        # must be the same string as IMAGE_PLACEHOLDER in format_data()
        self.image_placeholder = "IMAGE_PLACEHOLDER"
        
        pad_token_id = self.tokenizer.pad_token_id
        if pad_token_id is None:
            pad_token_id = self.tokenizer.convert_tokens_to_ids("<|endoftext|>")
        self.pad_token_id = pad_token_id
        
        self.vision_tokens = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>"]
        self.masked_token_ids = [pad_token_id]
        for token in self.vision_tokens:
            token_id = self.tokenizer.convert_tokens_to_ids(token)
            if token_id is not None and token_id != self.tokenizer.unk_token_id:
                self.masked_token_ids.append(token_id)
    
    def _restore_images(self, example):
        """Return a fresh copy of example['messages'] with the real image in place of the placeholder."""
        image = example["image"]
        messages = []
        for message in example["messages"]:
            content = message.get("content")
            if isinstance(content, str):
                messages.append({"role": message["role"], "content": content})
                continue
            new_content = []
            for item in content or []:
                if not isinstance(item, dict):
                    continue
                if item.get("type") == "image" or item.get("image") == self.image_placeholder:
                    new_content.append({"type": "image", "image": image})
                else:
                    # Arrow adds "image": None to text items -> drop every None
                    new_content.append({k: v for k, v in item.items() if v is not None})
            messages.append({"role": message["role"], "content": new_content})
        return messages
    
    def __call__(self, batch):
        texts = []
        images = []
        for example in batch:
            messages = self._restore_images(example)
            text = self.processor.apply_chat_template(messages, tokenize=False)
            image_inputs, _ = process_vision_info(messages)
            texts.append(text)
            if image_inputs:
                images.extend(image_inputs)
        
        model_inputs = self.processor(
            text=texts,
            images=images if images else None,
            return_tensors="pt",
            padding=True,
        )
        
        labels = model_inputs["input_ids"].clone()
        for token_id in self.masked_token_ids:
            labels[labels == token_id] = -100
        model_inputs["labels"] = labels
        return model_inputs

print("✅ AllTokensCollator created (masks pad + vision tokens, trains on all text)")

# %% [markdown] id="Op7Rd1Zc4WsE"
# ### Side quest: FlashAttention-2 and bf16 pixel values
#
# When we still loaded the model with `attn_implementation="flash_attention_2"`, the first forward pass crashed with *“FlashAttention only support fp16 and bf16 data type”*: the processor returns `pixel_values` in float32, the vision tower’s attention receives float32 queries and FA2 refuses them. `FlashAttentionPatchCollator` (yes, the fix of the fix 🙈) casts `pixel_values` to bf16 and additionally patches `flash_attn_varlen_func` to cast q/k/v on the fly. It is **not** used anymore since we switched to SDPA, but keep it around in case we go back to FA2 for faster inference.

# %% [markdown] id="Ha3Nv8Lp2QxT"
# For run 1 we use `AllTokensCollator`. The model is loaded with SDPA, so the FA2 workaround is not needed.

# %%
collate_fn = AllTokensCollator(processor, model)

# %% [markdown] id="Xk7Pn2Wg5BeT"
# 🧪 Smoke test: run the collator on two samples and look at shapes, dtypes and the number of labelled tokens. `pixel_values` is a flat `(num_patches, 1176)` tensor – that is normal for Qwen2-VL, the `image_grid_thw` tensor tells the model how to fold it back.

# %% id="Fv2Sq8Tn3JpM"
# Quick smoke test on two samples before handing the collator to the trainer
test_batch = [train_dataset[0], train_dataset[1]]
assert isinstance(collate_fn, AllTokensCollator), "collate_fn should be the v1 collator for run 1"
print(f"🧪 Testing {AllTokensCollator.__name__} on {len(test_batch)} samples")

_out = collate_fn(test_batch)
for _k, _v in _out.items():
    print(f"   {_k:16s} {tuple(_v.shape)}  {_v.dtype}")
print(f"   labels != -100 : {(_out['labels'] != -100).sum().item()} tokens")
print(f"Collator class: {type(collate_fn).__name__} (expected AllTokensCollator)")

# %% [markdown] id="Sr4Dx0Kb9UmC"
# ### How many tokens are we actually training on?
#
# `analyze_token_distribution` runs the collator on a few samples and counts, per sample: total (non-pad) tokens, vision tokens, tokens with a real label, and how many of the labelled tokens belong to the assistant answer. This is the cell that made it obvious that with `AllTokensCollator` the box itself is **less than a fifth** of the supervised tokens – the long system prompt is repeated in every sample and the model spends most of its capacity memorising it.

# %% id="Bt6Mp0Jc8XwN"
def analyze_token_distribution(collate_fn, dataset, num_samples=3):
    """
    Print a breakdown of the tokens produced by `collate_fn` for the first
    `num_samples` records of `dataset` and return the aggregated counts.
    
    Works with any of the collators in this notebook (they all expose
    `.processor`). The `collate_fn` parameter deliberately shadows the global.
    """
    tokenizer = collate_fn.processor.tokenizer
    vision_ids = {
        tokenizer.convert_tokens_to_ids(tok)
        for tok in ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>")
    }
    im_start_id = tokenizer.convert_tokens_to_ids("<|im_start|>")
    im_end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    
    num_samples = min(num_samples, len(dataset))
    totals = {"total": 0, "vision": 0, "trained": 0, "answer": 0, "samples": num_samples}
    print(f"🔍 Token distribution for {type(collate_fn).__name__} on {num_samples} sample(s)")
    print("-" * 80)
    for idx in range(num_samples):
        batch = collate_fn([dataset[idx]])
        input_ids = batch["input_ids"][0]
        labels = batch["labels"][0]
        attention = batch["attention_mask"][0].bool()
        
        ids = input_ids[attention]
        lbl = labels[attention]
        n_total = int(ids.numel())
        n_vision = int(sum((ids == vid).sum() for vid in vision_ids))
        n_trained = int((lbl != -100).sum())
        
        # the assistant answer = tokens after the last <|im_start|> header (role + newline)
        starts = (ids == im_start_id).nonzero().flatten().tolist()
        ends = (ids == im_end_id).nonzero().flatten().tolist()
        n_answer = 0
        if starts and ends:
            header_len = len(tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False))
            answer_start = starts[-1] + header_len  # <|im_start|> assistant \n
            n_answer = max(0, ends[-1] - answer_start + 1)
        
        trained_text = tokenizer.decode(ids[lbl != -100], skip_special_tokens=False)
        print(f"Sample {idx}: total={n_total:5d} | vision={n_vision:5d} ({n_vision / max(n_total, 1):.1%})"
              f" | trained={n_trained:5d} ({n_trained / max(n_total, 1):.1%}) | answer~{n_answer}")
        print(f"   trained text (last 120 chars): ...{trained_text[-120:]!r}")
        
        totals["total"] += n_total
        totals["vision"] += n_vision
        totals["trained"] += n_trained
        totals["answer"] += n_answer
    print("-" * 80)
    if totals["trained"]:
        print(f"Answer tokens are {totals['answer'] / totals['trained']:.1%} of the trained tokens")
    return totals

# %%
token_stats_v1 = analyze_token_distribution(collate_fn, train_dataset)

# %%
token_stats_v1_eval = analyze_token_distribution(collate_fn, eval_dataset, num_samples=2)


# %% [markdown] id="Hx0Gp4Vd7UqS"
# ### Pre-flight checklist
#
# Things that broke at least once. Cheap to check, expensive to discover two hours into a run.

# %% id="Bs2Oa6Lr1VxF"
_checks = {
    "remove_unused_columns is False": training_args.remove_unused_columns is False,
    "skip_prepare_dataset is set": bool(training_args.dataset_kwargs and training_args.dataset_kwargs.get("skip_prepare_dataset")),
    "gradient_checkpointing disabled": training_args.gradient_checkpointing is False,
    "save_steps multiple of eval_steps": training_args.save_steps % training_args.eval_steps == 0,
    "bf16 enabled": training_args.bf16,
    "collator returns labels": "labels" in _out,
    "train dataset is a datasets.Dataset": isinstance(train_dataset, Dataset),
}
for _name, _ok in _checks.items():
    print(f"   {'✅' if _ok else '❌'} {_name}")
if not all(_checks.values()):
    print("⚠️ Some checks failed - fix them before calling trainer.train()")
else:
    print("🚀 All pre-flight checks passed")
print_gpu_memory("before training")

# %% [markdown] id="Gc1Pv6Ra7HnW"
# ## 7. Train (run 1: all tokens)
#
# Nothing fancy: `SFTTrainer` with our collator, the LoRA config and the processor as `processing_class`. On one H100 this takes a bit under two hours for three epochs. If you see `eval_loss` going down while the IoU stays flat, check the token distribution above first.

# %% id="Ek0Ys7Lt2DqV"
from trl import SFTTrainer 

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

# %% id="Nq3Hb6Ux9TrF"
t0 = time.time()
train_result = trainer.train() 
print(f"🚀 Training finished in {(time.time() - t0) / 60:.1f} min")
print(train_result)

trainer.save_model(training_args.output_dir)
processor.save_pretrained(training_args.output_dir)
print(f"✅ Adapter + processor saved to {training_args.output_dir}")

# %% [markdown] id="Oc8Ts3Lw6GiB"
# Which checkpoints were written, and which one did `load_best_model_at_end` pick? The trainer stores that in `trainer_state.json` of the last checkpoint.

# %%
def list_checkpoints(output_dir):
    """Print the checkpoints in `output_dir` and the best checkpoint recorded by the Trainer."""
    output_dir = Path(output_dir)
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    if not checkpoints:
        print(f"⚠️ No checkpoints in {output_dir}")
        return None
    for ckpt in checkpoints:
        size_mb = sum(f.stat().st_size for f in ckpt.rglob("*") if f.is_file()) / 1024**2
        print(f"   {ckpt.name:20s} {size_mb:8.1f} MB")
    state_file = checkpoints[-1] / "trainer_state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        print(f"   best checkpoint : {state.get('best_model_checkpoint')}")
        print(f"   best eval_loss  : {state.get('best_metric')}")
        return state.get("best_model_checkpoint")
    return None


best_ckpt_v1 = list_checkpoints(training_args.output_dir)

# %% [markdown] id="Iu5Fe9Dn0PcA"
# ## 8. Evaluate run 1
#
# First the loss curves straight from `trainer.state.log_history` (W&B has the same, but it is handy to have them in the notebook), then the real metric: IoU on the held-out test split with the fine-tuned adapter.

# %% id="Hs6Nc3Wg1YvP"
def plot_loss_curves(log_history, title="Training / eval loss"):
    """Plot train and eval loss from a Trainer log history."""
    train_steps = [e["step"] for e in log_history if "loss" in e]
    train_loss = [e["loss"] for e in log_history if "loss" in e]
    eval_steps = [e["step"] for e in log_history if "eval_loss" in e]
    eval_loss = [e["eval_loss"] for e in log_history if "eval_loss" in e]
    
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(train_steps, train_loss, label="train loss", alpha=0.8)
    ax.plot(eval_steps, eval_loss, "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    plt.show()
    return fig


plot_loss_curves(trainer.state.log_history, title="Run 1 (AllTokensCollator, all tokens)")

# %%
# Learning rate schedule actually used (warmup 100 steps, then cosine)
_lr_steps = [e["step"] for e in trainer.state.log_history if "learning_rate" in e]
_lrs = [e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e]
plt.figure(figsize=(8, 3))
plt.plot(_lr_steps, _lrs)
plt.xlabel("step")
plt.ylabel("learning rate")
plt.title(f"LR schedule ({training_args.lr_scheduler_type}, warmup={training_args.warmup_steps})")
plt.grid(alpha=0.3)
plt.show()

# %% [markdown] id="Ad9Rm4Ty1HcZ"
# ### Reload the trained adapter
#
# Evaluating with the trainer’s in-memory model works too, but reloading from disk is the honest test: it proves the saved adapter + processor are complete and usable on their own.

# %% id="Yo4Xe7Qd3MhJ"
from peft import PeftModel 

# Free the training copy first, otherwise two 7B models do not fit next to each other
del peft_model
gc.collect()
torch.cuda.empty_cache()

model_finetuned = Qwen2VLForConditionalGeneration.from_pretrained(
    model_id,
    device_map="auto",
    torch_dtype=torch.bfloat16,
    attn_implementation="sdpa",
    quantization_config=bnb_config,
)
model_finetuned = PeftModel.from_pretrained(model_finetuned, training_args.output_dir, is_trainable=False)
processor_finetuned = Qwen2VLProcessor.from_pretrained(training_args.output_dir)
print("✅ Fine-tuned model (run 1) loaded")

# %%
metrics_v1, ious_v1 = evaluate_model(
    model_finetuned, processor_finetuned, test_dataset, num_samples=NUM_EVAL_SAMPLES, desc="v1 model"
)
display(metrics_v1)

# %% [markdown]
# Base model vs. run 1, side by side:

# %% id="Ct7Vj2Ng4KeS"
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].hist(ious_base, bins=20, range=(0, 1), alpha=0.6, label="base", color="gray")
axes[0].hist(ious_v1, bins=20, range=(0, 1), alpha=0.6, label="run 1", color="tab:blue")
axes[0].set_xlabel("IoU")
axes[0].set_title("IoU distribution")
axes[0].legend()

_names = ["mean_iou", "median_iou", "acc_50", "acc_75"]
_x = np.arange(len(_names))
axes[1].bar(_x - 0.2, [metrics_base[n] for n in _names], width=0.4, label="base", color="gray")
axes[1].bar(_x + 0.2, [metrics_v1[n] for n in _names], width=0.4, label="run 1", color="tab:blue")
axes[1].set_xticks(_x)
axes[1].set_xticklabels(_names)
axes[1].set_ylim(0, 1)
axes[1].set_title("Base vs run 1")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% id="Fh2Rc7Xy0NdU"
# Keep the numbers next to the adapter so that the README table can be regenerated without re-running
results_run1 = {
    "run_name": training_args.run_name,
    "output_dir": training_args.output_dir,
    "collator": type(collate_fn).__name__,
    "num_eval_samples": NUM_EVAL_SAMPLES,
    "base": metrics_base,
    "finetuned": metrics_v1,
}
_results_path = Path(training_args.output_dir) / "results_run1.json"
_results_path.write_text(json.dumps(results_run1, indent=2))
print(f"📦 Results written to {_results_path}")

# %% [markdown] id="Ep2Vx6Nj9KqW"
# Worst eight predictions of run 1 (green = ground truth, red = prediction).

# %% id="Xp9Bm3Sa5LdQ"
# Look at the worst predictions - usually these are photos with two tables (per 100g / per portion side by side)
_order = np.argsort(ious_v1)[:8]
_imgs, _gts, _preds, _titles = [], [], [], []
for _i in _order:
    _s = test_dataset[int(_i)]
    _imgs.append(_s["image"])
    _gts.append(parse_qwen_bbox(_s["messages"][2]["content"][0]["text"]))
    _preds.append(parse_qwen_bbox(generate_text_from_sample(model_finetuned, processor_finetuned, _s)))
    _titles.append(f"test[{int(_i)}] IoU={ious_v1[int(_i)]:.2f}")
visualize_grid(_imgs, _gts, _preds, _titles)

# %% [markdown] id="Rb9Fk2Yo5LmQ"
# ### Error analysis: IoU vs. box size
#
# Hypothesis: most of the low-IoU predictions are on small tables. If that is true, the fix is more resolution (`max_pixels`), not more epochs.

# %%
_test_stats = box_stats([test_dataset[i] for i in range(len(ious_v1))])
_ious = np.array(ious_v1[: len(_test_stats["area"])])
plt.figure(figsize=(7, 4))
plt.scatter(_test_stats["area"], _ious, s=14, alpha=0.7)
plt.xscale("log")
plt.xlabel("box area fraction (log)")
plt.ylabel("IoU (run 1)")
plt.title("IoU vs. nutrition table size")
plt.grid(alpha=0.3)
plt.show()

_small = _test_stats["area"] < 0.05
if _small.any():
    print(f"Small tables (<5% of image): n={_small.sum()}, mean IoU={_ious[_small].mean():.3f}")
if (~_small).any():
    print(f"Large tables (>=5% of image): n={(~_small).sum()}, mean IoU={_ious[~_small].mean():.3f}")

# %% [markdown] id="Wk2Ty5Gh8NsB"
# Run 1 works: the mean IoU roughly doubles and parse failures disappear after the first epoch. But the token analysis still bugs me – almost all of the supervised tokens are the system prompt and the user prompt. The next section is the attempt to fix that.

# %% id="Qa3Wc8Ej1VtK"
# ============================================================================
# DELETED FOR CLEANNESS (experiments between run 1 and run 2)
# ============================================================================
# Removed from the notebook, kept in src/data/collators.py for reference:
#   - collate_fn_fixed_2: function version that also masked the system prompt,
#     but computed the offsets on the un-padded text -> labels shifted by the padding
#   - debug_collate_fn: decoded and printed every label token, way too slow for training
#
# from src.data.collators import collate_fn_fixed_2, debug_collate_fn
# collate_fn_exp = lambda batch: collate_fn_fixed_2(batch, processor, model)
# _ = debug_collate_fn(test_batch, processor, model)
#
# See COLLATOR_DEBUGGING.md for the whole story.
# ============================================================================

# %% [markdown] id="Nd4Yc9Wi2KoA"
# ### Debugging log (kept for future me)
#
# - **Loss looked great, IoU did not move.** Cause: vision tokens in the labels. Fixed in `AllTokensCollator` by masking `<|vision_start|>`, `<|vision_end|>` and `<|image_pad|>`.  
# - **`KeyError: 'image'` in the collator.** Cause: `remove_unused_columns=True` (the default) drops every column the model’s `forward` does not know about. Fixed in `SFTConfig`.  
# - **Chat template inserted three images per sample.** Cause: Arrow’s `None` filling: `{"type": "text", "text": "…", "image": None}` still has an `image` key, and the Qwen template checks `'image' in content`. Fixed by dropping `None` values in every collator.  
# - **FlashAttention dtype error.** Cause: float32 `pixel_values`. Workaround: `FlashAttentionPatchCollator`. Real fix: `attn_implementation="sdpa"`.  
# - **LoRA grads were `None` with gradient checkpointing.** Not fully understood (probably the 4-bit vision tower + reentrant checkpointing). `gradient_checkpointing=False` and bs=1 fits in 80 GB anyway.  
# - **`collate_fn_fixed_2` shifted labels by the padding length.** Replaced by `AssistantOnlyCollator`, which works on token ids after padding.  
#
# The TODO for the next iteration is a proper config factory instead of copy-pasting the 50-line `SFTConfig(...)` for every run, and clearer collator names than `_fixed_1` / `_fixed_3`.

# %% [markdown] id="Pe8Uv1Mx6AcG"
# ## 9. Assistant-only labels: `AssistantOnlyCollator`
#
# Standard practice for chat SFT is to compute the loss only on the assistant’s answer. For us that means: everything up to and including `<|im_start|>assistant\n` is masked, then the answer tokens (`<|object_ref_start|>nutrition table<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`) and the closing `<|im_end|>` are trained – the `<|im_end|>` matters, otherwise the fine-tuned model does not learn to stop and rambles after the box.
#
# `AssistantOnlyCollator` finds the assistant header by matching the token ids of `"<|im_start|>assistant\n"` in `input_ids` (more robust than searching the decoded string, which breaks as soon as the tokenizer merges the newline with the next token). Set `debug=True` to print, for the first `max_debug` samples, how many answer tokens were kept and what they decode to. If a sample ends up with **zero** answer tokens (e.g. truncated by `max_length`), it prints a warning, because such a sample contributes nothing but still costs a forward pass.
#
# Expected numbers for our data: ~25–30 answer tokens per sample, out of ~1,300 total.

# %% id="Ir5Ku0Ao7GmZ"
import torch
from transformers import Qwen2VLProcessor
from qwen_vl_utils import process_vision_info

# AssistantOnlyCollator: assistant-only labels (system prompt, user prompt and image tokens -> -100)
class AssistantOnlyCollator:
    """
    Collator that trains ONLY on the assistant answer.
    
    Labels are -100 everywhere except for the tokens that follow each
    "<|im_start|>assistant\\n" header, up to and including the closing <|im_end|>.
    Vision tokens, padding, system and user turns are all masked.
    
    Attributes:
        debug (bool): print per-sample statistics for the first `max_debug` samples
        max_debug (int): how many samples to print when debug is on
        debug_count (int): samples printed so far (reset it to print again)
    
    Example:
        >>> collate_fn_v2 = AssistantOnlyCollator(processor, model)
        >>> collate_fn_v2.debug = True
        >>> out = collate_fn_v2([train_dataset[0]])
        [AssistantOnlyCollator] Sample 0: 27 answer tokens / 1342 total (2.0% trained)
    """
    
    def __init__(self, processor, model):
        self.processor = processor
        self.model = model
        self.tokenizer = processor.tokenizer
        self.image_placeholder = "IMAGE_PLACEHOLDER"
        
        self.debug = False
        self.max_debug = 3
        self.debug_count = 0
        
        # token ids of the assistant header, e.g. [<|im_start|>, "assistant", "\n"]
        self.assistant_header_ids = self.tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False)
        self.im_end_id = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
    
    def _restore_images(self, example):
        """Fresh copy of the messages with the PIL image back in place of the placeholder."""
        image = example["image"]
        messages = []
        for message in example["messages"]:
            content = message.get("content")
            if isinstance(content, str):
                messages.append({"role": message["role"], "content": content})
                continue
            new_content = []
            for item in content or []:
                if item.get("type") == "image" or item.get("image") == self.image_placeholder:
                    new_content.append({"type": "image", "image": image})
                else:
                    new_content.append({k: v for k, v in item.items() if v is not None})
            messages.append({"role": message["role"], "content": new_content})
        return messages
    
    def _find_answer_spans(self, ids):
        """Return (start, stop) spans of assistant answers in a list of token ids (stop exclusive)."""
        header = self.assistant_header_ids
        h = len(header)
        spans = []
        i = 0
        while i <= len(ids) - h:
            if ids[i:i + h] == header:
                start = i + h
                end = start
                while end < len(ids) and ids[end] != self.im_end_id:
                    end += 1
                stop = min(end + 1, len(ids))  # include <|im_end|> -> the model learns to stop
                spans.append((start, stop))
                i = stop
            else:
                i += 1
        return spans
    
    def __call__(self, batch):
        texts, images = [], []
        for example in batch:
            messages = self._restore_images(example)
            texts.append(self.processor.apply_chat_template(messages, tokenize=False))
            image_inputs, _ = process_vision_info(messages)
            if image_inputs:
                images.extend(image_inputs)
        
        model_inputs = self.processor(
            text=texts,
            images=images if images else None,
            return_tensors="pt",
            padding=True,
        )
        
        input_ids = model_inputs["input_ids"]
        labels = torch.full_like(input_ids, -100)
        for i in range(input_ids.size(0)):
            ids = input_ids[i].tolist()
            spans = self._find_answer_spans(ids)
            for start, stop in spans:
                labels[i, start:stop] = input_ids[i, start:stop]
            n = int((labels[i] != -100).sum())
            
            if self.debug and self.debug_count < self.max_debug:
                total = int(model_inputs["attention_mask"][i].sum())
                answer_text = self.tokenizer.decode(input_ids[i][labels[i] != -100], skip_special_tokens=False)
                print(f"[AssistantOnlyCollator] Sample {i}: {n} answer tokens / {total} total ({n / max(total, 1):.1%} trained)")
                print(f"[AssistantOnlyCollator]    answer: {answer_text!r}")
                self.debug_count += 1
            if n == 0:
                print(f"⚠️ [AssistantOnlyCollator] Sample {i}: no assistant answer found - every label is -100")
        
        model_inputs["labels"] = labels
        return model_inputs

print("✅ AssistantOnlyCollator created (assistant-only labels)")

# ----------------------------------------------------------------------------
# test_assistant_only_collator (moved to src/data/collators.py)
# ----------------------------------------------------------------------------
# test_assistant_only_collator builds the collator, runs it on a few samples and
# asserts that every sample keeps at least one answer token and that no vision
# token is ever labelled. Run it after any change to the chat template:
#   from src.data.collators import test_assistant_only_collator
#   test_assistant_only_collator(processor, model, train_dataset, num_samples=4)
# If test_assistant_only_collator fails with "0 answer tokens", check max_length first.
# ----------------------------------------------------------------------------

# %% [markdown] id="Af6Zs1Ro4XhT"
# Side by side: the same two samples through both collators. The v2 labels must be a strict subset of the v1 labels, and they must decode to exactly the box answer.

# %% id="Tc0Xj5Lb8WfO"
def compare_label_masks(v1_collator: AllTokensCollator, v2_collator: AssistantOnlyCollator, batch) -> dict:
    """Run both collators on `batch` and compare how many tokens each one trains on."""
    out_v1 = v1_collator(batch)
    out_v2 = v2_collator(batch)
    assert torch.equal(out_v1["input_ids"], out_v2["input_ids"]), "collators disagree on input_ids!"
    
    trained_v1 = out_v1["labels"] != -100
    trained_v2 = out_v2["labels"] != -100
    subset_ok = bool((trained_v2 & ~trained_v1).sum() == 0)
    result = {
        "trained_tokens_v1": int(trained_v1.sum()),
        "trained_tokens_v2": int(trained_v2.sum()),
        "v2_subset_of_v1": subset_ok,
    }
    print(f"AllTokensCollator trains on {result['trained_tokens_v1']} tokens, "
          f"AssistantOnlyCollator on {result['trained_tokens_v2']} (subset: {subset_ok})")
    return result


def make_collator(kind, processor, model, debug=False) -> AssistantOnlyCollator:
    """Small factory used while switching between runs (kind: 'all' or 'assistant')."""
    if kind == "all":
        return AllTokensCollator(processor, model)
    collator = AssistantOnlyCollator(processor, model)
    collator.debug = debug
    return collator


_cmp = compare_label_masks(collate_fn, make_collator("assistant", processor, model), test_batch)
display(_cmp)


# %% [markdown] id="Ud8Ch3Pn0KjE"
# ## 10. Second training run: assistant-only
#
# Same base model, same LoRA config, same hyperparameters – the **only** intended difference is the collator (`AssistantOnlyCollator` instead of `AllTokensCollator`). Eval and save steps are both 100 so that `load_best_model_at_end` can pick any saved checkpoint. Output goes to a separate directory so the run 1 adapter survives.
#
# The cells below free the GPU, reload a clean 4-bit base model (the one from run 1 has LoRA layers injected by `get_peft_model`), build the v2 config and collator, and train.

# %% id="Jm4Ev9Yf6RcW"
print("=" * 80)
print("SECOND TRAINING RUN: ASSISTANT-ONLY WITH AssistantOnlyCollator")
print("=" * 80)
print("""
Changes compared to run 1:   
  - collator   : AllTokensCollator -> AssistantOnlyCollator (labels only on the answer)
  - output dir : ./vlm_outputs/qwen2vl-nutrition-detection-lora-assistantonly
  - eval/save  : every 100 steps (was 50 / 300)
  - W&B run    : qwen2vl-7b-assistant-only  
Unchanged:
  - base model, 4-bit NF4 quantization, LoRA r=16 / alpha=32, lr 2e-5, 3 epochs
""")

# %% [markdown] id="Mg5Ko8Db3RwY"
# ### 🧹 Free the GPU
#
# Run 1’s trainer still holds the model, the optimizer state and a CUDA cache of several GB. Delete everything that references the old model before loading a new one, otherwise the second 4-bit model plus activations does not fit.

# %% id="Kd0Sf4Ix8PbY"
# 🧹 Free GPU memory from run 1 (trainer, models, optimizer state)
for _name in ["trainer", "model", "peft_model", "model_finetuned", "processor_finetuned"]:
    if _name in globals():
        del globals()[_name]
gc.collect()
torch.cuda.empty_cache()
torch.cuda.reset_peak_memory_stats()
print(f"🧹 GPU memory after cleanup: {torch.cuda.memory_allocated() / 1024**3:.2f} GB allocated, "
      f"{torch.cuda.memory_reserved() / 1024**3:.2f} GB reserved")

# %% id="Ax5Tm1Kc9OwR"
# Fresh 4-bit base model for run 2
model = Qwen2VLForConditionalGeneration.from_pretrained(
    model_id,
    device_map="auto",
    torch_dtype=torch.bfloat16,
    attn_implementation="sdpa",
    quantization_config=bnb_config,
)
processor = Qwen2VLProcessor.from_pretrained(model_id)
print(f"✅ Clean base model reloaded ({torch.cuda.memory_allocated() / 1024**3:.2f} GB)")

# %% [markdown] id="Vn4Qc1Ju7EyS"
# ### SFTConfig for run 2
#
# Copy of the run 1 config with a few deliberate changes:
#
# | setting | run 1 | run 2 |  
# |---|---|---|
# | `output_dir` | `…-lora` | `…-lora-assistantonly` |  
# | `eval_steps` / `save_steps` | 50 / 300 | 100 / 100 |  
# | `run_name` | `qwen2vl-nutrition-detection` | `qwen2vl-7b-assistant-only` |  
# | `dataset_text_field` | `""` | `None` |  
# | `label_names` | – | `["labels"]` |  
# | `packing` | – | `False` |  
#
# (`max_length`, `dataset_kwargs`, `push_to_hub` and `seed` are left at their defaults here – yes, this should be unified at some point.)

# %% id="Zs7Dg2Nb5HwU"
# SFTConfig for the second run (assistant-only) - separate output dir, eval/save every 100 steps

training_args_v2 = create_training_config(
    variant="v2-assistant-only",
    eval_steps=100,  # Fewer trained tokens -> eval less often than run 1
    save_steps=100,  # Same as eval_steps so the best checkpoint is always saved
)

print(f"✅ training_args_v2 ready -> {training_args_v2.output_dir} (run: {training_args_v2.run_name})")
print("SFTConfig for the assistant-only run created (eval/save every 100 steps)")

try:
    if wandb.run is not None:
        wandb.finish()
    wandb.init(
        project="qwen2vl-nutrition-detection",
        name="qwen2vl-v2-assistant-only",
        config={
            "model_id": model_id,
            "collator": "assistant-only",
            "learning_rate": training_args_v2.learning_rate,
            "num_train_epochs": training_args_v2.num_train_epochs,
            "eval_steps": training_args_v2.eval_steps,
            "save_steps": training_args_v2.save_steps,
        },
        tags=["qwen2-vl", "qlora", "object-detection", "assistant-only", "collator:v3"],
    )
    print(f"🚀 W&B run re-initialised: {wandb.run.name}")
except Exception as e:
    print(f"⚠️ W&B init failed ({e}) - continuing without a fresh run")

# %% [markdown] id="Ow3Rh9Ym1BfN"
# ### Build and test the v2 collator
#
# Debug is switched on for the first 5 samples so the first training steps print what is being trained. The expected line looks like `[AssistantOnlyCollator] Sample 0: 27 answer tokens / 1342 total (2.0% trained)`.

# %% id="Gi6Wq0Rv3EnK"
collate_fn_v2 = AssistantOnlyCollator(processor, model)
collate_fn_v2.debug = True
collate_fn_v2.max_debug = 5

print("✅ AssistantOnlyCollator instance created: collate_fn_v2")
print(f"   debug={collate_fn_v2.debug}, max_debug={collate_fn_v2.max_debug}")
print(f"   assistant header ids: {collate_fn_v2.assistant_header_ids}")

# %% id="Lc8Yn3Te0AsM"
print("🧪 Testing AssistantOnlyCollator on the test batch...")
test_output = collate_fn_v2(test_batch)
for _k, _v in test_output.items():
    print(f"   {_k:16s} {tuple(_v.shape)}")
_n_trained = int((test_output["labels"] != -100).sum())
print(f"   trained tokens in batch: {_n_trained}")
assert _n_trained > 0, "AssistantOnlyCollator produced no labels!"

# reset so the first training batches are printed too
collate_fn_v2.debug_count = 0

# %% id="Bw9Rx4Gm7LqA"
token_stats_v2 = analyze_token_distribution(collate_fn_v2, train_dataset)

# %%
token_stats_v2_eval = analyze_token_distribution(collate_fn_v2, eval_dataset, num_samples=2)

# %% [markdown] id="Fy6Lo1Ub4TcX"
# With `AssistantOnlyCollator` the answer is 100 % of the trained tokens (by construction), about 27 tokens per sample instead of ~150. The loss values of run 2 are therefore **not comparable** with run 1: they are averaged over far fewer, much harder tokens. Only the IoU comparison at the end is meaningful.

# %% id="Ep1Ij8Ko6SvD"
trainer_v2 = SFTTrainer(
    model=model,
    args=training_args_v2,
    train_dataset=train_dataset,
    eval_dataset=eval_dataset,
    data_collator=collate_fn_v2,  # AssistantOnlyCollator -> assistant-only labels
    processing_class=processor,
    peft_config=lora_config,
)
trainer_v2.model.print_trainable_parameters()

# Callbacks from the IoU experiments - too slow to run during training (generation every eval step)
# from src.utils.callbacks import IoUEvalCallback, GradNormCallback
# _iou_cb_v2 = IoUEvalCallback(processor=processor, eval_dataset=test_dataset, num_samples=20, every_n_evals=2)
# _grad_cb_v2 = GradNormCallback(log_every=10)
# trainer_v2.add_callback(_iou_cb_v2)
# trainer_v2.add_callback(_grad_cb_v2)
# print(f"Callbacks: {[type(cb).__name__ for cb in trainer_v2.callback_handler.callbacks]}")

# %% [markdown]
# ### Train run 2
#
# ~1 h 45 min on one H100. Watch the first five batches: `AssistantOnlyCollator` prints its debug lines there.

# %% id="Hv4Pa8Ct2UkL"
t0 = time.time()
train_result_v2 = trainer_v2.train() 
print(f"🚀 Run 2 (assistant-only) finished in {(time.time() - t0) / 60:.1f} min")
print(train_result_v2)

# %% id="Qg7Ej3Ws9RbN"
trainer_v2.save_model(training_args_v2.output_dir)
processor.save_pretrained(training_args_v2.output_dir)
print(f"✅ Run 2 adapter saved to {training_args_v2.output_dir}")
plot_loss_curves(trainer_v2.state.log_history, title="Run 2 (AssistantOnlyCollator, assistant-only)")

# %% [markdown] id="Ym5Tf0Xq8HdV"
# ## 11. Evaluate run 2 and compare
#
# Same protocol as for run 1: reload the base model in 4-bit, attach the run 2 adapter, generate on the same 50 test images.

# %% colab={"base_uri": "https://localhost:8080/"} id="Tn8Wd2Fa6YsB" outputId="8c3e91d2-5b7f-4a10-9e6d-2f4b1c7a0d35"
del trainer_v2
gc.collect()
torch.cuda.empty_cache()

model_finetuned_v2 = Qwen2VLForConditionalGeneration.from_pretrained(
    model_id,
    device_map="auto",
    torch_dtype=torch.bfloat16,
    attn_implementation="sdpa",
    quantization_config=bnb_config,
)
model_finetuned_v2 = PeftModel.from_pretrained(model_finetuned_v2, training_args_v2.output_dir, is_trainable=False)
processor_finetuned_v2 = Qwen2VLProcessor.from_pretrained(training_args_v2.output_dir)
print("✅ v2 model loaded (assistant-only adapter)")

metrics_v2, ious_v2 = evaluate_model(
    model_finetuned_v2, processor_finetuned_v2, test_dataset, num_samples=NUM_EVAL_SAMPLES, desc="v2 model"
)

print("=" * 60)
print("Model v2 (assistant-only) - test split")
print("=" * 60)
print(f"Mean IoU          : {metrics_v2['mean_iou']:.4f}")
print(f"Median IoU        : {metrics_v2['median_iou']:.4f}")
print(f"Acc@0.5           : {metrics_v2['acc_50']:.2%}")
print(f"Acc@0.75          : {metrics_v2['acc_75']:.2%}")
print(f"Parse failure rate: {metrics_v2['parse_failure_rate']:.2%}")


# %% id="Gy2Kp8Mw6HtR"
# =============================================================================
# DRAFT / LEGACY COLLATORS
# =============================================================================
# The following collators are kept for reference but are NOT used in training.
# =============================================================================

# Collator v1 + FlashAttention-2 workaround (bf16 pixel values, patched flash_attn_varlen_func)
class FlashAttentionPatchCollator:
    """
    LEGACY: Flash Attention dtype workaround.

    This was a workaround for Flash Attention 2 requiring bfloat16 pixel values.
    Since training now uses sdpa (not flash_attention_2), this is NOT needed.

    Kept for reference in case flash_attention_2 is used for inference.

    Same masking as AllTokensCollator, plus two workarounds for flash_attention_2:
    
      * pixel_values are cast to bfloat16 in __call__
      * flash_attn.flash_attn_varlen_func is wrapped so q/k/v are cast to the
        dtype FlashAttention expects (the vision tower sometimes runs in fp32)
    
    If flash_attn is not installed the patch is skipped with a warning and the
    collator behaves like AllTokensCollator + the bf16 cast.
    """
    
    def __init__(self, processor, model):
        self.processor = processor
        self.model = model
        self.tokenizer = processor.tokenizer
        self.image_placeholder = "IMAGE_PLACEHOLDER"
        self.call_count = 0
        self.flash_patched = False
        
        pad_token_id = self.tokenizer.pad_token_id
        if pad_token_id is None:
            pad_token_id = self.tokenizer.convert_tokens_to_ids("<|endoftext|>")
        self.masked_token_ids = [pad_token_id] + [
            self.tokenizer.convert_tokens_to_ids(token)
            for token in ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>")
        ]
        
        self._patch_flash_attention()
    
    def _patch_flash_attention(self):
        """Monkey-patch flash_attn_varlen_func so that fp32 inputs are cast to bf16."""
        try:
            import flash_attn
            from flash_attn import flash_attn_varlen_func as _original_varlen
        except ImportError:
            print("⚠️ flash_attn is not installed - skipping the FlashAttention dtype patch")
            return
        
        target_dtype = torch.bfloat16
        
        def _cast(tensor):
            if torch.is_tensor(tensor) and tensor.dtype not in (torch.float16, torch.bfloat16):
                return tensor.to(target_dtype)
            return tensor
        
        @staticmethod
        def _patched_varlen(q, k, v, *args, **kwargs):
            out = _original_varlen(_cast(q), _cast(k), _cast(v), *args, **kwargs)
            return out
        
        def _install(module):
            if getattr(module, "_vlm_dtype_patch", False):
                return False
            module.flash_attn_varlen_func = _patched_varlen
            module._vlm_dtype_patch = True
            return True
        
        self.flash_patched = _install(flash_attn)
        print(f"🔧 flash_attn_varlen_func patched: {self.flash_patched}")
    
    def _restore_images(self, example):
        image = example["image"]
        messages = []
        for message in example["messages"]:
            new_content = []
            for item in message["content"]:
                if item.get("type") == "image" or item.get("image") == self.image_placeholder:
                    new_content.append({"type": "image", "image": image})
                else:
                    new_content.append({k: v for k, v in item.items() if v is not None})
            messages.append({"role": message["role"], "content": new_content})
        return messages
    
    def __call__(self, batch):
        self.call_count += 1
        texts, images = [], []
        for example in batch:
            messages = self._restore_images(example)
            texts.append(self.processor.apply_chat_template(messages, tokenize=False))
            image_inputs, _ = process_vision_info(messages)
            if image_inputs:
                images.extend(image_inputs)
        
        model_inputs = self.processor(
            text=texts,
            images=images if images else None,
            return_tensors="pt",
            padding=True,
        )
        
        # FlashAttention-2 only accepts fp16 / bf16
        if "pixel_values" in model_inputs:
            model_inputs["pixel_values"] = model_inputs["pixel_values"].to(torch.bfloat16)
        
        labels = model_inputs["input_ids"].clone()
        for token_id in self.masked_token_ids:
            labels[labels == token_id] = -100
        model_inputs["labels"] = labels
        
        if self.call_count == 1:
            print(f"   [FlashAttentionPatchCollator] first batch: pixel_values dtype = {model_inputs['pixel_values'].dtype}")
        return model_inputs

print("✅ Fixed FlashAttentionPatchCollator created (FlashAttention-2 dtype workaround, not used with sdpa)")
