"""Benchmark of the audit's topic scan (prints numbers; no timed assertions).

The audit judges every message on crypto.trades by the processor's rules. A trade as the
producer writes it takes the cheap path (one orjson.loads and type tests); this measures the
whole scan (Kafka consume + judge + id tallies) on 500,000 messages, 0.1 % of them bad, and the
judging alone per message.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from cryptopipe.audit.core import TimeBounds
from cryptopipe.audit.settings import AuditSettings
from cryptopipe.audit.state import AuditState
from cryptopipe.audit.validate import TradeValidator
from cryptopipe.trade_rules import DEFAULT_MAX_MESSAGE_BYTES
from tests.integration.audit import bad_input
from tests.integration.processor.conftest import StackFixture, create_topics, produce
from tests.integration.processor.dataset import make_trades

pytestmark = [pytest.mark.benchmark, pytest.mark.heavy, pytest.mark.kafka]

N_MESSAGES = 500_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"]


def test_audit_scan_rate(stack: StackFixture) -> None:
    topic = f"bench.audit.{uuid.uuid4().hex[:8]}"
    create_topics(stack, [topic])
    trades = make_trades(SYMBOLS, per_symbol=N_MESSAGES // len(SYMBOLS), span_s=3600, seed=5)
    bad = bad_input.corpus(seed=1, randoms=N_MESSAGES // 1000)[: N_MESSAGES // 1000]
    messages: list[tuple[bytes | None, bytes | None]] = [
        (t.symbol.encode(), t.value()) for t in trades[: N_MESSAGES - len(bad)]
    ]
    messages += [(b"BTCUSDT", v) for v in bad]
    produce(stack, topic, messages)
    settings = AuditSettings(**{**stack.common_kwargs(), "topic_trades": topic})
    validator = TradeValidator(DEFAULT_MAX_MESSAGE_BYTES, [])

    values = [v for _, v in messages]
    t0 = time.perf_counter()
    for v in values:
        validator.check(v)
    judge_s = time.perf_counter() - t0

    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        state = AuditState({"1m": 60_000_000}, TimeBounds(), None, validator, 0)
        scan = state.read_new(settings, (), timeout_s=300)
        rates.append(scan.messages / (time.perf_counter() - t0))
        assert scan.messages == len(messages)
    load = os.getloadavg()
    print(
        f"\naudit scan of {len(messages):,} messages ({len(bad)} bad): "
        f"{', '.join(f'{r:,.0f}' for r in rates)} msg/s (3 runs); judging alone "
        f"{len(values) / judge_s:,.0f} msg/s ({judge_s * 1e6 / len(values):.2f} µs/msg); "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
