"""Live progress of a running pipeline, read from the services' own /metrics endpoints."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, timeout_s: float = 2.0) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of a /metrics endpoint by name ({} when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    return parse(text)


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float | None:
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
    prod = scrape(producer_url)
    proc = scrape(processor_url)
    fresh = proc.get("cryptopipe_processor_freshness_seconds")
    return Snapshot(
        at=at,
        produced=total(prod, "cryptopipe_producer_trades_produced_total"),
        # a labelled counter has no samples until its first record: answered means 0
        dlq=total(prod, "cryptopipe_producer_dlq_records_total") or (0.0 if prod else None),
        accepted=total(proc, "cryptopipe_processor_accepted_rows_total"),
        lag=total(proc, "cryptopipe_processor_kafka_offsets_behind_latest"),
        freshness_max_s=max((v for _, v in fresh), default=None) if fresh else None,
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
