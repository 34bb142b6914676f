"""`cryptopipe produce`: Binance (or replay/synthetic) trades -> normalized messages on Kafka.

Imports fast: the heavy modules load inside the command.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from cryptopipe.cli_settings import EXIT_CONFIG, build_settings

logger = logging.getLogger(__name__)

EXIT_FATAL = 1


@click.command("produce", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--source",
    type=click.Choice(["binance", "replay", "synthetic"]),
    default=None,
    help="Where trades come from (env CRYPTOPIPE_SOURCE; default binance).",
)
@click.option(
    "--symbols",
    default=None,
    help="Comma-separated symbols (env CRYPTOPIPE_SYMBOLS; default "
    "btcusdt,ethusdt,solusdt,bnbusdt,xrpusdt).",
)
@click.option(
    "--ws-url",
    "binance_ws_url",
    default=None,
    help="Binance WebSocket base URL "
    "(env CRYPTOPIPE_BINANCE_WS_URL; default wss://stream.binance.com:9443).",
)
@click.option(
    "--rest-url",
    "binance_rest_url",
    default=None,
    help="Binance REST base URL "
    "(env CRYPTOPIPE_BINANCE_REST_URL; default https://api.binance.com).",
)
@click.option(
    "--record",
    "record_file",
    type=click.Path(path_type=Path),
    default=None,
    help="binance: also write every raw frame to this JSON-lines file (.gz to "
    "compress). Env CRYPTOPIPE_RECORD_FILE.",
)
@click.option(
    "--replay-file",
    type=click.Path(path_type=Path),
    default=None,
    help="replay: JSON lines of raw or combined frames, optionally .gz "
    "(env CRYPTOPIPE_REPLAY_FILE).",
)
@click.option(
    "--speed",
    "replay_speed",
    type=float,
    default=None,
    help="replay: 1 = real time, N = N times faster, 0 = as fast as possible "
    "(env CRYPTOPIPE_REPLAY_SPEED; default 0).",
)
@click.option(
    "--rate",
    type=float,
    default=None,
    help="synthetic: trades per second over all symbols (env CRYPTOPIPE_RATE).",
)
@click.option(
    "--count",
    type=int,
    default=None,
    help="Stop after this many trades/frames (env CRYPTOPIPE_COUNT).",
)
@click.option(
    "--duration",
    "duration_s",
    type=float,
    default=None,
    help="Stop after this many seconds (env CRYPTOPIPE_DURATION_S).",
)
@click.option(
    "--seed", type=int, default=None, help="synthetic: random seed (env CRYPTOPIPE_SEED)."
)
@click.option(
    "--burst-every",
    "burst_every_s",
    type=float,
    default=None,
    help="synthetic: a burst every N seconds (env CRYPTOPIPE_BURST_EVERY_S).",
)
@click.option(
    "--burst-duration",
    "burst_duration_s",
    type=float,
    default=None,
    help="synthetic: burst length in seconds (env CRYPTOPIPE_BURST_DURATION_S).",
)
@click.option(
    "--burst-multiplier",
    type=float,
    default=None,
    help="synthetic: rate factor during bursts (env CRYPTOPIPE_BURST_MULTIPLIER).",
)
@click.option(
    "--metrics-port",
    "producer_metrics_port",
    type=int,
    default=None,
    help="Prometheus /metrics port (env CRYPTOPIPE_PRODUCER_METRICS_PORT; default 9101).",
)
@click.option(
    "--bootstrap-servers",
    "kafka_bootstrap_servers",
    default=None,
    help="Kafka host:port list (env CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS; default the local stack).",
)
def produce(**options: Any) -> None:
    """Read trades, normalize them (schema v1) and produce them to Kafka (key = symbol).

    Invalid input goes to the DLQ topic with its reason. SIGTERM/SIGINT flush and exit 0; a
    fatal Kafka error exits 1; bad settings or unknown symbols exit 2. Every setting of
    ProducerSettings is also an env var CRYPTOPIPE_<NAME>.
    """
    from cryptopipe.producer.settings import ProducerSettings  # noqa: PLC0415

    settings = build_settings(ProducerSettings, **options)
    sys.exit(run_command(settings))


def run_command(settings: Any) -> int:
    """Run with signal handling; return the process exit code."""
    from cryptopipe.observability import tracing  # noqa: PLC0415
    from cryptopipe.producer.app import StartupError, run  # noqa: PLC0415
    from cryptopipe.producer.kafka_sink import FatalProducerError  # noqa: PLC0415
    from cryptopipe.producer.stopper import Stopper  # noqa: PLC0415
    from cryptopipe.producer.tracing_hook import TradeTracer  # noqa: PLC0415

    stopper = Stopper(settings.duration_s)

    def on_signal(signum: int, _frame: object) -> None:
        stopper.stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    provider = tracing.configure_tracing("cryptopipe-producer", 1.0)
    hook = TradeTracer.for_settings(provider, settings)
    try:
        result = run(settings, stopper, headers_hook=hook)
    except StartupError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        return EXIT_CONFIG
    except FatalProducerError as exc:
        click.secho(f"error: Kafka: {exc}", fg="red", err=True)
        return EXIT_FATAL
    finally:
        provider.shutdown()
    click.echo(
        f"produced {result.delivered} trades, {result.dlq_delivered} DLQ records, "
        f"{result.duplicates} duplicates dropped",
        err=True,
    )
    return 0
