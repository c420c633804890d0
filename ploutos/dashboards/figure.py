"""The evaluation's equity image: one matplotlib figure kept and drawn again each time.

Building a Figure (axes, tick machinery, fonts) costs about as much as drawing it, and
laying out text is most of a drawing, so the figure is built once, its text and ticks are
few, and each evaluation only replaces the lines, the drawdown fill, the limits and the
title before Agg draws it. Everything matplotlib would place by measuring text at each
draw has a fixed place instead: the title, the axis labels (set_label_coords) and the
legend (two coloured labels, not a Legend box). What does not change between evaluations of
one split (frame, x axis and its dates, labels) is drawn once and kept as a background
(Agg's copy_from_bbox); a drawing restores it and draws only the data, the y axes and the
title on top (matplotlib's blitting). A bare Figure (no pyplot): nothing global to close, no display
backend. Not thread-safe: one EquityFigure belongs to one thread (the dashboards' worker).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from ploutos.dashboards.charts import EvaluationCharts

WIDTH, HEIGHT, DPI = 640, 360, 80


class EquityFigure:
    """Equity beside buy-and-hold (top) and the agent's drawdown (bottom)."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT, dpi: int = DPI) -> None:
        self.figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.top, self.bottom = self.figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]}
        )
        (self.agent,) = self.top.plot([], [], color="black", lw=1.6)
        (self.held,) = self.top.plot([], [], color="tab:blue", lw=1.0)
        # The legend, above the plot (left of the title), where no curve crosses it.
        labels = {"fontsize": 8, "transform": self.top.transAxes, "va": "bottom"}
        self.top.text(0.0, 1.02, "agent", color="black", **labels)
        self.held_label = self.top.text(0.08, 1.02, "buy and hold", color="tab:blue", **labels)
        self.title = self.top.set_title("", y=1.0)  # a fixed y: no placement pass per draw
        self.top.set_ylabel("equity")
        self.bottom.set_ylabel("drawdown (%)")
        for ax in (self.top, self.bottom):
            ax.yaxis.set_major_locator(MaxNLocator(4))
            ax.yaxis.set_label_coords(-0.095, 0.5)
            ax.grid(alpha=0.3)
        self.bottom.xaxis.set_major_locator(MaxNLocator(6, integer=True))
        self.bottom.xaxis.set_label_coords(0.5, -0.3)
        self.figure.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.14, hspace=0.08)
        self._fill: Any = None
        # Drawn at every evaluation, in this order; the rest is the kept background.
        self._changing: list[Artist] = [self.top.yaxis, self.bottom.yaxis, self.held,
                                        self.agent, self.title]  # fmt: skip
        for artist in self._changing:
            artist.set_animated(True)
        self._background: Any = None
        self._background_key: tuple | None = None

    def pixels(self, charts: EvaluationCharts, title: str) -> np.ndarray:
        """uint8 [H, W, 3]: one drawing serves every logger."""
        x = np.arange(len(charts.equity))
        self.agent.set_data(x, charts.equity)
        curves = [charts.equity]
        self.held.set_visible(charts.buy_and_hold is not None)
        self.held_label.set_visible(charts.buy_and_hold is not None)
        if charts.buy_and_hold is not None:
            self.held.set_data(x, charts.buy_and_hold)
            curves.append(charts.buy_and_hold)
        if self._fill is not None:
            self._fill.remove()
        drawdown = 100.0 * charts.drawdown
        self._fill = self.bottom.fill_between(
            x, drawdown, 0.0, color="tab:red", alpha=0.4, animated=True
        )
        self.top.set_xlim(0, max(len(x) - 1, 1))
        low, high = min(float(c.min()) for c in curves), max(float(c.max()) for c in curves)
        pad = 0.05 * (high - low) or 0.01 * abs(high) or 1.0
        self.top.set_ylim(low - pad, high + pad)
        self.bottom.set_ylim(min(float(drawdown.min()) * 1.05, -0.1), 0.0)
        self.title.set_text(title)
        self.bottom.set_xlabel(
            f"day of the {charts.split} split ({charts.dates[0]} to {charts.dates[-1]})"
        )
        key = (len(x), charts.split, charts.dates[0], charts.dates[-1], self.held.get_visible())
        if key != self._background_key:
            self.canvas.draw()  # everything but the animated artists
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
            self._background_key = key
        else:
            self.canvas.restore_region(self._background)
        for artist in (self._fill, *self._changing):
            self.figure.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def png_bytes(pixels: np.ndarray) -> bytes:
    """The image encoded once for both loggers; zlib level 1: a chart of flat colours
    compresses about as well as at the default level, in two thirds of the time."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()
