"""The Locust side of `cryptopipe loadtest`: users that send synthetic trades, and the shape.

Run by Locust's own process (``locust -f <this file>``): importing it imports Locust, which
patches the process with gevent. `cryptopipe loadtest` writes the run's plan (symbols, where
the exchange listens) to a file named by CRYPTOPIPE_LOADTEST_RUN_FILE and its settings as
CRYPTOPIPE_LOADTEST_* variables; the pipeline's own CRYPTOPIPE_* variables say where Kafka and
MySQL are.

Trades come from ``cryptopipe.producer.synthetic`` (one seeded market shared by every user, so
trade ids stay contiguous per symbol), stamped with the wall clock when they are sent.

- KafkaUser: normalizes each payload with the producer's own code and produces it to
  crypto.trades; a delivery report is a ``kafka`` request, its time produce() -> broker ack.
- ExchangeUser: POSTs the Binance payloads to the local exchange, which sends them over
  Binance's WebSocket protocol to `cryptopipe produce --source binance`; a consumer here reads
  crypto.trades and each trade of the run found there is an ``exchange`` request, its time
  trade time -> readable on the topic (exchange, producer, Kafka and the consumer's fetch).
- Both: one trade every ``e2e_sample_every_s`` is followed into MySQL (an ``e2e`` request, its
  time trade time -> first poll that sees it in the 1s candles, polled every 50 ms).
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.lock
import orjson
from confluent_kafka import OFFSET_END, Consumer, KafkaError, Producer, TopicPartition
from locust import LoadTestShape, User, constant_pacing, events, task
from locust.env import Environment

from cryptopipe.config import CommonSettings
from cryptopipe.db.connection import app_connection
from cryptopipe.loadtest import plan as names
from cryptopipe.loadtest.settings import LoadtestSettings
from cryptopipe.loadtest.shapes import Health, Shape, Step, build_shape, parse_duration, users_for
from cryptopipe.producer.normalize import Rejection, normalize_payload
from cryptopipe.producer.synthetic import SyntheticConfig, SyntheticMarket
from cryptopipe.runner.progress import scrape, total

logger = logging.getLogger(__name__)

SETTINGS = LoadtestSettings()
E2E_POLL_S = 0.05
LAG_METRIC = "cryptopipe_processor_kafka_offsets_behind_latest"


class _Run:
    """Everything one Locust process shares between its users, the shape and its greenlets."""

    def __init__(self, settings: LoadtestSettings) -> None:
        self.settings = settings
        self.plan: names.RunPlan | None = None
        self.common: CommonSettings | None = None
        self.shape: Shape | None = None
        self.rate = 0.0
        self.market: Any = None
        self.symbols: frozenset[str] = frozenset()
        self.sent = 0
        self.sent_malformed = 0
        self.post_failures = 0
        self.delivered = 0
        self.delivery_failures = 0
        self.malformed_delivered = 0
        self.seen_on_topic = 0
        self.last_trade: tuple[str, int, int] | None = None  # symbol, id, trade time us
        self.last_value = b""
        self.e2e_pending = 0
        self.e2e_worst_s: float | None = None
        self.e2e_failed = 0
        self.producer: Any = None
        self.greenlets: list[gevent.Greenlet] = []
        # the exchange users' frames must reach the exchange in the order their ids were drawn:
        # a stream is in id order on Binance, and the producer takes the first id it sees of a
        # symbol as its start, so frames overtaken by a later POST read as duplicates (CI: 100
        # of the first trades dropped when two users' POSTs crossed)
        self.exchange_order = gevent.lock.Semaphore()
        self.timeline: list[dict[str, float | None]] = []
        self.drain_started: float | None = None
        self.load_ended_at: float | None = None
        self._last_tick: tuple[float, int] | None = None
        self.written = False

    # set-up --------------------------------------------------------------------------
    def start(self) -> None:
        run_file = Path(_env(names.RUN_FILE_ENV))
        self.plan = names.RunPlan.read(run_file)
        self.common = CommonSettings()
        s = self.settings
        self.symbols = frozenset(self.plan.symbols)
        self.shape = build_shape(
            s.shape,
            s.rate,
            s.duration_s(),
            step_s=parse_duration(s.step_duration),
            step_factor=s.step_factor,
            max_rate=s.max_rate,
            spike_multiplier=s.spike_multiplier,
            spike_before_s=parse_duration(s.spike_at),
            spike_s=parse_duration(s.spike_duration),
            e2e_slo_s=s.e2e_slo_s,
        )
        config = SyntheticConfig(symbols=tuple(self.plan.symbols), seed=s.seed)
        self.market = SyntheticMarket(config).frames()
        if s.target == "kafka":
            conf = dict(self.common.kafka_client_config())
            conf.update({"client.id": "cryptopipe-loadtest", "enable.idempotence": True})
            conf.update({"acks": "all", "linger.ms": 5, "on_delivery": self._on_delivery})
            self.producer = Producer(conf)
            self.greenlets.append(gevent.spawn(self._poll_producer))
        else:
            self.greenlets.append(gevent.spawn(self._consume, self._consumer()))
        self.greenlets.append(gevent.spawn(self._sample_e2e))

    # trades --------------------------------------------------------------------------
    def next_payload(self) -> tuple[str, dict[str, Any]]:
        """The next synthetic Binance payload, stamped now (trade and event time, in ms)."""
        _, symbol, _, raw = next(self.market)
        payload: dict[str, Any] = orjson.loads(raw)
        now_ms = time.time_ns() // 1_000_000
        payload["T"] = payload["E"] = now_ms
        return symbol, payload

    def malformed(self) -> bool:
        share = self.settings.malformed_share
        if not share or not self.last_value:
            return False
        due = int((self.sent + self.sent_malformed + 1) * share) > self.sent_malformed
        if due:
            self.sent_malformed += 1
        return due

    def sent_trade(self, symbol: str, trade_id: int, time_us: int, value: bytes) -> None:
        self.sent += 1
        self.last_trade = (symbol, trade_id, time_us)
        self.last_value = value

    # kafka target --------------------------------------------------------------------
    def produce(self, key: bytes, value: bytes, on_delivery: Callable[..., None] | None) -> None:
        assert self.common is not None
        while True:
            try:
                if on_delivery is None:
                    self.producer.produce(self.common.topic_trades, value, key)
                else:
                    self.producer.produce(
                        self.common.topic_trades, value, key, on_delivery=on_delivery
                    )
                return
            except BufferError:  # librdkafka's queue is full: let deliveries drain
                self.producer.poll(0)
                gevent.sleep(0.005)

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.delivery_failures += 1
        _fire_delivery(err, msg, names.KAFKA_TRADE)

    def on_malformed_delivery(self, err: KafkaError | None, msg: Any) -> None:
        self.malformed_delivered += err is None
        _fire_delivery(err, msg, names.KAFKA_MALFORMED)

    def _poll_producer(self) -> None:
        while True:
            self.producer.poll(0)
            gevent.sleep(0.005)

    # exchange target: the consumer that sees trades arrive on the topic -------------
    def _consumer(self) -> Any:
        assert self.common is not None
        conf = dict(self.common.kafka_client_config())
        conf.update({"group.id": f"cryptopipe-loadtest-{time.time_ns()}"})
        conf.update({"enable.auto.commit": False, "enable.partition.eof": False})
        consumer = Consumer(conf)
        topic = self.common.topic_trades
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
        return consumer

    def _consume(self, consumer: Any) -> None:
        keys = {s.encode() for s in self.symbols}
        while True:
            batch = consumer.consume(num_messages=1000, timeout=0)
            if not batch:
                gevent.sleep(0.01)
                continue
            now_us = time.time_ns() // 1000
            for msg in batch:
                if msg.error() is not None or msg.key() not in keys:
                    continue
                value = msg.value()
                trade = orjson.loads(value)
                self.seen_on_topic += 1
                _fire(
                    request_type=names.EXCHANGE_TYPE,
                    name=names.EXCHANGE_TRADE,
                    response_time=(now_us - trade["trade_time_us"]) / 1000,
                    response_length=len(value),
                    exception=None,
                    context={},
                )

    # end to end ----------------------------------------------------------------------
    def _sample_e2e(self) -> None:
        while True:
            gevent.sleep(self.settings.e2e_sample_every_s)
            if self.last_trade is not None and self.rate > 0:
                self.e2e_pending += 1
                gevent.spawn(self._follow, *self.last_trade)

    def _follow(self, symbol: str, trade_id: int, time_us: int) -> None:
        """Poll MySQL until the 1s candles of ``symbol`` count ``trade_id``."""
        assert self.common is not None
        error: Exception | None = None
        seen_us: int | None = None
        deadline = time.monotonic() + self.settings.e2e_timeout_s
        try:
            conn = app_connection(self.common, autocommit=True)
            try:
                with conn.cursor() as cur:
                    while time.monotonic() < deadline:
                        cur.execute(
                            "SELECT MAX(last_trade_id) FROM candles"
                            " WHERE symbol = %s AND bar_interval = '1s'",
                            (symbol,),
                        )
                        row = cur.fetchone()
                        if row and row[0] is not None and int(row[0]) >= trade_id:
                            seen_us = time.time_ns() // 1000
                            break
                        gevent.sleep(E2E_POLL_S)
            finally:
                conn.close()
            if seen_us is None:
                error = TimeoutError(f"not in MySQL after {self.settings.e2e_timeout_s:g}s")
        except Exception as exc:  # MySQL down: a failed sample, the run goes on
            error = exc
        latency_ms = ((seen_us or time.time_ns() // 1000) - time_us) / 1000
        if error is None:
            self.e2e_worst_s = max(self.e2e_worst_s or 0.0, latency_ms / 1000)
        else:
            self.e2e_failed += 1
        self.e2e_pending -= 1
        _fire(
            request_type=names.E2E_TYPE,
            name=names.E2E_TRADE,
            response_time=latency_ms,
            response_length=0,
            exception=error,
            context={},
        )

    # the shape's view ----------------------------------------------------------------
    def health(self, run_time_s: float) -> Health:
        assert self.plan is not None
        lag = total(scrape(self.plan.processor_metrics_url, timeout_s=1.0), LAG_METRIC)
        sent = self.sent + self.sent_malformed
        sent_rate = None
        if self._last_tick is not None and run_time_s > self._last_tick[0]:
            sent_rate = (sent - self._last_tick[1]) / (run_time_s - self._last_tick[0])
        self._last_tick = (run_time_s, sent)
        health = Health(lag, self.e2e_worst_s, self.e2e_failed, sent_rate)
        self.e2e_worst_s, self.e2e_failed = None, 0
        self.timeline.append(
            {"t": round(run_time_s, 3), "rate": self.rate, "sent_rate": sent_rate, "lag": lag}
        )
        return health

    def drained(self) -> bool:
        if self.e2e_pending:
            return False
        if self.producer is not None:
            done = self.delivered + self.delivery_failures >= self.sent
            return done and len(self.producer) == 0
        return self.seen_on_topic >= self.sent - self.post_failures

    def write_result(self) -> None:
        if self.written or self.plan is None:
            return
        self.written = True
        if self.producer is not None:
            self.producer.flush(10)
        shape = self.shape
        result: dict[str, Any] = {
            "target": self.settings.target,
            "shape": self.settings.shape,
            "symbols": self.plan.symbols,
            "trades_sent": self.sent,
            "malformed_sent": self.sent_malformed,
            "post_failures": self.post_failures,
            "kafka_delivered": self.delivered,
            "kafka_delivery_failures": self.delivery_failures,
            "malformed_delivered": self.malformed_delivered,
            "seen_on_topic": self.seen_on_topic,
            "load_ended_at_s": self.load_ended_at,
            "drained": self.drained(),
            "timeline": self.timeline,
            "steps": [],
            "capacity": None,
            "capacity_limited_by": None,
        }
        if isinstance(shape, Step):
            result["steps"] = [vars(r) for r in shape.results]
            result["capacity"] = shape.capacity
            result["capacity_limited_by"] = shape.limited_by
        Path(self.plan.result_file).write_text(json.dumps(result, indent=2))


def _fire(**request: Any) -> None:
    """One Locust request (its statistics, reports and the web UI's charts)."""
    events.request.fire(**request)  # type: ignore[no-untyped-call]


def _fire_delivery(err: KafkaError | None, msg: Any, name: str) -> None:
    _fire(
        request_type=names.KAFKA_TYPE,
        name=name,
        response_time=(msg.latency() or 0.0) * 1000,
        response_length=len(msg.value() or b""),
        exception=None if err is None else RuntimeError(str(err)),
        context={},
    )


def _env(name: str) -> str:
    import os  # noqa: PLC0415

    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set: run this locustfile through `cryptopipe loadtest`")
    return value


RUN = _Run(SETTINGS)


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _on_test_start(environment: Environment, **_: Any) -> None:
    RUN.start()


@events.test_stop.add_listener  # type: ignore[untyped-decorator]
def _on_test_stop(environment: Environment, **_: Any) -> None:
    RUN.write_result()


class _PacedUser(User):
    """Sends its share of the shape's rate every tick (the shape sets RUN.rate)."""

    abstract = True
    wait_time = constant_pacing(SETTINGS.tick_s)

    def on_start(self) -> None:
        self._last = time.monotonic()
        self._carry = 0.0

    def due(self) -> int:
        now = time.monotonic()
        elapsed = min(1.0, now - self._last)
        self._last = now
        users = max(1, self.environment.runner.user_count if self.environment.runner else 1)
        want = RUN.rate / users * elapsed + self._carry
        count = int(want)
        self._carry = want - count
        return count


class KafkaUser(_PacedUser):
    """Normalized trades straight onto crypto.trades (loads the processor and MySQL alone)."""

    abstract = SETTINGS.target != "kafka"

    @task
    def send(self) -> None:
        for _ in range(self.due()):
            if RUN.malformed() and RUN.last_trade is not None:
                # a truncated message of a symbol of the run: the processor's DLQ, not a trade
                value = RUN.last_value[: len(RUN.last_value) // 2]
                RUN.produce(RUN.last_trade[0].encode(), value, RUN.on_malformed_delivery)
                continue
            symbol, payload = RUN.next_payload()
            trade = normalize_payload(payload, RUN.symbols, time.time_ns() // 1000)
            if isinstance(trade, Rejection):  # cannot happen for synthetic trades: say so loudly
                raise RuntimeError(f"synthetic trade rejected: {trade}")
            value = trade.to_json()
            RUN.produce(trade.key(), value, None)
            RUN.sent_trade(symbol, trade.trade_id, trade.trade_time_us, value)
        RUN.producer.poll(0)


class ExchangeUser(_PacedUser):
    """Binance payloads to the local exchange, read by `cryptopipe produce --source binance`."""

    abstract = SETTINGS.target != "exchange"

    def on_start(self) -> None:
        super().on_start()
        assert RUN.plan is not None
        url = urllib.parse.urlsplit(RUN.plan.exchange_url)
        self._conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)

    @task
    def send(self) -> None:
        with RUN.exchange_order:
            self._send()

    def _send(self) -> None:
        lines: list[bytes] = []
        trades = []
        for _ in range(self.due()):
            if RUN.malformed():  # a truncated frame: the producer's DLQ
                stream, frame = RUN.last_value.split(b" ", 1)
                lines.append(stream + b" " + frame[: len(frame) // 2])
                continue
            symbol, payload = RUN.next_payload()
            line = f"{symbol.lower()}@trade ".encode() + orjson.dumps(payload)
            lines.append(line)
            trades.append((symbol, payload["t"], payload["T"] * 1000, line))
            RUN.last_value = line
        if not lines:
            return
        for symbol, trade_id, time_us, line in trades:
            RUN.sent_trade(symbol, trade_id, time_us, line)
        try:
            self._conn.request("POST", "/loadtest/frames", body=b"\n".join(lines))
            self._conn.getresponse().read()
        except (OSError, http.client.HTTPException) as exc:
            RUN.post_failures += len(trades)
            self._conn.close()
            _fire(
                request_type=names.EXCHANGE_TYPE,
                name=names.EXCHANGE_POST,
                response_time=0,
                response_length=0,
                exception=exc,
                context={},
            )


class CryptopipeShape(LoadTestShape):
    """The shape of CRYPTOPIPE_LOADTEST_SHAPE in trades/s, then a drain with no users until
    every trade sent is acknowledged (kafka) or seen on the topic (exchange) and every e2e
    sample is settled, at most ``drain_s``."""

    def tick(self) -> tuple[int, float] | None:
        run_time: float = self.get_run_time()  # type: ignore[no-untyped-call]
        if RUN.shape is None:
            return (0, 1)
        health = RUN.health(run_time)
        rate = RUN.shape.rate(run_time, health) if RUN.drain_started is None else None
        if rate is None:
            RUN.rate = 0.0
            if RUN.drain_started is None:
                RUN.drain_started = RUN.load_ended_at = run_time
            if RUN.drained() or run_time - RUN.drain_started > SETTINGS.drain_s:
                RUN.write_result()
                return None
            return (0, 100)
        RUN.rate = rate
        users = users_for(rate, SETTINGS.per_user_rate)
        return (users, max(users, 1))


__all__ = ["CryptopipeShape", "ExchangeUser", "KafkaUser"]
