"""The exchange: aiohttp WebSocket + REST server in a background thread.

WebSocket (``ws_url``):
- ``/ws/<stream>`` raw stream, ``/ws`` (subscribe later), ``/stream?streams=a/b`` combined
  (each event wrapped as ``{"stream": ..., "data": ...}``); ``timeUnit=MICROSECOND`` switches
  every time field to microseconds;
- live control messages SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY /
  GET_PROPERTY with ``{"result": ..., "id": ...}`` answers and ``{"code", "msg", "id"}`` errors;
- more than 5 incoming messages per second drops the connection (counted as a violation);
- a ping frame with a payload every ``ping_interval_s``; pongs are checked for the same payload;
- fault controls: server-side disconnects with or without a close frame, ``serverShutdown``,
  connections that go silent without closing (no data, no pings, no pongs), raw frames
  (cryptopipe.exchange.control serves them over HTTP for the chaos experiments).

REST (``rest_url``): ``/api/v3/exchangeInfo``, ``/api/v3/historicalTrades`` (paging by fromId,
limit <= 1000, weight 25), ``X-MBX-USED-WEIGHT-1M``, injected 429/418 with ``Retry-After``
(faults.py), error JSON ``{"code": -1121, "msg": "Invalid symbol."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from cryptopipe.exchange import trade as history
from cryptopipe.exchange.rest import RestApi
from cryptopipe.exchange.trade import EmulatedTrade

T = TypeVar("T")

MAX_INCOMING_PER_S = 5
# load tests: POST lines of "<stream> <frame>"; each frame goes as is (wrapped on combined
# connections) to every connection subscribed to the stream. Not kept for REST backfill.
INJECT_PATH = "/loadtest/frames"


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    combined: bool
    micro: bool
    streams: set[str] = field(default_factory=set)
    incoming: list[float] = field(default_factory=list)
    pings_sent: list[bytes] = field(default_factory=list)
    opened_at: float = field(default_factory=time.time)
    silent_until: float = 0.0  # monotonic: sends nothing and answers no ping until then

    @property
    def silent(self) -> bool:
        return time.monotonic() < self.silent_until

    def live(self) -> bool:
        return not self.ws.closed and not self.silent


class BinanceEmulator:
    """Start with ``with BinanceEmulator(["BTCUSDT"]) as emu:``; then point the producer at
    ``emu.ws_url`` / ``emu.rest_url``."""

    def __init__(
        self,
        symbols: list[str],
        *,
        first_trade_id: int = 1000,
        ping_interval_s: float = 20.0,
        statuses: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        routes: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.symbols = [s.upper() for s in symbols]
        self.statuses = statuses or {}
        self.ping_interval_s = ping_interval_s
        self.history: dict[str, list[EmulatedTrade]] = {s: [] for s in self.symbols}
        self._next_id = dict.fromkeys(self.symbols, first_trade_id)
        self._conns: list[_Conn] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.routes = routes  # more routes on the same server (the HTTP fault controls)
        self._tasks: set[asyncio.Task[None]] = set()
        self.host = host
        self.port = port
        # observations
        self.connection_attempts = 0
        self.control_messages: list[dict[str, Any]] = []
        self.pongs_ok = 0
        self.pongs_bad = 0
        self.rate_violations = 0
        self.api = RestApi(self.symbols, self.statuses, self.history)
        self.rest = self.api.faults
        self.rest_calls = self.api.calls
        self.injected_frames = 0  # frames POSTed to INJECT_PATH

    @property
    def rest_violations(self) -> int:
        """REST requests sent inside a Retry-After window (answered 418)."""
        return self.rest.violations

    # lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> BinanceEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._stop(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task on the server's loop until it ends or the server stops."""

        def create() -> None:
            task = self._loop.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._loop.call_soon_threadsafe(create)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._ws_handler)
        app.router.add_get("/ws/{stream}", self._ws_handler)
        app.router.add_get("/stream", self._ws_handler)
        self.api.add_routes(app)
        app.router.add_post(INJECT_PATH, self._inject)
        if self.routes is not None:
            self.routes(app)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # market controls (call from the test thread) ---------------------------------------
    def publish(self, symbol: str, n: int = 1, *, deliver: bool = True) -> list[int]:
        """``n`` new trades of ``symbol``; ``deliver=False`` only records them (REST sees them,
        the stream never sends them: trades that happened while a client was away)."""
        return self._call(self._publish(symbol.upper(), n, deliver))

    async def _publish(self, symbol: str, n: int, deliver: bool) -> list[int]:
        ids = []
        for _ in range(n):
            trade_id = self._next_id[symbol]
            self._next_id[symbol] += 1
            trade = EmulatedTrade(
                symbol,
                trade_id,
                f"{100 + trade_id % 50}.{trade_id % 100:02d}000000",
                f"0.{trade_id % 1000 + 1:03d}00000",
                time.time_ns() // 1000,
                trade_id % 2 == 0,
            )
            await self.add(trade, deliver=deliver)
            ids.append(trade_id)
        return ids

    async def add(self, trade: EmulatedTrade, *, deliver: bool = True) -> None:
        """Record a trade (on the server's loop); the next id of its symbol follows it."""
        self.history[trade.symbol].append(trade)
        self._next_id[trade.symbol] = trade.trade_id + 1
        if deliver:
            await self._deliver(trade)

    def forget_before(self, before_us: int) -> int:
        """REST no longer serves trades older than ``before_us`` (its retention)."""
        return sum(history.trim(trades, before_us) for trades in self.history.values())

    async def _deliver(self, trade: EmulatedTrade) -> None:
        stream = f"{trade.symbol.lower()}@trade"
        for conn in list(self._conns):
            if stream not in conn.streams or not conn.live():
                continue
            payload = trade.stream_payload(conn.micro)
            body = {"stream": stream, "data": payload} if conn.combined else payload
            with contextlib.suppress(Exception):
                await conn.ws.send_str(json.dumps(body, separators=(",", ":")))

    async def _inject(self, request: web.Request) -> web.Response:
        body = await request.text()
        sent = 0
        for line in body.splitlines():
            stream, _, frame = line.partition(" ")
            for conn in list(self._conns):
                if stream not in conn.streams or not conn.live():
                    continue
                text = f'{{"stream":"{stream}","data":{frame}}}' if conn.combined else frame
                with contextlib.suppress(Exception):
                    await conn.ws.send_str(text)
                    sent += 1
            self.injected_frames += 1
        return web.json_response({"frames": sent})

    # fault controls: each has a coroutine (for the HTTP controls, on the server's loop) and a
    # blocking method (for a test's thread) -------------------------------------------------
    async def send_frames(self, frame: str, count: int = 1) -> int:
        """Send one text frame as is, ``count`` times, to every open, non-silent connection
        (bad input); returns how many connections got it."""
        conns = [c for c in self._conns if c.live()]
        for conn in conns:
            for _ in range(count):
                with contextlib.suppress(Exception):
                    await conn.ws.send_str(frame)
        return len(conns)

    def send_raw(self, frame: str, count: int = 1) -> int:
        return self._call(self.send_frames(frame, count))

    async def go_silent(self, seconds: float) -> int:
        """The open connections go silent without closing for ``seconds``: no trades, no
        pings, no pongs (a stale TCP path). New connections are served normally."""
        conns = [c for c in self._conns if not c.ws.closed]
        for conn in conns:
            conn.silent_until = time.monotonic() + seconds
        return len(conns)

    def silence(self, seconds: float) -> int:
        return self._call(self.go_silent(seconds))

    def end_silence(self) -> None:
        for conn in list(self._conns):
            conn.silent_until = 0.0

    async def drop_connections(self, *, close_frame: bool) -> int:
        """Drop every connection, politely (close frame) or not (TCP abort)."""
        conns = list(self._conns)
        for conn in conns:
            if close_frame:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001, message=b"going away")
            else:
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
        return len(conns)

    def disconnect_all(self, *, close_frame: bool) -> int:
        return self._call(self.drop_connections(close_frame=close_frame))

    async def announce_shutdown(self, close_after_s: float | None = None) -> int:
        """Send ``serverShutdown`` (combined name ``!serverShutdown``) to every connection;
        with ``close_after_s``, close those connections that much later, as the server going
        away does. Returns the number of connections told."""
        conns = [c for c in self._conns if c.live()]
        for conn in conns:
            payload = {"e": "serverShutdown", "E": int(time.time() * 1000)}
            body = {"stream": "!serverShutdown", "data": payload} if conn.combined else payload
            with contextlib.suppress(Exception):
                await conn.ws.send_str(json.dumps(body))
        if close_after_s is not None:
            self.spawn(self._close_later(conns, close_after_s))
        return len(conns)

    def server_shutdown(self, close_after_s: float | None = None) -> int:
        return self._call(self.announce_shutdown(close_after_s))

    async def _close_later(self, conns: list[_Conn], delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")

    def fail_next_rest(self, count: int, retry_after_s: float) -> None:
        """The next ``count`` REST calls answer 429 with ``Retry-After``."""
        self.rest.refuse(429, retry_after_s, count=count)

    def connections(self) -> list[dict[str, Any]]:
        """The open connections: since when (epoch s), streams, silent or not."""
        return [
            {"opened_at": c.opened_at, "streams": sorted(c.streams), "silent": c.silent}
            for c in self._conns
            if not c.ws.closed
        ]

    def open_connections(self) -> int:
        return sum(1 for c in self._conns if not c.ws.closed)

    def subscribed_streams(self) -> set[str]:
        return {s for c in self._conns if not c.ws.closed for s in c.streams}

    def wait_until(self, predicate: Any, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise TimeoutError("emulator condition not reached")

    # WebSocket -------------------------------------------------------------------------
    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        self.connection_attempts += 1
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        micro = request.query.get("timeUnit", "").upper() == "MICROSECOND"
        conn = _Conn(ws, request, combined=request.path == "/stream", micro=micro)
        if "stream" in request.match_info:
            conn.streams.add(request.match_info["stream"])
        for name in filter(None, request.query.get("streams", "").split("/")):
            conn.streams.add(name)
        self._conns.append(conn)
        pinger = asyncio.create_task(self._pinger(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    self._count_incoming(conn)
                    if not conn.silent:
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    if msg.data in conn.pings_sent:
                        self.pongs_ok += 1
                    else:
                        self.pongs_bad += 1
                elif msg.type == WSMsgType.TEXT:
                    if not self._count_incoming(conn):
                        break
                    await self._control(conn, msg.data)
                else:
                    break
        finally:
            pinger.cancel()
            self._conns.remove(conn)
        return ws

    def _count_incoming(self, conn: _Conn) -> bool:
        now = time.monotonic()
        conn.incoming = [t for t in conn.incoming if t > now - 1.0] + [now]
        if len(conn.incoming) > MAX_INCOMING_PER_S:
            self.rate_violations += 1
            asyncio.get_running_loop().create_task(conn.ws.close(code=1008, message=b"rate"))
            return False
        return True

    async def _pinger(self, conn: _Conn) -> None:
        n = 0
        while not conn.ws.closed:
            await asyncio.sleep(self.ping_interval_s)
            if conn.silent:
                continue
            n += 1
            payload = f"ping-{n}-{time.time_ns()}".encode()
            conn.pings_sent.append(payload)
            with contextlib.suppress(Exception):
                await conn.ws.ping(payload)

    async def _control(self, conn: _Conn, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            await conn.ws.send_json({"code": 3, "msg": "Invalid JSON", "id": None})
            return
        self.control_messages.append(message)
        method = message.get("method") if isinstance(message, dict) else None
        msg_id = message.get("id") if isinstance(message, dict) else None
        params = message.get("params", []) if isinstance(message, dict) else []
        if method == "SUBSCRIBE":
            conn.streams.update(params)
            result: Any = None
        elif method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
            result = None
        elif method == "LIST_SUBSCRIPTIONS":
            result = sorted(conn.streams)
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            result = None if method == "SET_PROPERTY" else False
        else:
            await conn.ws.send_json({"code": 2, "msg": "Invalid request", "id": msg_id})
            return
        await conn.ws.send_json({"result": result, "id": msg_id})
