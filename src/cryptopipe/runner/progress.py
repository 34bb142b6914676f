"""Live progress of a running pipeline, read from the services' own /metrics endpoints."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str, timeout_s: float = 2.0) -> Samples:
    """Samples of a /metrics endpoint by name ({} when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    return parse(text)


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def total(samples: Samples, name: str) -> float | None:
    values = samples.get(name)
    return sum(v for _, v in values) if values else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Counters and gauges at one moment."""

    at: float
    produced: float | None
    dlq: float | None
    accepted: float | None
    lag: float | None
    freshness_max_s: float | None


def snapshot(at: float, producer_url: str, processor_url: str) -> Snapshot:
    return snapshot_of(at, scrape(producer_url), scrape(processor_url))


def snapshot_of(at: float, prod: Samples, proc: Samples) -> Snapshot:
    """A snapshot from scraped samples. Freshness is the worst of the symbols this run's
    producer trades: the processor also serves the last freshness of every symbol it ever
    committed (restored from MySQL at start), and a symbol no longer produced only ages."""
    fresh = proc.get("cryptopipe_processor_freshness_seconds") or []
    produced_symbols = {
        labels["symbol"]
        for labels, _ in prod.get("cryptopipe_producer_trades_accepted_total", [])
        if "symbol" in labels
    }
    if produced_symbols:
        fresh = [(labels, v) for labels, v in fresh if labels.get("symbol") in produced_symbols]
    return Snapshot(
        at=at,
        produced=total(prod, "cryptopipe_producer_trades_produced_total"),
        # a labelled counter has no samples until its first record: answered means 0
        dlq=total(prod, "cryptopipe_producer_dlq_records_total") or (0.0 if prod else None),
        accepted=total(proc, "cryptopipe_processor_accepted_rows_total"),
        lag=total(proc, "cryptopipe_processor_kafka_offsets_behind_latest"),
        freshness_max_s=max((v for _, v in fresh), default=None),
    )


def _rate(new: float | None, old: float | None, seconds: float) -> str:
    if new is None or old is None or seconds <= 0:
        return "-"
    return f"{(new - old) / seconds:,.0f}/s"


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def format_line(old: Snapshot, new: Snapshot) -> str:
    """One status line: rates since the last snapshot, lag and freshness now."""
    dt = new.at - old.at
    return (
        f"produced {_num(new.produced)} ({_rate(new.produced, old.produced, dt)})  "
        f"in MySQL {_num(new.accepted)} ({_rate(new.accepted, old.accepted, dt)})  "
        f"lag {_num(new.lag)} offsets  "
        f"freshness {_num(new.freshness_max_s, '{:.1f}s')}  "
        f"dlq {_num(new.dlq)}"
    )
