"""Peer of `cryptopipe bench producer`: the producer loop portfolio pipelines write.

Standalone on purpose (no cryptopipe imports: this is what a user writes), run with the bench
peers' Python (kafka-python 3.x). Per raw Binance trade frame: ``json.loads``, build the
normalized dict, ``json.dumps``, ``KafkaProducer.send``. Prices and
quantities are passed through verbatim (no validation, no decimal normalisation, no duplicate or
gap tracking: less work per trade than cryptopipe does).

Reads the frames (one JSON object per line) into memory first, then times from creating the
producer to ``flush()`` returning with every send acknowledged, and prints one JSON line on
stdout: sent, failed, seconds, CPU seconds (whole process and the main thread) and the client
settings it really ran with (compression falls back to none when its codec library is not
installed: kafka-python needs the ``lz4`` package for lz4).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

REPORT_VERSION = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="host:port,...")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--frames", required=True, help="File of raw frames, one a line.")
    parser.add_argument("--acks", default="all", help="all, 0 or 1")
    parser.add_argument("--idempotence", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compression", default="lz4", help="lz4, gzip, snappy, zstd or none")
    parser.add_argument("--linger-ms", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16384, help="bytes")
    parser.add_argument("--delivery-timeout-ms", type=int, default=120_000)
    return parser.parse_args(argv)


def normalize(frame: bytes, ingest_time_us: int) -> dict[str, Any]:
    """One raw Binance trade frame -> the normalized trade dict (schema v1 field names)."""
    raw = json.loads(frame)
    return {
        "v": 1,
        "exchange": "binance",
        "symbol": raw["s"],
        "trade_id": raw["t"],
        "price": raw["p"],
        "quantity": raw["q"],
        "trade_time_us": raw["T"] * 1000,
        "event_time_us": raw["E"] * 1000,
        "ingest_time_us": ingest_time_us,
        "is_buyer_maker": raw["m"],
    }


def producer_config(args: argparse.Namespace, has_codec: bool) -> dict[str, Any]:
    """KafkaProducer keyword arguments; compression none when the codec's library is missing."""
    acks: Any = args.acks if args.acks == "all" else int(args.acks)
    compression = None if args.compression == "none" or not has_codec else args.compression
    return {
        "bootstrap_servers": args.bootstrap.split(","),
        "client_id": "bench-kafka-python",
        "acks": acks,
        "enable_idempotence": args.idempotence,
        "compression_type": compression,
        "linger_ms": args.linger_ms,
        "batch_size": args.batch_size,
        "delivery_timeout_ms": args.delivery_timeout_ms,
    }


def report(
    client: str,
    sent: int,
    failed: int,
    seconds: float,
    cpu_s: float,
    main_cpu_s: float,
    effective: dict[str, Any],
) -> dict[str, Any]:
    """The one JSON line this peer prints: its timing and the settings it really ran with
    (``effective``: the producer's own config after it resolved its defaults)."""
    return {
        "report": REPORT_VERSION,
        "client": client,
        "sent": sent,
        "failed": failed,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "main_cpu_s": main_cpu_s,
        "acks": effective["acks"],
        "idempotence": bool(effective["enable_idempotence"]),
        "compression": effective["compression_type"] or "none",
        "linger_ms": effective["linger_ms"],
        "batch_size": effective["batch_size"],
    }


def main(argv: list[str] | None = None) -> int:
    # only the peers' venv has kafka-python
    import kafka  # type: ignore[import-not-found]  # noqa: PLC0415
    import kafka.codec  # type: ignore[import-not-found]  # noqa: PLC0415

    codec = kafka.codec

    args = parse_args(argv)
    with open(args.frames, "rb") as f:
        frames = f.read().splitlines()
    has_codec = {
        "none": lambda: True,
        "gzip": codec.has_gzip,
        "snappy": codec.has_snappy,
        "lz4": codec.has_lz4,
        "zstd": codec.has_zstd,
    }[args.compression]()
    config = producer_config(args, has_codec)
    failures: list[str] = []

    def on_error(exc: BaseException) -> None:
        if len(failures) < 5:
            print(f"send failed: {exc!r}", file=sys.stderr)
        failures.append(type(exc).__name__)

    topic = args.topic
    started = time.perf_counter()
    cpu_started = time.process_time()
    main_started = time.thread_time()
    producer = kafka.KafkaProducer(**config)
    send = producer.send
    for frame in frames:
        trade = normalize(frame, time.time_ns() // 1000)
        value = json.dumps(trade).encode()
        send(topic, key=trade["symbol"].encode(), value=value).add_errback(on_error)
    producer.flush()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    main_cpu = time.thread_time() - main_started
    effective = dict(producer.config)
    producer.close()
    client = f"kafka-python {kafka.__version__}"
    line = report(client, len(frames), len(failures), seconds, cpu, main_cpu, effective)
    print(json.dumps(line), flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
