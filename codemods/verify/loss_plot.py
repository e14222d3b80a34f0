"""The smoke run's loss curves as a PNG: one panel per variant, the migrated code against the code before.

Drawn with matplotlib's Agg backend (no display needed). The figure's panel titles and line
labels are returned too, so that the JSON report says what the picture shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def loss_curves(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"variant", "after": [...], "before": [...]}]`` for every variant that logged a loss."""
    curves = []
    for record in records:
        after = [float(v) for v in record.get("losses") or []]
        before = [float(v) for v in (record.get("parity") or {}).get("losses") or []]
        if after or before:
            curves.append({"variant": record.get("variant", "?"), "after": after, "before": before})
    return curves


def import_plotting() -> None:
    """Import matplotlib with its Agg backend; done on a thread while the smoke child trains."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.figure  # noqa: F401
    import matplotlib.ticker  # noqa: F401


def save_loss_plot(records: list[dict[str, Any]], path: Path, device: str = "") -> dict[str, Any] | None:
    """Write the PNG to ``path``; returns what it shows (titles, labels), or None when nothing trained."""
    curves = loss_curves(records)
    if not curves:
        return None
    import_plotting()
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5.0 * len(curves), 3.8), dpi=100, layout="constrained")
    axes = figure.subplots(1, len(curves), squeeze=False)[0]
    shown: dict[str, Any] = {"titles": [], "labels": [], "variants": []}
    for ax, curve in zip(axes, curves, strict=True):
        if curve["before"]:
            ax.plot(range(1, len(curve["before"]) + 1), curve["before"], "o-", color="tab:gray", label="before migration", linewidth=3, alpha=0.6)
        ax.plot(range(1, len(curve["after"]) + 1), curve["after"], "x--", color="tab:blue", label="after migration")
        ax.set_title(curve["variant"])
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        legend = ax.legend(loc="best", fontsize="small")
        shown["titles"].append(ax.get_title())
        shown["labels"].append([text.get_text() for text in legend.get_texts()])
        shown["variants"].append(curve["variant"])
    figure.suptitle(f"refactor verify: smoke-run losses{f' ({device})' if device else ''}")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    shown["path"] = str(path)
    return shown
