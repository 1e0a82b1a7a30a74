"""Pictures of a heatmap and its hotspots: in the terminal (text) and as a PNG (matplotlib).

Both mark peaks and cold spots with shapes and labels (▲ P1, ▼ C1), never with colour alone,
and number them as the dashboard does (web/hotspots.js): P1 is the strongest peak, C1 the
deepest cold spot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from moments.cli.common import SCORE_KEY
from moments.engagement.hotspots import Hotspot
from moments.stats.exports import hotspot_kind
from moments.timetext import mm_ss

BLOCKS = " ▁▂▃▄▅▆▇█"  # eighths of a row
MARKERS = {"peak": "▲", "cold": "▼"}
PREFIXES = {"peak": "P", "cold": "C"}
Y_LABEL_WIDTH = 5  # "100% "
AXIS = "┤"
PLOT_LEFT = Y_LABEL_WIDTH + len(AXIS)  # the column of the plot's first cell
MIN_WIDTH = 10


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed (the `plot` extra)."""


@dataclass(frozen=True)
class Labelled:
    hotspot: Hotspot
    kind: str  # peak | cold
    label: str  # P1, C2, ...


def labelled(hotspots: Sequence[Hotspot]) -> list[Labelled]:
    """Peaks strongest first (P1, P2...), then cold spots deepest first (C1, C2...)."""
    peaks = sorted((h for h in hotspots if hotspot_kind(h.score) == "peak"), key=lambda h: (-h.score, h.start_ms))
    colds = sorted((h for h in hotspots if hotspot_kind(h.score) == "cold"), key=lambda h: (h.score, h.start_ms))
    return [Labelled(h, kind, f"{PREFIXES[kind]}{i + 1}")
            for kind, group in (("peak", peaks), ("cold", colds)) for i, h in enumerate(group)]


# --- the terminal --------------------------------------------------------------------------

def column_of(ms: int, duration_ms: int, width: int) -> int:
    """The plot column (0-based, before the left margin) that shows media time `ms`."""
    return min(width - 1, max(0, ms * width // duration_ms))


def resample(values: Sequence[float], width: int) -> list[float]:
    """One value per column: the mean of the buckets the column covers (or the bucket under it)."""
    n = len(values)
    out = []
    for c in range(width):
        lo = c * n // width
        hi = max(lo + 1, (c + 1) * n // width)
        out.append(sum(values[lo:hi]) / (hi - lo))
    return out


def _cell(value: float, row_from_bottom: int, height: int) -> str:
    fill = min(1.0, max(0.0, value * height - row_from_bottom))
    return BLOCKS[round(fill * 8)]


def terminal_plot(values: Sequence[float], duration_ms: int, hotspots: Sequence[Hotspot], columns: int,
                  height: int = 10) -> str:
    """The curve as block characters (0..100% of viewers, bottom to top), the hotspots under it as
    ▲/▼ runs over their time ranges with their labels, an mm:ss axis, and a key.

    Column PLOT_LEFT + column_of(t) of every line is media time t."""
    width = max(MIN_WIDTH, columns - PLOT_LEFT - 1)
    shown = resample(values, width)
    lines = []
    for row in range(height - 1, -1, -1):
        top_share = (row + 1) / height
        label = f"{round(top_share * 100)}%" if row in (height - 1, height // 2 - 1) else ""
        lines.append(f"{label:>{Y_LABEL_WIDTH - 1}} {AXIS}" + "".join(_cell(v, row, height) for v in shown))
    spots = labelled(hotspots)
    marks, names = [" "] * width, [" "] * width
    for spot in spots:
        first = column_of(spot.hotspot.start_ms, duration_ms, width)
        last = max(first, column_of(spot.hotspot.end_ms - 1, duration_ms, width))
        for c in range(first, last + 1):
            marks[c] = MARKERS[spot.kind]
        for i, ch in enumerate(spot.label[:width - first]):
            names[first + i] = ch
    margin = " " * PLOT_LEFT
    lines.append(f"{'0%':>{Y_LABEL_WIDTH - 1}} └" + "─" * width)
    if spots:
        lines.append(margin + "".join(marks).rstrip())
        lines.append(margin + "".join(names).rstrip())
    end = mm_ss(duration_ms)
    lines.append(margin + "0:00" + end.rjust(width - 4))
    for spot in spots:
        h = spot.hotspot
        name = "peak" if spot.kind == "peak" else "cold spot"
        lines.append(f"{MARKERS[spot.kind]} {spot.label:<4}{name:<10}{mm_ss(h.start_ms)}-{mm_ss(h.end_ms)}"
                     f"  score {h.score:.3f}")
    lines.append(SCORE_KEY if spots else "no hotspots")
    return "\n".join(lines)


# --- PNG -----------------------------------------------------------------------------------

def write_png(path: Path, values: Sequence[float], duration_ms: int, hotspots: Sequence[Hotspot],
              title: str) -> None:
    """The curve with peaks (solid bands, ▲ P1) and cold spots (hatched bands, ▼ C1), as a PNG."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable("--png needs matplotlib: pip install 'moments[plot]'") from None
    matplotlib.use("Agg")  # no display needed
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    n = len(values)
    centres = [(i + 0.5) * duration_ms / n for i in range(n)]
    figure, axes = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        axes.fill_between(centres, values, color="#0b7285", alpha=0.25, linewidth=0)
        axes.plot(centres, values, color="#0b7285", linewidth=1.8, label="share of viewers")
        top = min(1.0, max(0.05, max(values, default=0) * 1.15))
        for spot in labelled(hotspots):
            h = spot.hotspot
            peak = spot.kind == "peak"
            axes.axvspan(h.start_ms, h.end_ms, color="#ea580c" if peak else "#1d4ed8", alpha=0.2 if peak else 0.12,
                         hatch=None if peak else "///", linewidth=0)
            axes.annotate(f"{MARKERS[spot.kind]} {spot.label}", ((h.start_ms + h.end_ms) / 2, top),
                          ha="center", va="bottom", fontsize=9, annotation_clip=False)
        axes.set_xlim(0, duration_ms)
        axes.set_ylim(0, top)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda ms, _: mm_ss(max(0.0, ms))))
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_xlabel("media time")
        axes.set_ylabel("viewers watching")
        axes.set_title(title, fontsize=10, pad=18)
        axes.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
