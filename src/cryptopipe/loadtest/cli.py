"""`cryptopipe loadtest`: bring up what the load needs, run Locust, judge the run.

Locust runs as its own process (`python -m locust -f <locustfile>`): importing Locust patches a
process with gevent, which this command and the pipeline's services must not be. This process
runs the stack (cryptopipe.stack), the processor (unless one is running), for the exchange target
the local Binance exchange and `cryptopipe produce --source binance`, shows progress while
Locust loads them, then audits and writes the verdict.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from itertools import islice
from pathlib import Path
from typing import Any

import click

from cryptopipe.cli_settings import build_settings
from cryptopipe.loadtest import plan as names
from cryptopipe.loadtest import verdict as vd
from cryptopipe.loadtest.settings import LoadtestSettings
from cryptopipe.loadtest.shapes import SHAPES, Spike, parse_duration
from cryptopipe.runner import progress
from cryptopipe.runner.cli import service_commands, service_env
from cryptopipe.slo.status import StatusError
from cryptopipe.stack.kafka import starting_offsets_at_end
from cryptopipe.stack.manager import Stack, tail
from cryptopipe.stack.process import ManagedProcess, group_rss_bytes, wait_until
from cryptopipe.stack.prometheus import SCRAPE_INTERVAL
from cryptopipe.stack.prometheus import url as prometheus_url
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SERVICE_START_S = 240.0  # a processor's Spark session takes its time on a loaded machine
TRIGGER_S = 1.0  # the processor's default trigger: one trigger's worth of trades
WARM_UP_TRADES = 20
WARM_UP_ROUND_S = 20.0
ACCEPTED = "cryptopipe_processor_accepted_rows_total"


class SetupError(RuntimeError):
    pass


def _echo(message: str) -> None:
    click.echo(f"  {message}", err=True)


def _start(proc: ManagedProcess, name: str, argv: list[str], env: dict[str, str]) -> None:
    proc.start(argv, env=env)
    _echo(f"started {name} (log: {proc.log_file})")


def _wait_serving(proc: ManagedProcess, name: str, url: str) -> None:
    if not wait_until(lambda: bool(progress.scrape(url)) or not proc.is_running(), SERVICE_START_S):
        raise SetupError(f"{name} did not serve {url} within {SERVICE_START_S:.0f}s")
    if not proc.is_running():
        raise SetupError(
            f"{name} exited; last lines of {proc.log_file}:\n{tail(proc.log_file, 15)}"
        )


def warm_up(settings: StackSettings, processor_url: str, symbol: str) -> None:
    """A processor's first batch compiles its whole plan (a minute on a busy 2-core machine):
    send a few trades of a symbol outside the run and wait until MySQL has them, so the load
    does not measure Spark's start-up."""
    from confluent_kafka import Producer  # noqa: PLC0415

    from cryptopipe.producer.normalize import Rejection, normalize_frame  # noqa: PLC0415
    from cryptopipe.producer.synthetic import SyntheticConfig, SyntheticMarket  # noqa: PLC0415

    def accepted() -> float:
        return progress.total(progress.scrape(processor_url), ACCEPTED) or 0.0

    before = accepted()
    producer = Producer(
        {**settings.kafka_client_config(), "bootstrap.servers": settings.bootstrap_servers()}
    )
    now_us = time.time_ns() // 1000
    frames = SyntheticMarket(SyntheticConfig(symbols=(symbol,), start_time_us=now_us)).frames()
    _echo(f"warming the processor up (trades of {symbol}) ...")

    def send_and_check() -> bool:
        # sent again each round: a processor that starts at `latest` skips what came before
        for _, _, _, raw in islice(frames, WARM_UP_TRADES):
            trade = normalize_frame(raw, symbols=None, ingest_time_us=time.time_ns() // 1000)
            if isinstance(trade, Rejection):
                raise SetupError(f"warm-up trade rejected: {trade}")
            producer.produce(settings.topic_trades, trade.to_json(), trade.key())
        if producer.flush(30):
            raise SetupError("warm-up trades not acknowledged by Kafka")
        return wait_until(lambda: accepted() > before, WARM_UP_ROUND_S)

    if not wait_until(send_and_check, SERVICE_START_S, interval_s=0):
        raise SetupError(f"the processor did not commit warm-up trades in {SERVICE_START_S:.0f}s")


def start_processor(s: StackSettings, query_name: str) -> bool:
    """Start `cryptopipe process` for a load unless one runs (a user's `cryptopipe run`): at the
    topic's end, since earlier data is not the load's. True if it was started here (the caller
    stops it); it serves metrics once ``wait_processor`` returns."""
    processor = Stack(s).process("processor")
    if processor.is_running():
        _echo("using the processor that is already running")
        return False
    penv = {**service_env(s), "CRYPTOPIPE_QUERY_NAME": query_name}
    penv["CRYPTOPIPE_STARTING_OFFSETS"] = starting_offsets_at_end(s)
    _start(processor, "processor", service_commands("synthetic", None, None, {})["processor"], penv)
    return True


def wait_processor(s: StackSettings) -> str:
    """Wait until the processor serves its metrics; returns their URL."""
    url = f"http://127.0.0.1:{s.processor_metrics_port}/metrics"
    _wait_serving(Stack(s).process("processor"), "processor", url)
    return url


def _locust_argv(settings: LoadtestSettings, out: Path) -> list[str]:
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    argv += ["--csv", str(out / names.LOCUST_PREFIX), "--html", str(out / names.HTML_REPORT)]
    argv += ["--json-file", str(out / names.STATS_JSON), "--stop-timeout", "10"]
    if settings.web:
        argv += ["--web-host", "127.0.0.1", "--web-port", str(settings.web_port)]
        argv += ["--autostart", "--autoquit", "5"]
    else:
        argv += ["--headless", "--only-summary"]
    return argv


def _memory(groups: dict[str, int], peak: dict[str, float]) -> str:
    """Resident memory of each service (its whole process group) now; keeps the peaks (MB)."""
    parts = []
    for name, pgid in groups.items():
        mb = group_rss_bytes(pgid) / 2**20
        if mb:
            peak[name] = max(peak.get(name, 0.0), round(mb, 1))
            parts.append(f"{name} {mb:,.0f}")
    return f"  rss MB: {', '.join(parts)}" if parts else ""


def run_locust(
    settings: LoadtestSettings,
    out: Path,
    env: dict[str, str],
    urls: tuple[str, str],
    groups: dict[str, int],
) -> tuple[int, float | None, dict[str, float]]:
    """Locust in its own process, a progress line every few seconds with the services' memory;
    (exit code, peak lag, peak resident memory in MB by service)."""
    log = out / names.LOCUST_LOG
    peak: float | None = None
    rss: dict[str, float] = {}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            _locust_argv(settings, out), env=env, stdout=fh, stderr=fh, start_new_session=True
        )
        groups = {**groups, "locust": proc.pid}
        if settings.web:
            _echo(f"Locust's web UI: http://127.0.0.1:{settings.web_port}")
        last = progress.snapshot(time.time(), *urls)
        try:
            while proc.poll() is None:
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(settings.progress_interval_s)
                now = progress.snapshot(time.time(), *urls)
                if now.lag is not None:
                    peak = max(peak or 0.0, now.lag)
                click.echo(progress.format_line(last, now) + _memory(groups, rss))
                last = now
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(30)
    if proc.returncode not in (0, 1):
        click.secho(f"Locust exited with {proc.returncode}:\n{tail(log, 20)}", fg="red", err=True)
    return proc.returncode, peak, rss


def _judge(
    settings: LoadtestSettings,
    stack: Stack,
    out: Path,
    run_info: dict[str, Any],
    locust_rc: int,
    peak_lag: float | None,
    peak_rss_mb: dict[str, float],
) -> dict[str, Any]:
    from cryptopipe.audit.cli import audit_until  # noqa: PLC0415
    from cryptopipe.audit.settings import AuditSettings  # noqa: PLC0415
    from cryptopipe.slo.spec import SpecError, load  # noqa: PLC0415

    symbols: list[str] = run_info["symbols"]
    result_path = out / names.RESULT_FILE
    result: dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {}
    reasons = [] if result else ["Locust wrote no result (did it start?)"]
    stats_path = out / f"{names.STATS_JSON}.json"
    stats = vd.read_locust_stats(stats_path) if stats_path.exists() else []

    _echo(f"waiting up to {settings.drain_s:.0f}s for MySQL to hold every trade (audit) ...")
    audit: dict[str, Any] | None = None
    audit_error = None
    try:
        report = audit_until(AuditSettings(audit_symbols=",".join(symbols)), settings.drain_s)
        audit = report.to_json()
    except Exception as exc:
        audit_error = str(exc)

    start = run_info["started_at"]
    ended = result.get("load_ended_at_s")
    end = start + ended if ended is not None else time.time()
    base = prometheus_url(stack.settings.prometheus_port)
    scrape_s = parse_duration(SCRAPE_INTERVAL)
    # two rule evaluations after the load's end, so the recordings cover all of it
    time.sleep(max(0.0, end + 2 * scrape_s - time.time()))
    # and from two scrapes into the load: a time slice needs two samples to see trades flow
    slo_start = start + 2 * scrape_s if end - start > 4 * scrape_s else start
    slos: list[vd.SLOResult] = []
    slo_error = None
    judged_at = time.time()  # the histogram also counts the run's trades committed in the drain
    try:
        specs = load([settings.slo_dir])
        exchange = settings.target == "exchange"
        slos = vd.judge_slos(base, specs, symbols, slo_start, end, producer=exchange)
        if not exchange:
            slos += vd.latency_from_histogram(base, specs, start, judged_at, settings.e2e_slo_s)
    except (SpecError, StatusError) as exc:
        slo_error = str(exc)
    peak = max(
        [
            v
            for v in [peak_lag, *(p.get("lag") for p in result.get("timeline", []))]
            if v is not None
        ],
        default=None,
    )
    recovery = None
    if settings.shape == "spike":
        spike = Spike(
            settings.rate,
            settings.duration_s(),
            settings.spike_multiplier,
            parse_duration(settings.spike_at),
            parse_duration(settings.spike_duration),
        )
        recovery = vd.spike_recovery_s(
            result.get("timeline", []), spike.spike_end_s, settings.rate * TRIGGER_S
        )
    return vd.assemble(
        vd.Inputs(
            run={**run_info, "ended_at": end, "slo_window": [slo_start, end]},
            result=result,
            stats=stats,
            audit=audit,
            audit_error=audit_error,
            slos=slos,
            slo_error=slo_error,
            e2e_histogram=vd.histogram_quantiles(base, start, judged_at),
            peak_lag=peak,
            spike_recovery_s=recovery,
            locust_exit_code=locust_rc,
            peak_rss_mb=peak_rss_mb,
            reasons=reasons,
        )
    )


def execute(settings: LoadtestSettings, stack_settings: StackSettings) -> int:
    """The whole run on the local stack of ``stack_settings``; returns the exit code."""
    from cryptopipe.exchange import BinanceEmulator  # noqa: PLC0415

    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    stack = Stack(stack_settings)
    stack.up(progress=_echo)
    s = stack.settings
    env = service_env(s)
    symbols = names.fresh_symbols(settings.symbols)
    urls = (
        f"http://127.0.0.1:{s.producer_metrics_port}/metrics",
        f"http://127.0.0.1:{s.processor_metrics_port}/metrics",
    )
    processor, producer = stack.process("processor"), stack.process("producer")
    started: list[ManagedProcess] = []
    with ExitStack() as cleanup:
        cleanup.callback(lambda: [p.stop(60) for p in reversed(started)])
        query_name = settings.processor_query_name or f"loadtest-{symbols[0][2:8].lower()}"
        if start_processor(s, query_name):
            started.append(processor)
        exchange_url = ""
        if settings.target == "exchange":
            if producer.is_running():
                raise SetupError("a producer is already running (`cryptopipe run`?); stop it")
            emulator = cleanup.enter_context(BinanceEmulator(symbols, ping_interval_s=20.0))
            exchange_url = emulator.rest_url
            argv = service_commands(
                "binance",
                ",".join(symbols),
                None,
                {"--ws-url": emulator.ws_url, "--rest-url": emulator.rest_url},
            )["producer"]
            _start(producer, "producer", argv, env)
            started.append(producer)
        _wait_serving(processor, "processor", urls[1])
        warm_up(s, urls[1], symbols[0][:8] + "WARMUSDT")
        if settings.target == "exchange":
            _wait_serving(producer, "producer", urls[0])
            emulator.wait_until(
                lambda: len(emulator.subscribed_streams()) >= len(symbols), SERVICE_START_S
            )
        run_info: dict[str, Any] = {
            "target": settings.target,
            "shape": settings.shape,
            "rate": settings.rate,
            "duration_s": settings.duration_s(),
            "symbols": symbols,
            "out": str(out),
            "started_at": time.time(),
        }
        plan = names.RunPlan(
            symbols=symbols,
            result_file=str(out / names.RESULT_FILE),
            processor_metrics_url=urls[1],
            exchange_url=exchange_url,
            started_at=run_info["started_at"],
        )
        plan_file = out / "run-plan.json"
        plan.write(plan_file)
        locust_env = {**env, **settings.as_env(), names.RUN_FILE_ENV: str(plan_file)}
        click.echo(
            f"Load test: {settings.shape} at {settings.rate:g} trades/s for {settings.duration},"
            f" target {settings.target}, symbols {','.join(symbols)}; Locust's log: "
            f"{out / names.LOCUST_LOG}",
            err=True,
        )
        pids = {"processor": processor.pid(), "producer": producer.pid()}
        groups = {name: pid for name, pid in pids.items() if pid is not None}
        rc, peak, rss = run_locust(settings, out, locust_env, urls, groups)
        if settings.target == "exchange":
            producer.stop(60)  # flushes: every trade it accepted is on the topic
        verdict = _judge(settings, stack, out, run_info, rc, peak, rss)
    vd.write(out, verdict)
    click.echo(vd.render_summary(verdict))
    click.echo(
        f"Results in {out}: {names.SUMMARY_FILE}, {names.VERDICT_FILE}, "
        f"{names.HTML_REPORT}, {names.LOCUST_PREFIX}_*.csv",
        err=True,
    )
    return EXIT_OK if verdict["ok"] else EXIT_FAILED


@click.command("loadtest")
@click.option("--shape", type=click.Choice(SHAPES), default=None, help="Load shape (steady).")
@click.option("--rate", type=float, default=None, help="Trades/s (step: first step; spike: base).")
@click.option("--duration", default=None, help="30s, 5m, 1h (a bare number is seconds).")
@click.option("--target", type=click.Choice(["exchange", "kafka"]), default=None)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder.")
@click.option("--web", is_flag=True, default=None, help="Locust's web UI while it runs.")
@click.option("--malformed-share", type=float, default=None, help="Share of malformed frames.")
@click.option("--step-duration", default=None, help="step: length of each step (20s).")
@click.option("--step-factor", type=float, default=None, help="step: rate factor per step (2).")
@click.option("--max-rate", type=float, default=None, help="step: highest rate to try.")
@click.option("--drain", "drain_s", type=float, default=None, help="Audit wait after the load.")
def loadtest(**options: Any) -> None:
    """Load the pipeline with Locust: synthetic trades through the local exchange and the
    producer (--target exchange) or straight onto crypto.trades (--target kafka).

    Every option is also CRYPTOPIPE_LOADTEST_<NAME> and a key of [tool.cryptopipe.loadtest] in
    ./pyproject.toml. Writes Locust's CSV and HTML report, verdict.json and summary.md to
    --out. Exit code 0 only if the audit is complete and the SLOs held (1: not, 2: error).
    """
    settings = build_settings(LoadtestSettings, **options)
    stack_settings = build_settings(StackSettings)  # the stack's CRYPTOPIPE_* checked up front
    try:
        code = execute(settings, stack_settings)
    except Exception as exc:
        logger.exception("load test failed")
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(code)
