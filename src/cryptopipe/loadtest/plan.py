"""What `cryptopipe loadtest` tells Locust's process about one run, and the names both sides
share (request types, file names). No Locust here: the command never imports Locust (its import
patches the process with gevent); Locust runs as its own process."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RUN_FILE_ENV = "CRYPTOPIPE_LOADTEST_RUN_FILE"

# Locust request types and names: one entry per hop in Locust's statistics and reports
KAFKA_TYPE = "kafka"
KAFKA_TRADE = "trade produce->ack"
KAFKA_MALFORMED = "malformed produce->ack"
EXCHANGE_TYPE = "exchange"
EXCHANGE_TRADE = "trade time->on crypto.trades"
EXCHANGE_POST = "post frames to exchange"
E2E_TYPE = "e2e"
E2E_TRADE = "trade time->MySQL commit (sampled)"

# files in the output folder
LOCUST_PREFIX = "locust"  # locust_stats.csv, locust_stats_history.csv, locust_failures.csv ...
HTML_REPORT = "report.html"
STATS_JSON = "locust-stats"  # --json-file adds .json; the verdict reads the final stats here
RESULT_FILE = "locust-result.json"
LOCUST_LOG = "locust.log"
VERDICT_FILE = "verdict.json"
SUMMARY_FILE = "summary.md"


def fresh_symbols(count: int) -> list[str]:
    """Symbols no earlier run used, so the audit and the SLOs judge this run alone."""
    tag = uuid.uuid4().hex[:6].upper()
    return [f"LT{tag}{chr(ord('A') + i // 26)}{chr(ord('A') + i % 26)}USDT" for i in range(count)]


@dataclass
class RunPlan:
    symbols: list[str]
    result_file: str
    processor_metrics_url: str
    exchange_url: str = ""  # exchange target: where frames are POSTed
    started_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, path: Path) -> RunPlan:
        return cls(**json.loads(path.read_text()))
