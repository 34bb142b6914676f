"""Helpers shared by the tests of this folder."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession

from cryptopipe.processor.transform import BatchTransform
from tests.integration.processor.conftest import (
    StackFixture,
)

VALID = "valid"


def spark_reasons(
    spark: SparkSession, values: Sequence[bytes | None], max_bytes: int, symbols: list[str]
) -> list[str]:
    rows = [("t", 0, i, v, None) for i, v in enumerate(values)]
    raw = spark.createDataFrame(
        rows,
        "topic STRING, partition INT, offset BIGINT, value BINARY, "
        "headers ARRAY<STRUCT<key: STRING, value: BINARY>>",
    )
    parsed = BatchTransform(max_bytes, symbols, 10_000_000).parse(raw)
    got = {
        int(r["offset"]): r["reason"] or VALID for r in parsed.select("offset", "reason").collect()
    }
    return [got[i] for i in range(len(values))]


def audit(stack: StackFixture, topic: str, *args: str) -> tuple[int, dict[str, Any]]:
    env = {**stack.env(), "CRYPTOPIPE_TOPIC_TRADES": topic, "CRYPTOPIPE_TOPIC_DLQ": f"{topic}.dlq"}
    proc = subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", "audit", "--intervals", "1s,1m", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)
