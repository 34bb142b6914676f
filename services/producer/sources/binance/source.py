"""``--source binance``: combined ``<symbol>@trade`` WebSocket streams, gap-free.

- Streams are split over connections of at most ``ws_max_streams_per_connection`` (1024).
  Streams that do not fit in the URL are added with SUBSCRIBE, at most
  ``ws_control_messages_per_s`` control messages per second (Binance drops us above 5/s).
- Binance's pings are answered by the WebSocket client (same payload); our own keep-alive
  pings detect dead connections.
- A connection is rotated before Binance's 24 h limit: the new one opens, both run for
  ``ws_rotation_overlap_s``, then the old one closes; dedup makes the overlap harmless.
- ``serverShutdown`` reconnects at once; other drops reconnect with capped exponential backoff
  and jitter, never more than ``reconnect_max_per_5min`` attempts in 5 minutes (all
  connections together).
- After a reconnect each symbol catches up from REST; any trade-id gap, anywhere, is backfilled
  (see backfill.py). Duplicates are dropped by the sequence tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from cryptopipe.dlq import DlqReason
from cryptopipe.producer.errors import StartupError
from cryptopipe.producer.kafka_sink import KafkaSink
from cryptopipe.producer.normalize import Rejection, decode_frame
from cryptopipe.producer.pipeline import Pipeline, now_us
from cryptopipe.producer.settings import ProducerSettings
from cryptopipe.producer.sources.binance import checkpoint
from cryptopipe.producer.sources.binance.backfill import Backfiller
from cryptopipe.producer.sources.binance.ratelimit import SlidingWindowLimiter, backoff_delay
from cryptopipe.producer.sources.binance.rest import BinanceApiError, BinanceRest, StoppedError
from cryptopipe.producer.stopper import Stopper

logger = logging.getLogger(__name__)

MAX_URL_CHARS = 4000
STREAMS_PER_SUBSCRIBE = 200
WS_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CONNECTION_HEALTHY_AFTER_S = 30.0


def stream_name(symbol: str) -> str:
    return f"{symbol.lower()}@trade"


def stream_groups(symbols: tuple[str, ...], per_connection: int) -> list[list[str]]:
    """Stream names split into connections of at most ``per_connection`` streams."""
    names = [stream_name(s) for s in symbols]
    return [names[i : i + per_connection] for i in range(0, len(names), per_connection)]


def build_url(base: str, streams: list[str], time_unit: str) -> tuple[str, list[str]]:
    """Combined-stream URL with as many streams as fit; returns the URL and the rest."""
    suffix = "&timeUnit=MICROSECOND" if time_unit == "us" else ""
    prefix = f"{base}/stream?streams="
    taken: list[str] = []
    length = len(prefix) + len(suffix)
    for name in streams:
        extra = len(name) + (1 if taken else 0)
        if taken and length + extra > MAX_URL_CHARS:
            break
        taken.append(name)
        length += extra
    return prefix + "/".join(taken) + suffix, streams[len(taken) :]


class FrameRecorder:
    """``--record``: raw frames, one per line (newlines in a frame are JSON whitespace)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = (
            cast(IO[bytes], gzip.open(path, "ab"))  # noqa: SIM115 (closed in close())
            if path.suffix == ".gz"
            else path.open("ab")
        )

    def write(self, raw: bytes) -> None:
        self._file.write(raw.replace(b"\n", b" ") + b"\n")

    def close(self) -> None:
        self._file.close()


@dataclass
class _Conn:
    ws: ClientConnection
    streams: list[str]
    opened: float
    task: asyncio.Task[str] | None = None
    frames: int = 0
    shutdown: bool = False
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class BinanceSource:
    def __init__(
        self,
        settings: ProducerSettings,
        pipeline: Pipeline,
        sink: KafkaSink,
        stopper: Stopper,
        *,
        rest: BinanceRest,
        backfiller: Backfiller,
        recorder: FrameRecorder | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.sink = sink
        self.stopper = stopper
        self.rest = rest
        self.backfiller = backfiller
        self.recorder = recorder
        self.attempts = SlidingWindowLimiter(settings.reconnect_max_per_5min, 300.0)
        self.frames = 0
        self._metrics = pipeline.metrics
        self._open_connections = 0
        self.checkpoint = (
            checkpoint.checkpoint_path(settings.state_dir, settings.topic_trades)
            if settings.resume
            else None
        )

    # frames ----------------------------------------------------------------------------
    def on_frame(self, raw: bytes, conn: _Conn) -> None:
        received = now_us()
        self.frames += 1
        if self.settings.count is not None and self.frames > self.settings.count:
            self.stopper.stop("count reached")
            return
        conn.frames += 1
        pipeline = self.pipeline
        pipeline.count_frame()
        payload = decode_frame(raw, pipeline.max_frame_bytes)
        if isinstance(payload, Rejection):
            if self.recorder is not None:
                self.recorder.write(raw)
            pipeline.reject(raw, payload)
            return
        if "result" in payload and "id" in payload:
            logger.debug("control answer: %s", payload)
            return
        if "code" in payload and "msg" in payload and "e" not in payload:
            logger.error("Binance control error: %s", payload)
            return
        if payload.get("e") == "serverShutdown":
            logger.warning("serverShutdown received: opening a new connection now")
            conn.shutdown = True
            return
        if self.recorder is not None:
            self.recorder.write(raw)
        pipeline.handle_payload(payload, raw, received)

    async def _read(self, conn: _Conn) -> str:
        """Read until the connection ends; return the reconnect reason."""
        try:
            while True:
                raw = await conn.ws.recv(decode=False)
                self.on_frame(raw, conn)
        except ConnectionClosed as exc:
            if exc.rcvd is not None:
                return "closed"
            if exc.sent is not None and exc.sent.code == 1011:
                return "keepalive_timeout"
            if exc.sent is not None and exc.sent.code == 1009:
                # Too big even to receive: nothing to keep but the fact (and reconnect).
                self.pipeline.reject(
                    b"",
                    Rejection(
                        DlqReason.OVERSIZED,
                        f"WebSocket message over {WS_MAX_MESSAGE_BYTES} bytes: not received, "
                        "connection re-opened",
                    ),
                )
                return "message_too_big"
            return "dropped"

    # connections -----------------------------------------------------------------------
    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; True if stopping."""
        end = time.monotonic() + seconds
        while not self.stopper.stopped:
            left = end - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(left, 0.2))
        return True

    async def _open(self, streams: list[str], attempt: int) -> _Conn | None:
        """Connect (respecting the attempt limit and backoff); None if stopping."""
        s = self.settings
        while not self.stopper.stopped:
            if attempt > 0:
                delay = backoff_delay(attempt - 1, s.reconnect_initial_s, s.reconnect_max_s)
                if await self._sleep(delay):
                    return None
            wait = self.attempts.delay(time.monotonic())
            if wait > 0:
                logger.warning("connection attempt limit reached: waiting %.0f s", wait)
                if await self._sleep(wait):
                    return None
                continue
            url, rest = build_url(s.binance_ws_url, streams, s.ws_time_unit)
            try:
                ws = await connect(
                    url,
                    open_timeout=s.ws_open_timeout_s,
                    ping_interval=s.ws_ping_interval_s,
                    ping_timeout=s.ws_ping_timeout_s,
                    max_size=WS_MAX_MESSAGE_BYTES,
                    max_queue=1024,
                    compression=None,
                    proxy=None,
                )
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                attempt += 1
                self._metrics.reconnects.labels("connect_error").inc()
                logger.warning("WebSocket connect to %s failed: %s", s.binance_ws_url, exc)
                continue
            conn = _Conn(ws, streams, time.monotonic())
            logger.info("connected: %d streams (%s...)", len(streams), streams[0])
            if rest:
                await self._subscribe(conn, rest)
            return conn
        return None

    async def _subscribe(self, conn: _Conn, streams: list[str]) -> None:
        """SUBSCRIBE in chunks, under the control-message rate limit."""
        limiter = SlidingWindowLimiter(max(1, int(self.settings.ws_control_messages_per_s)), 1.0)
        for i in range(0, len(streams), STREAMS_PER_SUBSCRIBE):
            wait = limiter.delay(time.monotonic())
            while wait > 0:
                await asyncio.sleep(wait)
                wait = limiter.delay(time.monotonic())
            chunk = streams[i : i + STREAMS_PER_SUBSCRIBE]
            message = {"method": "SUBSCRIBE", "params": chunk, "id": next(conn.ids)}
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(orjson.dumps(message).decode())

    def _start(self, conn: _Conn) -> _Conn:
        conn.task = asyncio.create_task(self._read(conn))
        self._open_connections += 1
        self._metrics.connections.set(self._open_connections)
        return conn

    async def _close(self, conn: _Conn) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.ws.close(), timeout=5)
        if conn.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.task, timeout=5)
        self._open_connections -= 1
        self._metrics.connections.set(self._open_connections)

    def _symbols_of(self, streams: list[str]) -> list[str]:
        return [name.split("@", 1)[0].upper() for name in streams]

    async def run_group(self, streams: list[str]) -> None:
        """Keep one connection's streams flowing until stopped."""
        s = self.settings
        flaps = 0
        conn = await self._open(streams, 0)
        if conn is None:
            return
        self._start(conn)
        while not self.stopper.stopped:
            assert conn.task is not None
            rotate_in = conn.opened + s.ws_connection_max_age_s - time.monotonic()
            done, _ = await asyncio.wait({conn.task}, timeout=min(max(rotate_in, 0), 0.2))
            if self.stopper.stopped:
                break
            if conn.task in done:
                reason = "server_shutdown" if conn.shutdown else conn.task.result()
                lived = time.monotonic() - conn.opened
                self._metrics.reconnects.labels(reason).inc()
                logger.warning("connection ended (%s) after %.1f s; reconnecting", reason, lived)
                await self._close(conn)
                # A connection that dies young counts as a failure: backoff grows while
                # connections keep flapping, and resets once one lives long enough.
                flaps = 0 if lived >= CONNECTION_HEALTHY_AFTER_S else flaps + 1
                attempt = 0 if conn.shutdown else flaps
                new = await self._open(streams, attempt)
                if new is None:
                    return
                conn = self._start(new)
                self.backfiller.catch_up(self._symbols_of(streams))
                continue
            if rotate_in <= 0 or conn.shutdown:
                # Open the new connection first and keep reading the old one for the overlap:
                # nothing is lost in the switch, dedup drops what both deliver.
                reason = "server_shutdown" if conn.shutdown else "rotation"
                logger.info("%s: replacing a connection after %.0f s", reason,
                            time.monotonic() - conn.opened)  # fmt: skip
                self._metrics.reconnects.labels(reason).inc()
                new = await self._open(streams, 0)
                if new is None:
                    break
                self._start(new)
                if conn.shutdown:
                    self.backfiller.catch_up(self._symbols_of(streams))
                await self._sleep(s.ws_rotation_overlap_s)
                await self._close(conn)
                conn = new
        await self._close(conn)

    def save_checkpoint(self) -> bool:
        """Persist the trade-id state if every produced trade is acknowledged."""
        if self.checkpoint is None or self.sink.pending() or self.sink.failed:
            return False
        checkpoint.save(self.checkpoint, self.pipeline.tracker)
        return True

    async def _poll_kafka(self) -> None:
        """Serve delivery reports while the stream is quiet; surface Kafka failures;
        checkpoint the trade-id state."""
        next_save = time.monotonic() + self.settings.checkpoint_interval_s
        while not self.stopper.stopped:
            self.sink.poll(0)
            if time.monotonic() >= next_save and self.save_checkpoint():
                next_save = time.monotonic() + self.settings.checkpoint_interval_s
            await asyncio.sleep(0.1)

    async def run(self) -> None:
        s = self.settings
        symbols = self.pipeline.symbols
        ordered = tuple(sym for sym in s.symbol_list if sym in symbols)
        if s.exchange_info_check:
            try:
                await check_symbols(self.rest, ordered)
            except StoppedError:
                return
        if self.checkpoint is not None:
            restored = checkpoint.load(self.checkpoint, self.pipeline.tracker, symbols)
            if restored:
                logger.info("resuming %d symbols from %s", restored, self.checkpoint)
                self.backfiller.catch_up(ordered)
        groups = stream_groups(ordered, s.ws_max_streams_per_connection)
        logger.info("binance: %d streams over %d connection(s)", len(ordered), len(groups))
        tasks = [asyncio.create_task(self.run_group(g)) for g in groups]
        tasks.append(asyncio.create_task(self.backfiller.run()))
        poller = asyncio.create_task(self._poll_kafka())
        try:
            done, _ = await asyncio.wait([*tasks, poller], return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                exc = task.exception()
                if exc is not None:
                    self.stopper.stop(f"error: {exc}")
                    raise exc
        finally:
            self.stopper.stop(self.stopper.reason or "source ended")
            for task in [*tasks, poller]:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, poller, return_exceptions=True)


async def check_symbols(rest: BinanceRest, symbols: tuple[str, ...]) -> None:
    """Every configured symbol must exist on Binance; warn about ones not TRADING."""
    try:
        info = await rest.exchange_info(symbols)
    except BinanceApiError as exc:
        raise StartupError(
            f"symbols {','.join(symbols)} rejected by Binance exchangeInfo: {exc.msg} "
            f"(code {exc.code}); check --symbols"
        ) from exc
    unknown = [s for s in symbols if s not in info]
    if unknown:
        raise StartupError(f"unknown symbol(s) on Binance: {', '.join(unknown)}")
    for symbol in symbols:
        status = info[symbol].get("status")
        if status != "TRADING":
            logger.warning("%s status is %s: expect no trades", symbol, status)


def run_binance(
    settings: ProducerSettings, pipeline: Pipeline, sink: KafkaSink, stopper: Stopper
) -> int:
    """Blocking entry point: returns the number of frames received."""

    async def main() -> int:
        rest = BinanceRest(
            settings.binance_rest_url,
            pipeline.metrics,
            stopper,
            weight_budget=settings.rest_weight_budget_1m,
            timeout_s=settings.rest_timeout_s,
        )
        backfiller = Backfiller(
            rest,
            pipeline,
            stopper,
            settings.backfill_max_attempts,
            settings.max_gap_backfill_trades,
        )
        pipeline.on_gap = backfiller.notify
        recorder = FrameRecorder(settings.record_file) if settings.record_file else None
        source = BinanceSource(
            settings, pipeline, sink, stopper, rest=rest, backfiller=backfiller, recorder=recorder
        )
        try:
            await source.run()
        finally:
            await rest.aclose()
            if recorder is not None:
                recorder.close()
        if sink.flush() == 0 and source.save_checkpoint():
            logger.info("trade-id state saved to %s", source.checkpoint)
        return source.frames

    return asyncio.run(main())
