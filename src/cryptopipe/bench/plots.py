"""PNG plots of a run: throughput per system (one chart per stage), latency against rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptopipe.bench.model import OURS


def _pyplot() -> Any:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def throughput(systems: list[dict[str, Any]], title: str, path: Path) -> Path:
    """Horizontal bars of trades/s per system; ours highlighted, wrong answers hatched."""
    plt = _pyplot()
    ran = [s for s in systems if s["trades_per_s"]]
    fig, ax = plt.subplots(figsize=(8, 0.7 * max(len(ran), 1) + 1.5))
    names = [s["system"] for s in ran]
    values = [s["trades_per_s"] for s in ran]
    colors = ["#d9534f" if s["system"] == OURS else "#5b7fa6" for s in ran]
    bars = ax.barh(names, values, color=colors)
    for bar, s in zip(bars, ran, strict=True):
        label = f" {s['trades_per_s']:,.0f}"
        if s["correct"] is False:
            bar.set_hatch("//")
            label += "  (WRONG candles)"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, label, va="center")
    ax.invert_yaxis()
    ax.set_xlabel("trades/s (higher is better)")
    ax.set_title(title)
    ax.set_xlim(0, max(values, default=1) * 1.45)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency(points: list[dict[str, Any]], path: Path) -> Path:
    """p50/p95/p99 of trade time -> MySQL commit against the offered rate (log x)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    rates = [p["rate"] for p in points]
    for key, style in (("p50_s", "o-"), ("p95_s", "s--"), ("p99_s", "^-.")):
        pairs = [(r, p[key]) for r, p in zip(rates, points, strict=True) if p[key] is not None]
        if pairs:
            ax.plot([r for r, _ in pairs], [v for _, v in pairs], style, label=key[:-2])
    ax.set_xscale("log")
    ax.set_xticks(rates, [f"{r:,.0f}" for r in rates])
    ax.minorticks_off()
    ax.set_xlabel("offered rate (trades/s)")
    ax.set_ylabel("trade time -> MySQL commit (s)")
    ax.set_title("End-to-end latency against rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw(results: dict[str, Any], out: Path) -> dict[str, str]:
    """Every plot of the run into ``out``; {stage: file name}."""
    made: dict[str, str] = {}
    for stage, section in results["stages"].items():
        name = f"{stage}.png"
        if stage == "e2e":
            points = [p for s in section["systems"] for p in s["points"]]
            if points:
                latency(points, out / name)
                made[stage] = name
        elif any(s["trades_per_s"] for s in section["systems"]):
            throughput(section["systems"], f"{stage}: same trades, same run", out / name)
            made[stage] = name
    return made
