"""Draw one panel's data as a PNG with matplotlib (pure: data in, PNG bytes out)."""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cryptopipe.report.fetch import Series

logger = logging.getLogger(__name__)

WIDTH_PX, HEIGHT_PX, DPI = 900, 320, 100
UNIT_LABEL = {
    "s": "seconds",
    "ops": "per second",
    "percentunit": "ratio",
    "short": "",
    "currencyUSD": "price",
}


def _figure() -> Figure:
    """A figure of the fixed PNG size; margins are fixed per kind (tight_layout costs a third
    of the drawing time)."""
    return plt.figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # fixed size: no bbox_inches="tight"
    plt.close(fig)
    return buf.getvalue()


def _times(ts: Sequence[float]) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in ts]


def _time_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    ax.grid(True, alpha=0.3)


def timeseries(title: str, unit: str | None, series: Sequence[Series]) -> bytes:
    fig = _figure()
    ax = fig.add_subplot()
    for s in series:
        when = mdates.date2num(_times(s.times))  # type: ignore[no-untyped-call]
        ax.plot(when, s.values, label=s.name, linewidth=1.2)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(UNIT_LABEL.get(unit or "", unit or ""))
    ax.xaxis_date()
    _time_axis(ax)
    if len(series) <= 12:
        ax.legend(fontsize=7, loc="upper left")
    fig.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.12)
    return _png(fig)


def _le(s: Series) -> float:
    return float(s.labels.get("le", "inf").replace("+Inf", "inf"))


def bucket_counts(
    series: Sequence[Series],
) -> tuple[list[str], list[float], list[list[float]]]:
    """Cumulative ``le`` bucket rates -> (bucket labels, times, per-bucket rate per time)."""
    buckets = sorted(series, key=_le)
    times = sorted({t for s in buckets for t in s.times})
    index = {t: i for i, t in enumerate(times)}
    cumulative = [[0.0] * len(times) for _ in buckets]
    for row, s in zip(cumulative, buckets, strict=True):
        for t, v in zip(s.times, s.values, strict=True):
            row[index[t]] = v
    counts = [
        [max(0.0, cur - prev) for cur, prev in zip(c, p, strict=True)]
        for c, p in zip(cumulative, [[0.0] * len(times), *cumulative[:-1]], strict=True)
    ]
    return [s.labels.get("le", "?") for s in buckets], times, counts


def heatmap(title: str, series: Sequence[Series]) -> bytes:
    """Cumulative ``le`` buckets (rates) drawn as per-bucket rates over time, as Grafana does."""
    labels, times, counts = bucket_counts(series)
    fig = _figure()
    ax = fig.add_subplot()
    mesh = ax.imshow(counts, aspect="auto", origin="lower", cmap="inferno", interpolation="none")
    step = max(1, len(labels) // 10)
    ax.set_yticks(range(0, len(labels), step), labels[::step], fontsize=7)
    ax.set_ylabel("bucket upper bound (s)")
    ticks = list(range(0, len(times), max(1, len(times) // 6)))
    ax.set_xticks(ticks, [_times([times[i]])[0].strftime("%H:%M") for i in ticks])
    ax.set_title(title, fontsize=10)
    fig.colorbar(mesh, ax=ax, label="per second")
    fig.subplots_adjust(left=0.1, right=1.0, top=0.9, bottom=0.12)
    return _png(fig)


def bars(title: str, unit: str | None, series: Sequence[Series]) -> bytes:
    """A stat or table panel: the latest value of every series."""
    fig = _figure()
    ax = fig.add_subplot()
    names = [s.name for s in series]
    values = [s.values[-1] for s in series]
    ax.barh(names, values, color="#3274d9")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.4g}", va="center", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(UNIT_LABEL.get(unit or "", unit or ""))
    ax.tick_params(axis="y", labelsize=8)
    fig.subplots_adjust(left=0.24, right=0.95, top=0.9, bottom=0.14)
    return _png(fig)


def candles(
    title: str, times: Sequence[float], ohlc: Sequence[tuple[float, float, float, float]]
) -> bytes:
    """Candlesticks: a high-low wick and an open-close body, green up and red down."""
    fig = _figure()
    ax = fig.add_subplot()
    when = mdates.date2num(_times(times))  # type: ignore[no-untyped-call]
    width = (min(b - a for a, b in itertools.pairwise(when)) if len(when) > 1 else 1e-3) * 0.7
    for x, (o, h, low, c) in zip(when, ohlc, strict=True):
        color = "#299c46" if c >= o else "#d44a3a"
        ax.vlines(x, low, h, color=color, linewidth=1)
        ax.bar(x, abs(c - o) or (h - low) * 0.02 or 1e-9, width, bottom=min(o, c), color=color)
    ax.xaxis_date()
    _time_axis(ax)
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("price")
    fig.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.12)
    return _png(fig)
