"""`cryptopipe process`: Spark Structured Streaming candles from Kafka into MySQL, exactly once.

Imports fast: pyspark and the job load inside the command.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from cryptopipe.cli_settings import EXIT_CONFIG, build_settings

logger = logging.getLogger(__name__)

EXIT_FATAL = 1
__all__ = ["EXIT_CONFIG", "EXIT_FATAL", "process"]


@click.command("process", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--master",
    "spark_master",
    default=None,
    help="Spark master URL (env CRYPTOPIPE_SPARK_MASTER; default local[2]).",
)
@click.option(
    "--trigger-interval",
    "trigger_interval_s",
    type=float,
    default=None,
    help="Seconds between micro-batches (env CRYPTOPIPE_TRIGGER_INTERVAL_S; default 1).",
)
@click.option(
    "--available-now",
    is_flag=True,
    default=None,
    help="Process what the topic holds now, then exit (env CRYPTOPIPE_AVAILABLE_NOW).",
)
@click.option(
    "--starting-offsets",
    default=None,
    help="Kafka startingOffsets for a new checkpoint: earliest, latest or JSON "
    "(env CRYPTOPIPE_STARTING_OFFSETS; default earliest).",
)
@click.option(
    "--max-offsets-per-trigger",
    type=int,
    default=None,
    help="Max Kafka records per micro-batch (env CRYPTOPIPE_MAX_OFFSETS_PER_TRIGGER; "
    "default 200000).",
)
@click.option(
    "--intervals", default=None, help="Candle intervals (env CRYPTOPIPE_INTERVALS; default 1s,1m)."
)
@click.option(
    "--watermark-delay",
    "watermark_delay_s",
    type=float,
    default=None,
    help="Seconds a trade may lag the newest one before it is late "
    "(env CRYPTOPIPE_WATERMARK_DELAY_S; default 10).",
)
@click.option(
    "--symbols",
    default=None,
    help="Accepted symbols, comma-separated; empty = any (env CRYPTOPIPE_SYMBOLS).",
)
@click.option(
    "--query-name",
    default=None,
    help="Streaming query name, names the checkpoint (env CRYPTOPIPE_QUERY_NAME).",
)
@click.option(
    "--checkpoint-dir",
    default=None,
    help="Checkpoint location (env CRYPTOPIPE_CHECKPOINT_DIR; default "
    "<state dir>/spark/checkpoints/<query name>).",
)
@click.option(
    "--topic",
    "topic_trades",
    default=None,
    help="Input topic (env CRYPTOPIPE_TOPIC_TRADES; default crypto.trades).",
)
@click.option(
    "--metrics-port",
    "processor_metrics_port",
    type=int,
    default=None,
    help="Prometheus /metrics port (env CRYPTOPIPE_PROCESSOR_METRICS_PORT; default 9102).",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="State dir (env CRYPTOPIPE_STATE_DIR).",
)
def process(**options: Any) -> None:
    """Read trades from Kafka, keep exact OHLCV candles in MySQL (exactly once).

    Restart-safe: after a crash (even kill -9) it resumes from its Spark checkpoint and the
    batch ledger in MySQL makes a replayed batch change nothing. SIGTERM/SIGINT stop it cleanly.
    """
    from cryptopipe.processor.settings import ProcessorSettings  # noqa: PLC0415 (fast --help)

    settings = build_settings(ProcessorSettings, **options)
    if not settings.spark_jars and not settings.spark_jars_packages:
        # the local deployment's default: resolve Spark's Kafka source into the cache dir
        from cryptopipe.stack.jars import with_spark_kafka_jars  # noqa: PLC0415

        settings = with_spark_kafka_jars(settings)

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        logger.info("signal %d: stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    from cryptopipe.observability import tracing  # noqa: PLC0415
    from cryptopipe.processor.job import run  # noqa: PLC0415 (imports pyspark)

    # The producer makes the sampling decision (CRYPTOPIPE_TRACE_SAMPLE_RATIO); the processor
    # continues those traces and records a batch span only for batches holding a traced trade,
    # so its own root spans are always kept (ratio 1.0).
    provider = tracing.configure_tracing("cryptopipe-processor", 1.0)
    try:
        run(settings, stop=stop, tracer=provider.get_tracer("cryptopipe.processor"))
    except Exception as exc:
        logger.exception("processor failed")
        click.echo(f"cryptopipe process failed: {exc}", err=True)
        sys.exit(EXIT_FATAL)
    finally:
        provider.shutdown()


if __name__ == "__main__":  # `python -m cryptopipe.processor.cli` (tests, debugging)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    process()
