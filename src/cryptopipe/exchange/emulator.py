"""The exchange: aiohttp WebSocket + REST server in a background thread.

WebSocket (``ws_url``):
- ``/ws/<stream>`` raw stream, ``/ws`` (subscribe later), ``/stream?streams=a/b`` combined
  (each event wrapped as ``{"stream": ..., "data": ...}``); ``timeUnit=MICROSECOND`` switches
  every time field to microseconds;
- live control messages SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY /
  GET_PROPERTY with ``{"result": ..., "id": ...}`` answers and ``{"code", "msg", "id"}`` errors;
- more than 5 incoming messages per second drops the connection (counted as a violation);
- a ping frame with a payload every ``ping_interval_s``; pongs are checked for the same payload;
- test controls: server-side disconnects with or without a close frame, ``serverShutdown``.

REST (``rest_url``): ``/api/v3/exchangeInfo``, ``/api/v3/historicalTrades`` (paging by fromId,
limit <= 1000, weight 25), ``X-MBX-USED-WEIGHT-1M``, injected 429 with ``Retry-After`` (a
request during the Retry-After window gets 418 and counts as a violation), error JSON
``{"code": -1121, "msg": "Invalid symbol."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")

WEIGHT_HISTORICAL = 25
WEIGHT_EXCHANGE_INFO = 20
MAX_INCOMING_PER_S = 5
# load tests: POST lines of "<stream> <frame>"; each frame goes as is (wrapped on combined
# connections) to every connection subscribed to the stream. Not kept for REST backfill.
INJECT_PATH = "/loadtest/frames"


@dataclass(frozen=True)
class EmulatedTrade:
    symbol: str
    trade_id: int
    price: str
    qty: str
    time_us: int
    is_buyer_maker: bool

    def stream_payload(self, micro: bool) -> dict[str, Any]:
        t = self.time_us if micro else self.time_us // 1000
        return {
            "e": "trade",
            "E": t + (1000 if micro else 1),
            "s": self.symbol,
            "t": self.trade_id,
            "p": self.price,
            "q": self.qty,
            "T": t,
            "m": self.is_buyer_maker,
            "M": True,
        }

    def rest_record(self) -> dict[str, Any]:
        return {
            "id": self.trade_id,
            "price": self.price,
            "qty": self.qty,
            "quoteQty": "0",
            "time": self.time_us // 1000,
            "isBuyerMaker": self.is_buyer_maker,
            "isBestMatch": True,
        }


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    combined: bool
    micro: bool
    streams: set[str] = field(default_factory=set)
    incoming: list[float] = field(default_factory=list)
    pings_sent: list[bytes] = field(default_factory=list)


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
        self.port = 0
        # observations
        self.connection_attempts = 0
        self.control_messages: list[dict[str, Any]] = []
        self.pongs_ok = 0
        self.pongs_bad = 0
        self.rate_violations = 0
        self.rest_calls: list[tuple[str, dict[str, str]]] = []
        self.rest_violations = 0
        self.injected_frames = 0  # frames POSTed to INJECT_PATH
        self._weight: dict[int, int] = {}
        self._fail_next: list[float] = []  # Retry-After seconds of the next injected 429s
        self._blocked_until = 0.0

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
        return f"ws://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._ws_handler)
        app.router.add_get("/ws/{stream}", self._ws_handler)
        app.router.add_get("/stream", self._ws_handler)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/historicalTrades", self._historical_trades)
        app.router.add_post(INJECT_PATH, self._inject)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _stop(self) -> None:
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
            self.history[symbol].append(trade)
            ids.append(trade_id)
            if deliver:
                await self._deliver(trade)
        return ids

    async def _deliver(self, trade: EmulatedTrade) -> None:
        stream = f"{trade.symbol.lower()}@trade"
        for conn in list(self._conns):
            if stream not in conn.streams or conn.ws.closed:
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
                if stream not in conn.streams or conn.ws.closed:
                    continue
                text = f'{{"stream":"{stream}","data":{frame}}}' if conn.combined else frame
                with contextlib.suppress(Exception):
                    await conn.ws.send_str(text)
                    sent += 1
            self.injected_frames += 1
        return web.json_response({"frames": sent})

    def send_raw(self, frame: str) -> None:
        """Send one text frame as is to every open connection (bad-input tests)."""

        async def send() -> None:
            for conn in list(self._conns):
                with contextlib.suppress(Exception):
                    await conn.ws.send_str(frame)

        self._call(send())

    def disconnect_all(self, *, close_frame: bool) -> int:
        """Drop every connection, politely (close frame) or not (TCP abort)."""

        async def drop() -> int:
            conns = list(self._conns)
            for conn in conns:
                if close_frame:
                    await conn.ws.close(code=1001, message=b"going away")
                else:
                    transport = conn.request.transport
                    if transport is not None:
                        transport.abort()
            return len(conns)

        return self._call(drop())

    def server_shutdown(self) -> None:
        """Send ``serverShutdown`` (combined name ``!serverShutdown``) to every connection."""

        async def send() -> None:
            for conn in list(self._conns):
                payload = {"e": "serverShutdown", "E": int(time.time() * 1000)}
                body = {"stream": "!serverShutdown", "data": payload} if conn.combined else payload
                with contextlib.suppress(Exception):
                    await conn.ws.send_str(json.dumps(body))

        self._call(send())

    def fail_next_rest(self, count: int, retry_after_s: float) -> None:
        """The next ``count`` REST calls answer 429 with ``Retry-After``."""
        self._fail_next.extend([retry_after_s] * count)

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

    # REST ------------------------------------------------------------------------------
    def _rest_guard(self, request: web.Request, weight: int) -> web.Response | None:
        self.rest_calls.append((request.path, dict(request.query)))
        now = time.monotonic()
        if now < self._blocked_until:
            self.rest_violations += 1
            return web.json_response(
                {"code": -1003, "msg": "IP banned (ignored Retry-After)."},
                status=418,
                headers={"Retry-After": str(int(self._blocked_until - now) + 1)},
            )
        if self._fail_next:
            retry_after = self._fail_next.pop(0)
            self._blocked_until = now + retry_after
            return web.json_response(
                {"code": -1003, "msg": "Too many requests."},
                status=429,
                headers={"Retry-After": str(math.ceil(retry_after))},  # whole seconds
            )
        minute = int(time.time() // 60)
        self._weight[minute] = self._weight.get(minute, 0) + weight
        return None

    def _headers(self) -> dict[str, str]:
        return {"X-MBX-USED-WEIGHT-1M": str(self._weight.get(int(time.time() // 60), 0))}

    def _invalid_symbol(self) -> web.Response:
        return web.json_response(
            {"code": -1121, "msg": "Invalid symbol."}, status=400, headers=self._headers()
        )

    async def _exchange_info(self, request: web.Request) -> web.Response:
        refused = self._rest_guard(request, WEIGHT_EXCHANGE_INFO)
        if refused is not None:
            return refused
        wanted = self.symbols
        if "symbols" in request.query:
            wanted = json.loads(request.query["symbols"])
        elif "symbol" in request.query:
            wanted = [request.query["symbol"]]
        if any(s not in self.symbols for s in wanted):
            return self._invalid_symbol()
        symbols = [
            {
                "symbol": s,
                "status": self.statuses.get(s, "TRADING"),
                "filters": [
                    {"filterType": "PRICE_FILTER", "tickSize": "0.01000000"},
                    {"filterType": "LOT_SIZE", "stepSize": "0.00001000"},
                ],
            }
            for s in wanted
        ]
        body = {"timezone": "UTC", "serverTime": int(time.time() * 1000), "symbols": symbols}
        return web.json_response(body, headers=self._headers())

    async def _historical_trades(self, request: web.Request) -> web.Response:
        refused = self._rest_guard(request, WEIGHT_HISTORICAL)
        if refused is not None:
            return refused
        symbol = request.query.get("symbol", "")
        if symbol not in self.history:
            return self._invalid_symbol()
        try:
            limit = int(request.query.get("limit", "500"))
            from_id = int(request.query["fromId"]) if "fromId" in request.query else None
        except ValueError:
            return web.json_response(
                {"code": -1100, "msg": "Illegal characters found in a parameter."}, status=400
            )
        if not 1 <= limit <= 1000:
            return web.json_response(
                {"code": -1130, "msg": "Invalid data sent for a parameter."}, status=400
            )
        trades = self.history[symbol]
        if from_id is None:
            page = trades[-limit:]
        else:
            page = [t for t in trades if t.trade_id >= from_id][:limit]
        return web.json_response([t.rest_record() for t in page], headers=self._headers())
