"""Shared look of the figures: block-type strips, layer ticks, saving as PNG and SVG.

Figures are built with :class:`matplotlib.figure.Figure` directly and rendered by the Agg
canvas, never through ``pyplot``: nothing is registered globally, no window can open, and
importing this module does not change the user's matplotlib backend.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import itertools
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from layertracer.atomic import atomic_write

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

DPI = 150
NOTEBOOK_DPI = 100  # figures shown in a notebook cell (``ReportFigure._repr_png_``)
# Block kinds (as :mod:`layertracer.model.layer_types` names them) in light colours, so that the
# strips read as background; data are drawn in DATA and ACCENT, runs in RUN_COLORS.
KIND_COLORS = {
    "embedding": "#d0d0d0",
    "attention": "#a6cee3",
    "mamba": "#fdbf6f",
    "mamba2": "#fb9a99",
    "gated_deltanet": "#b2df8a",
    "linear_attention": "#cab2d6",
    "conv": "#e5d8bd",
    "rwkv": "#fccde5",
    "recurrent": "#ffffb3",
    "hybrid-parallel": "#80b1d3",
    "unknown": "#f0f0f0",
}
OTHER_COLORS = ("#8dd3c7", "#bebada", "#d9d9d9", "#ccebc5", "#ffed6f", "#bc80bd")
DATA = "#1f2a44"  # curves and bars of one run
ACCENT = "#d62728"  # chosen layers: particle, vulnerable, critical
UNSTABLE = "#b8860b"  # a vulnerable layer that is not stable across seeds
RUN_COLORS = ("#1f4e9c", "#c0392b", "#1e8449", "#7d3c98", "#b9770e", "#17202a", "#c2185b")
RC: dict[RcKeyType, Any] = {
    "text.parse_math": False,  # prompts and tokens may contain "$"
    "svg.hashsalt": "layertracer",  # stable SVG ids: a rebuilt report is identical
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


# Fonts tried after DejaVu Sans for glyphs it lacks (CJK tokens), where installed.
FALLBACK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)


@functools.cache
def _font_family() -> list[str]:
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in FALLBACK_FONTS if name in installed)]


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The figures' matplotlib settings for the block only; missing glyphs are not warned."""
    with matplotlib.rc_context({**RC, "font.family": _font_family()}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        yield


class ReportFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` of layertracer's that shows itself as an image
    in Jupyter and IPython (``_repr_png_``), without ``%matplotlib inline`` or pyplot."""

    def _repr_png_(self) -> bytes:
        """The figure as PNG at :data:`NOTEBOOK_DPI` (what a notebook cell shows)."""
        return png(self, NOTEBOOK_DPI)


def kind_color(kind: str) -> str:
    """The colour of a block kind (``attention+moe`` takes the colour of ``attention``)."""
    base = kind.split("+")[0]
    if base in KIND_COLORS:
        return KIND_COLORS[base]
    return OTHER_COLORS[sum(map(ord, base)) % len(OTHER_COLORS)]


def layer_figure(
    width: float, height: float, rows: int = 1, side: float = 0.0
) -> tuple[Figure, Axes, Axes, Axes | None]:
    """A figure with a main axes and, under it, a thin strip axes for ``rows`` strips.

    The two share the x axis; the strip carries the layer tick labels. With ``side > 0``
    a third axes of that relative width spans both on the right (for a table).
    """
    fig = ReportFigure(figsize=(width, height), layout="constrained")
    strip_h = 0.18 * rows / max(height - 1.2, 1.0)
    grid = fig.add_gridspec(
        2,
        2 if side else 1,
        height_ratios=[1.0, strip_h],
        width_ratios=[1.0, side] if side else None,
    )
    ax = fig.add_subplot(grid[0, 0])
    strip = fig.add_subplot(grid[1, 0], sharex=ax)
    ax.tick_params(labelbottom=False)
    return fig, ax, strip, fig.add_subplot(grid[:, 1]) if side else None


def draw_strip(
    strip: Axes,
    rows: Sequence[Sequence[str]],
    labels: Sequence[str] | None = None,
    relative: bool = False,
) -> list[str]:
    """Draws one row of coloured cells per run, one cell per layer state.

    Args:
        strip: The strip axes.
        rows: Per run, the kind of every layer state (``embedding`` first).
        labels: Row labels (left of the strip); none for a single row.
        relative: Place cell ``i`` of a run with ``L`` blocks at ``i / L`` instead of ``i``.

    Returns:
        The kinds drawn, in order of first appearance (for the legend).
    """
    for r, states in enumerate(rows):
        L = max(len(states) - 1, 1)
        edges = np.arange(len(states) + 1) - 0.5  # cell i spans [i - 0.5, i + 0.5]
        if relative:  # ... at i / L, clipped to the depth axis [0, 1]
            edges = np.clip(edges / L, 0.0, 1.0)
        runs = [(k, len(list(g))) for k, g in itertools.groupby(states)]  # one bar per run
        starts = np.cumsum([0] + [n for _, n in runs])
        strip.bar(
            edges[starts[:-1]],
            0.9,
            width=edges[starts[1:]] - edges[starts[:-1]],
            bottom=-r - 0.45,
            align="edge",
            color=[kind_color(k) for k, _ in runs],
            linewidth=0,
        )
    strip.set_ylim(-len(rows) + 0.5, 0.5)
    strip.set_yticks([-r for r in range(len(rows))], labels or ["block type"], fontsize=7)
    strip.tick_params(axis="y", length=0)
    for side in ("left", "top", "right"):
        strip.spines[side].set_visible(False)
    return list(dict.fromkeys(kind for states in rows for kind in states))


def strip_legend(fig: Figure, kinds: Sequence[str], extra: Sequence[Artist] = ()) -> None:
    """Legend of block kinds (and any ``extra`` handles) under the figure."""
    handles = [*extra, *(Patch(color=kind_color(k), label=k) for k in kinds)]
    longest = max((len(str(h.get_label())) for h in handles), default=1)
    fits = int(fig.get_figwidth() // (0.075 * longest + 0.6))  # entry ≈ marker + text, inches
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=max(1, min(len(handles), fits, 6)),
        fontsize=8,
        frameon=False,
    )


def set_layer_ticks(ax: Axes, num_layers: int) -> None:
    """Integer ticks on the layer axis: every layer up to 40 layers, else every n-th."""
    step = 1 if num_layers <= 40 else (2 if num_layers <= 80 else 5)
    ax.set_xticks(range(0, num_layers + 1, step))
    ax.set_xlim(-0.5, num_layers + 0.5)
    ax.tick_params(axis="x", labelsize=7 if num_layers > 24 else 8)


def png(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure rendered as PNG by the Agg canvas (no file, no pyplot)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def save(fig: Figure, out_dir: Path, name: str) -> bytes:
    """Writes ``name.png`` (150 dpi) and ``name.svg`` into ``out_dir``, each atomically;
    returns the PNG bytes."""
    png_bytes = png(fig)
    atomic_write(out_dir / f"{name}.png", png_bytes)  # a kill never leaves half a figure
    fig.set_layout_engine("none")  # keep the layout just computed: the SVG matches the PNG
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    atomic_write(out_dir / f"{name}.svg", svg.getvalue())
    return png_bytes


def data_uri(png: bytes) -> str:
    """A ``data:`` URI embedding a PNG in the HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def shorten(text: object, width: int = 28) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"
