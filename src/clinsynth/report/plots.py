"""The report's figures as PNG bytes: loss curves, confusion matrices, baseline-vs-augmented deltas, leakage
histograms.

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
from clinsynth.report.inputs import Confusion, Curve  # noqa: E402

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


def confusion_png(confusion: Confusion) -> bytes:
    """A heatmap of counts, each cell labelled; rows are the gold label, columns the predicted one."""
    n = len(confusion.labels)
    with matplotlib.rc_context(STYLE):
        side = min(9.0, 2.5 + 0.55 * n)
        fig = Figure(figsize=(side, side * 0.85))
        ax = fig.add_subplot()
        ax.grid(False)
        ax.imshow(confusion.counts, cmap="Blues")
        top = max((c for row in confusion.counts for c in row), default=0)
        for i, row in enumerate(confusion.counts):
            for j, count in enumerate(row):
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > top / 2 else "black")
        ax.set_xticks(range(n), confusion.labels, rotation=45, ha="right")
        ax.set_yticks(range(n), confusion.labels)
        ax.set(title=confusion.name, xlabel="predicted", ylabel="actual")
        fig.tight_layout()
        return _png(fig)


def plot_png(plot: Curve | Confusion) -> bytes:
    """The figure of one plot file: a heatmap for a confusion matrix, else its curves."""
    return confusion_png(plot) if isinstance(plot, Confusion) else curve_png(plot)


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
