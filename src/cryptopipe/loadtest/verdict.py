"""The verdict of a load test: what was sent, what landed, the audit, both latencies, lag, the
capacity (step), spike recovery and each SLO over the run. Reading the inputs (Locust's final
statistics, Prometheus) is separate from assembling them (pure, unit-tested)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptopipe.loadtest import plan as names
from cryptopipe.slo.spec import WINDOW_RE, SpecSet
from cryptopipe.slo.status import StatusError, query

logger = logging.getLogger(__name__)

E2E_HISTOGRAM = "cryptopipe_processor_end_to_end_latency_seconds_bucket"
QUANTILES = (0.5, 0.95, 0.99)
# Fields every verdict.json carries (the tests check them)
VERDICT_FIELDS = (
    "ok",
    "reasons",
    "run",
    "trades_sent",
    "malformed_sent",
    "trades_on_topic",
    "trades_in_mysql",
    "audit",
    "capacity",
    "latency",
    "processor_e2e_histogram_s",
    "peak_lag",
    "peak_rss_mb",
    "spike_recovery_s",
    "slos",
    "slos_held",
)


@dataclass(frozen=True)
class LatencyStats:
    """One of Locust's request entries (milliseconds)."""

    request_type: str
    name: str
    count: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def locust_percentile(response_times: dict[str, int], count: int, share: float) -> float | None:
    """A percentile of Locust's rounded response-time histogram, as Locust itself computes it
    (so the verdict and Locust's HTML report agree): walking down from the slowest, the first
    time by which at most ``count * share`` requests (rounded down) are left below."""
    if count <= 0 or not response_times:
        return None
    below, keep = count, int(count * share)
    for ms, n in sorted(((float(ms), n) for ms, n in response_times.items()), reverse=True):
        below -= n
        if below <= keep:
            return ms
    return None


def read_locust_stats(path: Path) -> list[LatencyStats]:
    """Locust's ``--json-file``: one entry per request name, written at shutdown from the
    runner's final statistics. (The ``_stats.csv`` is rewritten once a second, so it can miss
    the last second's requests: CI saw 156 of 37,620 deliveries missing from it.)"""
    out = []
    for entry in json.loads(path.read_text()):
        count, times = int(entry["num_requests"]), entry.get("response_times") or {}
        out.append(
            LatencyStats(
                entry["method"] or "",
                entry["name"],
                count,
                int(entry["num_failures"]),
                locust_percentile(times, count, 0.50),
                locust_percentile(times, count, 0.95),
                locust_percentile(times, count, 0.99),
            )
        )
    return out


@dataclass
class SLOResult:
    slo: str
    labels: dict[str, str]
    objective_percent: float
    error_ratio: float | None  # over the run; None: no events in the run
    met: bool | None  # None: no data over the run
    note: str = ""


def _window(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"


def _by_labels(samples: Iterable[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s["metric"].items())): float(s["value"][1])
        for s in samples
        if math.isfinite(float(s["value"][1]))
    }


NO_PRODUCER = "not applicable: no producer on the kafka target (the SLIs count its trades)"


def judge_slos(
    base_url: str,
    specs: SpecSet,
    symbols: Sequence[str],
    start: float,
    end: float,
    *,
    producer: bool = True,
) -> list[SLOResult]:
    """Each SLO's error ratio over [start, end]: its own SLI queries with the run as the window,
    evaluated at ``end``; series of other symbols than the run's are left out. Without a
    producer (kafka target) every SLO of ours is not applicable: each SLI counts what the
    producer received or accepted."""
    window = _window(end - start)
    wanted = set(symbols)
    out: list[SLOResult] = []
    for slo in specs.slos:
        if not producer:
            out.append(SLOResult(slo.id, {}, slo.objective, None, None, NO_PRODUCER))
            continue
        budget = 1 - slo.objective / 100
        if slo.error_query is not None and slo.total_query is not None:
            errors = _by_labels(query(base_url, WINDOW_RE.sub(window, slo.error_query), end))
            totals = _by_labels(query(base_url, WINDOW_RE.sub(window, slo.total_query), end))
        elif slo.error_ratio_query is not None:
            totals = _by_labels(query(base_url, WINDOW_RE.sub(window, slo.error_ratio_query), end))
            errors = dict(totals)
            totals = dict.fromkeys(totals, 1.0)
        else:
            continue
        series = [k for k in totals if dict(k).get("symbol", "") in wanted | {""}]
        if not series:
            out.append(SLOResult(slo.id, {}, slo.objective, None, None, "no data over the run"))
            continue
        for key in series:
            total = totals[key]
            if total <= 0:
                out.append(SLOResult(slo.id, dict(key), slo.objective, None, None, "no events"))
                continue
            ratio = errors.get(key, 0.0) / total
            out.append(SLOResult(slo.id, dict(key), slo.objective, ratio, ratio <= budget))
    return out


def _le_matcher(threshold_s: float) -> str:
    """A PromQL string (its escapes doubled) matching the ``le`` label of a bucket bound: the
    Python client writes 5 as ``5.0``."""
    text = f"{threshold_s:g}"
    return f"{text}(\\\\.0)?" if "." not in text and "e" not in text else text.replace(".", "\\\\.")


def latency_from_histogram(
    base_url: str, specs: SpecSet, start: float, end: float, threshold_s: float
) -> list[SLOResult]:
    """The kafka target's latency verdict: the share of the processor's trades committed within
    ``threshold_s`` of their trade time (its histogram over the run and the drain), against the
    objective of the latency SLO (the SLO itself counts the producer's trades: none here)."""
    latency = [slo for slo in specs.slos if slo.name == "latency"]
    if not latency:
        return []
    window = _window(end - start)
    hist = E2E_HISTOGRAM.removesuffix("_bucket")
    le = _le_matcher(threshold_s)
    within = f'sum(increase({E2E_HISTOGRAM}{{le=~"{le}"}}[{window}]))'
    every = f"sum(increase({hist}_count[{window}]))"
    total = _by_labels(query(base_url, every, end))
    good = _by_labels(query(base_url, within, end))
    slo = latency[0]
    name = f"{slo.id} (processor histogram, <= {threshold_s:g}s)"
    count = sum(total.values())
    if count <= 0:
        return [SLOResult(name, {}, slo.objective, None, None, "no trades committed")]
    ratio = 1 - sum(good.values()) / count
    return [SLOResult(name, {}, slo.objective, ratio, ratio <= 1 - slo.objective / 100)]


def histogram_quantiles(base_url: str, start: float, end: float) -> dict[str, float | None]:
    """The processor's trade time -> MySQL commit histogram over the run (all its trades)."""
    window = _window(end - start)
    out: dict[str, float | None] = {}
    for q in QUANTILES:
        promql = f"histogram_quantile({q}, sum by (le) (increase({E2E_HISTOGRAM}[{window}])))"
        try:
            samples = query(base_url, promql, end)
        except StatusError as exc:
            logger.warning("e2e histogram: %s", exc)
            samples = []
        value = float(samples[0]["value"][1]) if samples else math.nan
        out[f"p{round(q * 100)}"] = value if math.isfinite(value) else None
    return out


def spike_recovery_s(
    timeline: Sequence[dict[str, float | None]], spike_end_s: float, trades_per_trigger: float
) -> float | None:
    """Seconds after the spike's end until the lag is back to one trigger's worth of trades."""
    for point in timeline:
        t, lag = point.get("t"), point.get("lag")
        if t is not None and lag is not None and t >= spike_end_s and lag <= trades_per_trigger:
            return round(t - spike_end_s, 1)
    return None


@dataclass
class Inputs:
    """Everything the verdict is made of, as read after the run."""

    run: dict[str, Any]
    result: dict[str, Any]  # Locust's process's locust-result.json
    stats: list[LatencyStats]
    audit: dict[str, Any] | None  # AuditReport.to_json(), None when the audit failed to run
    audit_error: str | None
    slos: list[SLOResult]
    slo_error: str | None
    e2e_histogram: dict[str, float | None]
    peak_lag: float | None
    spike_recovery_s: float | None
    locust_exit_code: int
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # by service, process group
    reasons: list[str] = field(default_factory=list)


def _audit_counts(audit: dict[str, Any] | None, symbols: set[str]) -> tuple[int, int]:
    """Distinct trades on the topic and trades in MySQL of the run's symbols (1s candles)."""
    on_topic = in_mysql = 0
    for r in (audit or {}).get("results", []):
        if r["symbol"] in symbols and r["interval"] == "1s":
            on_topic += r["topic_distinct"]
            in_mysql += r["candle_trades"] + r["late_trades"]
    return on_topic, in_mysql


def assemble(inputs: Inputs) -> dict[str, Any]:
    result = inputs.result
    symbols = set(result.get("symbols", []))
    on_topic, in_mysql = _audit_counts(inputs.audit, symbols)
    reasons = list(inputs.reasons)
    if inputs.locust_exit_code not in (0, 1):  # 1: some requests failed (judged below)
        reasons.append(f"Locust exited with {inputs.locust_exit_code}")
    audit_ok = bool(inputs.audit and inputs.audit.get("ok"))
    if inputs.audit_error:
        reasons.append(f"audit failed to run: {inputs.audit_error}")
    elif not audit_ok:
        problems = [
            f"{r['symbol']} {r['interval']}: {'; '.join(r['problems'])}"
            for r in (inputs.audit or {}).get("results", [])
            if not r["ok"]
        ] + list((inputs.audit or {}).get("rejected", {}).get("problems", []))
        reasons.append("audit incomplete: " + ("; ".join(problems) or "no trades of the run"))
    sent = int(result.get("trades_sent", 0))
    if sent and on_topic != sent - int(result.get("post_failures", 0)):
        reasons.append(f"{sent} trades sent but {on_topic} on the topic")
    failed = [s for s in inputs.stats if s.failures]
    reasons.extend(f"{s.failures} failed {s.request_type} '{s.name}' requests" for s in failed)
    if inputs.slo_error:
        reasons.append(f"SLOs not judged: {inputs.slo_error}")
    broken = [s for s in inputs.slos if s.met is False]
    reasons.extend(
        f"SLO {s.slo}{' ' + str(s.labels) if s.labels else ''} not met over the run: "
        f"error ratio {s.error_ratio:.4f} > budget {1 - s.objective_percent / 100:.4f}"
        for s in broken
        if s.error_ratio is not None
    )
    capacity = None
    if result.get("shape") == "step":
        capacity = {
            "trades_per_s": result.get("capacity"),
            "limited_by": result.get("capacity_limited_by"),
            "steps": result.get("steps", []),
        }
    return {
        "ok": not reasons,
        "reasons": reasons,
        "run": inputs.run,
        "trades_sent": sent,
        "malformed_sent": int(result.get("malformed_sent", 0)),
        "trades_on_topic": on_topic,
        "trades_in_mysql": in_mysql,
        "audit": {
            "complete": audit_ok,
            "error": inputs.audit_error,
            "rejected_of_run": sum(
                sum(c.values())
                for s, c in (inputs.audit or {}).get("rejected", {}).get("by_symbol", {}).items()
                if s in symbols
            ),
            "report": inputs.audit,
        },
        "capacity": capacity,
        "latency": {f"{s.request_type} {s.name}": asdict(s) for s in inputs.stats},
        "processor_e2e_histogram_s": inputs.e2e_histogram,
        "peak_lag": inputs.peak_lag,
        "peak_rss_mb": inputs.peak_rss_mb,
        "spike_recovery_s": inputs.spike_recovery_s,
        "slos": [asdict(s) for s in inputs.slos],
        "slos_held": not broken and not inputs.slo_error,
    }


def _f(value: Any, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def render_summary(verdict: dict[str, Any]) -> str:
    run = verdict["run"]
    lines = [
        f"# Load test: {run['shape']} at {run['rate']:g} trades/s, target {run['target']}",
        "",
        f"**{'PASSED' if verdict['ok'] else 'FAILED'}**"
        + ("" if verdict["ok"] else ": " + "; ".join(verdict["reasons"])),
        "",
        f"- duration {run['duration_s']:g}s, symbols {', '.join(run['symbols'])}",
        f"- trades sent {verdict['trades_sent']:,}, malformed sent {verdict['malformed_sent']:,}",
        f"- trades on crypto.trades {verdict['trades_on_topic']:,}, "
        f"in MySQL {verdict['trades_in_mysql']:,}",
        f"- audit: {'complete' if verdict['audit']['complete'] else 'NOT complete'}"
        f" ({verdict['audit']['rejected_of_run']} rejected messages of the run)",
        f"- peak lag {_f(verdict['peak_lag'])} offsets",
        "- peak resident memory: "
        + (", ".join(f"{k} {v:,.0f} MB" for k, v in verdict["peak_rss_mb"].items()) or "-"),
    ]
    if verdict["capacity"] is not None:
        cap = verdict["capacity"]
        lines.append(
            f"- capacity {_f(cap['trades_per_s'])} trades/s (limited by {cap['limited_by']})"
        )
        lines.extend(
            f"  - step {s['rate_per_s']:,.0f}/s: {'held' if s['held'] else 'NOT held'}"
            f"{' — ' + s['why'] if s['why'] else ''}"
            for s in cap["steps"]
        )
    if run["shape"] == "spike":
        lines.append(f"- spike recovery {_f(verdict['spike_recovery_s'], '{:.1f}s')}")
    lines += ["", "| request | count | failures | p50 ms | p95 ms | p99 ms |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for key, s in verdict["latency"].items():
        lines.append(
            f"| {key} | {s['count']:,} | {s['failures']:,} | {_f(s['p50_ms'])} |"
            f" {_f(s['p95_ms'])} | {_f(s['p99_ms'])} |"
        )
    h = verdict["processor_e2e_histogram_s"]
    lines += [
        "",
        "Processor's end-to-end histogram over the run (all its trades): "
        f"p50 {_f(h.get('p50'), '{:.2f}s')}, p95 {_f(h.get('p95'), '{:.2f}s')}, "
        f"p99 {_f(h.get('p99'), '{:.2f}s')}",
        "",
        "| SLO | labels | objective | error ratio over the run | met |",
        "|---|---|---:|---:|---|",
    ]
    for s in verdict["slos"]:
        met = {True: "yes", False: "NO", None: f"no data ({s['note']})"}[s["met"]]
        labels = ",".join(f"{k}={v}" for k, v in s["labels"].items()) or "-"
        lines.append(
            f"| {s['slo']} | {labels} | {s['objective_percent']:g}% |"
            f" {_f(s['error_ratio'], '{:.5f}')} | {met} |"
        )
    return "\n".join(lines) + "\n"


def write(out: Path, verdict: dict[str, Any]) -> None:
    import json  # noqa: PLC0415

    (out / names.VERDICT_FILE).write_text(json.dumps(verdict, indent=2, default=str))
    (out / names.SUMMARY_FILE).write_text(render_summary(verdict))
