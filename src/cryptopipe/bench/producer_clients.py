"""The peers' client settings and arguments, and parsing what a peer reports (pure).

Every property comes from one ``ProducerSettings`` (our producer's ``producer_config``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptopipe.bench import dataset
from cryptopipe.bench.peers import kafka_python_producer as peer  # its report's format
from cryptopipe.config import CommonSettings
from cryptopipe.producer.kafka_sink import producer_config
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.stack.settings import StackSettings

KCAT_KEY_DELIMITER = b"\t"  # between key and value in kcat's input lines (-K)


# client settings that are Python objects, not librdkafka properties kcat could take
PYTHON_ONLY_KEYS = ("logger", "error_cb", "on_delivery", "stats_cb")


class PeerError(RuntimeError):
    """A peer could not run or its output is unusable; the message says what to do."""


def producer_settings(stack: StackSettings, spec: dataset.DataSpec, topic: str) -> ProducerSettings:
    """``cryptopipe produce --source synthetic`` against the stack, making ``spec``'s trades
    (symbols, seed, start time, first ids, count; unpaced) into ``topic``; everything else is
    the product's default."""
    common = {name: getattr(stack, name) for name in CommonSettings.model_fields}
    common.update(kafka_bootstrap_servers=stack.bootstrap_servers(), topic_trades=topic)
    config = spec.config()
    return ProducerSettings(
        **common,
        source="synthetic",
        symbols=",".join(config.symbols),
        rate=config.rate,
        seed=config.seed,
        count=spec.count,
        synthetic_start_time_us=config.start_time_us,
        synthetic_first_trade_id=config.first_trade_id,
    )


def librdkafka_properties(settings: ProducerSettings, client_id: str) -> dict[str, str]:
    """Our producer's client properties as librdkafka strings (for kcat's config file)."""
    conf = producer_config(settings)
    conf["client.id"] = client_id
    out: dict[str, str] = {}
    for key, value in conf.items():
        if key in PYTHON_ONLY_KEYS:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def kcat_args(kcat: str, config_file: Path, topic: str, data_file: Path) -> list[str]:
    """kcat producing ``data_file``'s lines (key, tab, value) with the properties of
    ``config_file`` (a file, not -X: a SASL password stays out of the process list)."""
    delimiter = KCAT_KEY_DELIMITER.decode().encode("unicode_escape").decode()
    config = ["-F", str(config_file)]
    return [kcat, "-P", "-q", *config, "-t", topic, "-K", delimiter, "-l", str(data_file)]


def kcat_lines(pairs: list[tuple[bytes, bytes]]) -> Iterator[bytes]:
    for key, value in pairs:
        yield key + KCAT_KEY_DELIMITER + value + b"\n"


def kafka_python_args(
    python: Path, script: Path, settings: ProducerSettings, topic: str, frames_file: Path
) -> list[str]:
    """The kafka-python peer with our client settings, where kafka-python has them."""
    conf = producer_config(settings)
    compression = str(conf["compression.type"])
    return [
        str(python),
        "-W",
        "ignore::DeprecationWarning",
        str(script),
        "--bootstrap",
        str(conf["bootstrap.servers"]),
        "--topic",
        topic,
        "--frames",
        str(frames_file),
        "--acks",
        str(conf["acks"]),
        "--idempotence" if conf["enable.idempotence"] else "--no-idempotence",
        "--compression",
        compression,
        "--linger-ms",
        str(conf["linger.ms"]),
        "--batch-size",
        str(conf["batch.size"]),
        "--delivery-timeout-ms",
        str(conf["message.timeout.ms"]),
    ]


@dataclass(frozen=True, slots=True)
class PeerReport:
    """What the kafka-python peer printed about its run (one JSON line on stdout)."""

    client: str
    sent: int
    failed: int
    seconds: float
    cpu_s: float
    main_cpu_s: float
    acks: str
    idempotence: bool
    compression: str
    linger_ms: int
    batch_size: int


def parse_peer_report(stdout: str) -> PeerReport:
    """The last JSON object line of the peer's stdout; PeerError if there is none or a field
    is missing or of the wrong type."""
    for raw in reversed(stdout.strip().splitlines()):
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        if data.get("report") != peer.REPORT_VERSION:
            wanted = peer.REPORT_VERSION
            raise PeerError(f"peer report version {data.get('report')!r}, not {wanted}: {line}")
        try:
            return PeerReport(
                client=str(data["client"]),
                sent=_int(data["sent"]),
                failed=_int(data["failed"]),
                seconds=_positive(data["seconds"]),
                cpu_s=float(data["cpu_s"]),
                main_cpu_s=float(data["main_cpu_s"]),
                acks=str(data["acks"]),
                idempotence=bool(data["idempotence"]),
                compression=str(data["compression"]),
                linger_ms=_int(data["linger_ms"]),
                batch_size=_int(data["batch_size"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PeerError(f"unusable peer report ({exc!r}): {line}") from exc
    raise PeerError(f"the peer printed no JSON report (stdout: {stdout[-300:]!r})")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"not a positive number: {value!r}")
    return float(value)


def kafka_python_differences(report: PeerReport, settings: ProducerSettings) -> list[str]:
    """Where the peer's effective client settings differ from ours (notes of the result)."""
    conf = producer_config(settings)
    out: list[str] = []
    if report.compression != conf["compression.type"]:
        out.append(
            f"kafka-python sent with compression {report.compression}, not "
            f"{conf['compression.type']} (kafka-python needs the lz4 package for lz4; the peers' "
            "venv does not have it)"
        )
    if report.acks not in ("all", "-1"):
        out.append(f"kafka-python ran with acks={report.acks}, not all")
    if not report.idempotence:
        out.append("kafka-python ran without idempotence")
    return out
