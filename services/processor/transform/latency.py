"""Latency bucketing: trade times rounded so a batch's end-to-end latencies are a few groups."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as sf

from cryptopipe.processor.summary import STATUS_ACCEPTED


def latency_bucket(now_us: int) -> Column:
    """Trade time rounded for the end-to-end latency histogram: the middle of a 10 ms bucket
    for trades of the last minute, of 1 s up to an hour old, of 1 min beyond (a catch-up batch
    of hours of backlog stays a few thousand groups). Null for rows that are not accepted."""
    # the clock of accepted rows, from a map literal (see literals.map_literal): null for the others
    now = sf.expr(f"try_element_at(map('{STATUS_ACCEPTED}', {int(now_us)}L), status)")
    age = now - sf.col("trade_time_us")
    res = (
        sf.when(age < 60_000_000, sf.lit(10_000))
        .when(age < 3_600_000_000, sf.lit(1_000_000))
        .otherwise(sf.lit(60_000_000))
        .cast("bigint")
    )
    bucket = sf.col("trade_time_us") - sf.pmod(sf.col("trade_time_us"), res) + sf.shiftright(res, 1)
    return sf.when(now.isNotNull(), bucket)
