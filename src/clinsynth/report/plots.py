"""The report's figures as PNG bytes: loss curves, baseline-vs-augmented deltas, leakage histograms.

Matplotlib's object API on the Agg canvas (no pyplot, no global figure state). The bytes are stable run to
run: fixed size and dpi, bundled DejaVu fonts, no ``Software`` metadata in the PNG, a fixed ``svg.hashsalt``.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from clinsynth.report.compare import Comparison  # noqa: E402
from clinsynth.report.inputs import Curve  # noqa: E402

DPI = 100
STYLE = {"svg.hashsalt": "clinsynth-report", "font.family": "DejaVu Sans", "font.size": 9,
         "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3}
GOOD, BAD, NEUTRAL = "#1a7f37", "#cf222e", "#6e7781"
LEARNING_RATE = "learning_rate"  # a curve's series drawn on a second y axis (training histories)


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def curve_png(curve: Curve, y_label: str = "loss") -> bytes:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(6.4, 3.6))
        ax = fig.add_subplot()
        for name, points in curve.series.items():
            if name == LEARNING_RATE:
                continue
            xs, ys = zip(*points) if points else ((), ())
            ax.plot(xs, ys, label=name, linewidth=1.4, marker="o" if len(points) < 12 else None, markersize=3)
        ax.set(title=curve.name, xlabel=curve.x_label, ylabel=y_label)
        if curve.series.get(LEARNING_RATE):  # a training history's schedule: its own scale, on the right
            twin = ax.twinx()
            twin.plot(*zip(*curve.series[LEARNING_RATE]), color=NEUTRAL, linewidth=1.0, linestyle="--")
            twin.set_ylabel(LEARNING_RATE.replace("_", " "), color=NEUTRAL)
            twin.grid(False)
        if curve.series:
            ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        return _png(fig)


def confusion_png(curve: Curve) -> bytes:
    """Counts of (actual, predicted) pairs as a heatmap: actual codes as rows, predicted as columns (sorted)."""
    actual = sorted({a for a, _ in curve.pairs})
    predicted = sorted({p for _, p in curve.pairs})
    counts = [[0] * len(predicted) for _ in actual]
    for a, p in curve.pairs:
        counts[actual.index(a)][predicted.index(p)] += 1
    side = max(3.6, 0.22 * max(len(actual), len(predicted)) + 1.6)
    with matplotlib.rc_context(STYLE | {"axes.grid": False}):
        fig = Figure(figsize=(side + 0.8, side))
        ax = fig.add_subplot()
        image = ax.imshow(counts, cmap="Blues", aspect="auto")
        ax.set_xticks(range(len(predicted)), predicted, rotation=90, fontsize=6)
        ax.set_yticks(range(len(actual)), actual, fontsize=6)
        for i, row in enumerate(counts):
            for j, n in enumerate(row):
                if n:
                    ax.text(j, i, str(n), ha="center", va="center", fontsize=5,
                            color="white" if n > max(map(max, counts)) / 2 else "black")
        hits = sum(a == p for a, p in curve.pairs)
        ax.set(title=f"{curve.name} ({hits}/{len(curve.pairs)} on the diagonal)", xlabel="predicted",
               ylabel="actual")
        fig.colorbar(image, ax=ax, shrink=0.6)
        fig.tight_layout()
        return _png(fig)


def deltas_png(comparisons: list[Comparison], title: str) -> bytes:
    """Relative change (augmented vs baseline, %) per metric; green where the augmented run is better."""
    shown = [c for c in comparisons if c.relative is not None]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(6.4, max(1.6, 0.32 * len(shown) + 0.9)))
        ax = fig.add_subplot()
        labels = [c.metric for c in shown]
        values = [100 * c.relative for c in shown]
        colours = [GOOD if c.verdict == "better" else BAD if c.verdict == "worse" else NEUTRAL for c in shown]
        ax.barh(range(len(shown)), values, color=colours)
        ax.set_yticks(range(len(shown)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set(title=title, xlabel="augmented vs baseline (%)")
        fig.tight_layout()
        return _png(fig)


def histogram_png(panels: dict[str, dict[str, dict[str, int]]], title: str) -> bytes:
    """One panel per measure (``longest span``, ``overlap``), grouped bars per series (``train``, ``prompted source``);
    each series maps bucket labels to counts, in bucket order."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(6.4 * max(1, len(panels)) / 1.4, 3.2))
        for k, (measure, series) in enumerate(panels.items()):
            ax = fig.add_subplot(1, len(panels), k + 1)
            buckets = list(dict.fromkeys(b for counts in series.values() for b in counts))
            width = 0.8 / max(1, len(series))
            for j, (name, counts) in enumerate(series.items()):
                xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(buckets))]
                ax.bar(xs, [counts.get(b, 0) for b in buckets], width=width, label=name)
            ax.set_xticks(range(len(buckets)), buckets, rotation=30, fontsize=7)
            ax.set(title=measure, ylabel="records")
            if series:
                ax.legend(fontsize=7, frameon=False)
        fig.suptitle(title)
        fig.tight_layout()
        return _png(fig)
