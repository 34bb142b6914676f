"""`cryptopipe audit`: prove that every trade on the topic is counted exactly once in MySQL."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from cryptopipe.audit.core import UNKNOWN_SYMBOL
from cryptopipe.audit.settings import AuditSettings
from cryptopipe.cli_settings import build_settings

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2


def render_table(report: Any) -> str:
    header = (
        "SYMBOL",
        "INTERVAL",
        "TOPIC MSGS",
        "DUPES",
        "DISTINCT",
        "FIRST ID",
        "LAST ID",
        "MISSING IDS",
        "IN MYSQL",
        "LATE",
        "REJECTED",
        "STATUS",
    )
    rows = [
        (
            r.symbol,
            r.interval,
            str(r.topic_messages),
            str(r.topic_duplicates),
            str(r.topic_distinct),
            str(r.topic_first_id or "-"),
            str(r.topic_last_id or "-"),
            str(r.topic_missing_ids),
            str(r.candle_trades),
            str(r.late_trades),
            str(r.rejected_messages),
            "ok" if r.ok else "; ".join(r.problems()),
        )
        for r in report.results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    left = {0, 1}  # text columns; numbers align right

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=False))
        ]
        return "  ".join([*parts, cells[-1]])

    lines = [line(header), *(line(row) for row in rows)]
    if not report.results:
        lines.append("(no trades on the topic and no candles in MySQL)")
    lines.extend(_rejection_lines(report))
    verdict = "COMPLETE: nothing missing, nothing double counted" if report.ok else "PROBLEMS FOUND"
    windows = sum(r.windows_judged for r in report.results)
    lines.append(
        f"{verdict} — {windows} candle windows judged, {report.scanned} messages scanned"
        f"{f', {report.topic_rejected} rejected by the rules' if report.topic_rejected else ''}"
        f" in {report.duration_s:.1f}s"
    )
    return "\n".join(lines)


def _rejection_lines(report: Any) -> list[str]:
    """Rejected messages by symbol and reason, and where the processor's record disagrees."""
    rej = report.rejections
    out = []
    for symbol, reasons in sorted(rej.by_symbol.items()):
        who = "unknown symbol" if symbol == UNKNOWN_SYMBOL else symbol
        counts = ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items()))
        out.append(f"rejected ({who}): {sum(reasons.values())} — {counts}")
    if rej.by_symbol:
        out.append(f"on the DLQ topic: {rej.in_dlq}, not on it: {rej.not_in_dlq}")
    out.extend(f"REJECTIONS: {p}" for p in rej.problems())
    out.extend(
        f"  partition {m.partition} offset {m.offset}: rules {m.rules}, processor {m.recorded}"
        for m in rej.listed
    )
    return out


def _save(settings: AuditSettings, report: Any) -> Path:
    path = settings.state_dir / "audit" / "last.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report.to_json(), indent=2))
    os.replace(tmp, path)
    return path


def audit_until(settings: AuditSettings, wait_s: float) -> Any:
    """Audit; with ``wait_s`` > 0 repeat (backing off) until complete or the time is up."""
    from cryptopipe.audit.runner import run_audit  # noqa: PLC0415

    deadline = time.monotonic() + wait_s
    delay = 1.0
    while True:
        report = run_audit(settings)
        if report.ok or time.monotonic() + delay > deadline:
            return report
        logger.info("audit not complete yet, retrying in %.0fs", delay)
        time.sleep(delay)
        delay = min(delay * 2, 15.0)


def settled(settings: AuditSettings) -> AuditSettings:
    """The live audit's range: trades older than ``watch_settle_s`` (unless --until is given)."""
    if settings.until.strip() or settings.watch_settle_s <= 0:
        return settings
    return settings.model_copy(update={"until": f"{time.time() - settings.watch_settle_s:.6f}"})


def _watch(settings: AuditSettings) -> None:
    from prometheus_client import start_http_server  # noqa: PLC0415

    from cryptopipe.audit.metrics import AuditMetrics  # noqa: PLC0415
    from cryptopipe.audit.runner import new_state, run_audit  # noqa: PLC0415

    metrics = AuditMetrics()
    start_http_server(settings.audit_metrics_port, addr="0.0.0.0", registry=metrics.registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logger.info(
        "audit watch: every %.0fs, metrics on :%d",
        settings.watch_interval_s,
        settings.audit_metrics_port,
    )
    backoff = settings.watch_interval_s
    state = new_state(settings)  # each cycle reads only what is new on the topic
    while not stop.is_set():
        try:
            report = run_audit(settled(settings), state)
            metrics.record(report)
            _save(settings, report)
            logger.info(
                "audit %s: %d messages read, %s",
                "complete" if report.ok else "found problems",
                report.scanned,
                state.memory_estimate(),
                extra={"audit_ok": report.ok},
            )
            backoff = settings.watch_interval_s
        except Exception:
            metrics.record_error()
            logger.exception("audit failed; retrying in %.0fs", backoff)
            backoff = min(backoff * 2, 600.0)
        stop.wait(backoff)


@click.command("audit")
@click.option(
    "--symbols",
    "audit_symbols",
    default=None,
    help="Comma-separated symbols to audit (default: all the processor accepts).",
)
@click.option("--since", default=None, help="Trades at or after this time (ISO-8601 or epoch s).")
@click.option("--until", default=None, help="Trades before this time (ISO-8601 or epoch s).")
@click.option("--intervals", default=None, help="Candle intervals to check (default 1s,1m).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=0.0,
    help="Retry for up to this many seconds while the processor catches up.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Keep auditing every CRYPTOPIPE_WATCH_INTERVAL_S and serve the result as metrics.",
)
def audit(as_json: bool, wait_s: float, watch: bool, **options: str | None) -> None:
    """Compare trades on crypto.trades with the candles in MySQL, per symbol and interval.

    Exit code 0 only when nothing is missing or double counted (1: problems, 2: error).
    """
    settings = build_settings(AuditSettings, **options)
    if watch:
        _watch(settings)
        return
    try:
        report = audit_until(settings, wait_s)
    except Exception as exc:
        click.secho(
            f"error: audit failed: {exc}\nIs the stack up? Check `cryptopipe stack status`.",
            fg="red",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    _save(settings, report)
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else render_table(report))
    sys.exit(EXIT_OK if report.ok else EXIT_PROBLEMS)
