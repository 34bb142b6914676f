"""``--source synthetic``: the seeded market, paced to ``--rate`` in wall-clock time."""

from __future__ import annotations

import logging
import time

from cryptopipe.producer.kafka_sink import KafkaSink
from cryptopipe.producer.pipeline import Pipeline
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.stopper import Stopper
from cryptopipe.producer.synthetic import SyntheticConfig, SyntheticMarket

logger = logging.getLogger(__name__)

BATCH = 256  # trades between two stop checks when not sleeping


def synthetic_config(settings: ProducerSettings) -> SyntheticConfig:
    start = settings.synthetic_start_time_us
    start_us = time.time_ns() // 1000 if start is None else start
    first_id = settings.synthetic_first_trade_id
    return SyntheticConfig(
        symbols=settings.symbol_list,
        rate=settings.rate,
        seed=settings.seed,
        start_time_us=start_us,
        first_trade_id=start_us if first_id is None else first_id,
        burst_every_s=settings.burst_every_s,
        burst_duration_s=settings.burst_duration_s,
        burst_multiplier=settings.burst_multiplier,
    )


def run_synthetic(
    settings: ProducerSettings, pipeline: Pipeline, sink: KafkaSink, stopper: Stopper
) -> int:
    """Generate until count/duration/stop; return the number of payloads generated."""
    config = synthetic_config(settings)
    limit = settings.count
    logger.info(
        "synthetic market: %s at %.0f trades/s, seed %d%s",
        ",".join(config.symbols),
        config.rate,
        config.seed,
        f", {limit} trades" if limit is not None else "",
    )
    if limit == 0:
        return 0
    handle = pipeline.handle_frame
    monotonic = time.monotonic
    started = monotonic()
    elapsed = 0.0  # wall-clock seconds since start, as last read
    n = 0
    for offset_s, _symbol, _trade_id, payload in SyntheticMarket(config).frames():
        handle(payload)
        n += 1
        if n == limit:
            break
        # Only a trade later than the clock's last reading can be ahead of it: unpaced
        # (behind), the clock is read once per BATCH trades, with the stop check.
        if offset_s > elapsed or n % BATCH == 0:
            elapsed = monotonic() - started
            ahead = offset_s - elapsed
            if ahead > 0.001:
                if stopper.wait(ahead):
                    break
            elif stopper.stopped:
                break
    sink.poll(0)
    return n
