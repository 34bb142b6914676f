"""HTTP fault controls of the served exchange, for chaos experiments in another process.

Every control is a POST under ``/control`` on the exchange's own port, with query parameters;
each answers JSON. ``GET /control/state`` shows the connections, the REST refusals and what
the market generated.

| path | parameters | fault |
|---|---|---|
| ``/control/disconnect`` | ``close_frame`` (true/false) | drop every connection |
| ``/control/server-shutdown`` | ``close_after_s`` (optional) | ``serverShutdown`` to all |
| ``/control/silence`` | ``seconds`` | open connections send nothing, answer no ping |
| ``/control/rest`` | ``status`` 429/418, ``retry_after_s``, ``count``/``seconds`` | refusals |
| ``/control/garbage`` | ``count``, ``frame`` (optional) | frames that are not JSON |
| ``/control/history`` | ``seconds`` | REST keeps only that many seconds of trades |
| ``/control/reset`` | | every fault lifted (the experiments' rollback) |
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cryptopipe.exchange.emulator import BinanceEmulator
from cryptopipe.exchange.market import Market

logger = logging.getLogger(__name__)

PREFIX = "/control"
GARBAGE_FRAME = '{"e":"trade","s":'  # a truncated frame: not JSON

Handler = Callable[[web.Request], Awaitable[web.Response]]


class BadControlError(ValueError):
    """A control called with a missing or malformed parameter (HTTP 400)."""


def _number(request: web.Request, name: str, default: float | None = None) -> float:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise BadControlError(f"parameter {name} is required")
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadControlError(f"parameter {name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise BadControlError(f"parameter {name} must be >= 0, got {raw!r}")
    return value


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadControlError(f"parameter {name} must be true or false, got {raw!r}")
    return raw in ("true", "1")


class Controls:
    def __init__(self, emulator: BinanceEmulator, market: Market | None) -> None:
        self.emulator = emulator
        self.market = market
        self.faults: list[dict[str, Any]] = []  # every control called, with when

    def add_routes(self, app: web.Application) -> None:
        posts: dict[str, Handler] = {
            "disconnect": self._disconnect,
            "server-shutdown": self._server_shutdown,
            "silence": self._silence,
            "rest": self._rest,
            "garbage": self._garbage,
            "history": self._history,
            "reset": self._reset,
        }
        for name, handler in posts.items():
            app.router.add_post(f"{PREFIX}/{name}", self._guarded(name, handler))
        app.router.add_get(f"{PREFIX}/state", self._state)

    def _guarded(self, name: str, handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.Response:
            try:
                response = await handler(request)
            except BadControlError as exc:
                return web.json_response({"error": str(exc)}, status=400)
            self.faults.append({"control": name, "query": dict(request.query), "at": time.time()})
            logger.warning("fault control %s %s", name, dict(request.query))
            return response

        return run

    async def _disconnect(self, request: web.Request) -> web.Response:
        dropped = await self.emulator.drop_connections(close_frame=_flag(request, "close_frame"))
        return web.json_response({"dropped": dropped})

    async def _server_shutdown(self, request: web.Request) -> web.Response:
        close_after = (
            _number(request, "close_after_s") if "close_after_s" in request.query else None
        )
        told = await self.emulator.announce_shutdown(close_after)
        return web.json_response({"told": told, "close_after_s": close_after})

    async def _silence(self, request: web.Request) -> web.Response:
        seconds = _number(request, "seconds")
        return web.json_response({"silenced": await self.emulator.go_silent(seconds)})

    async def _rest(self, request: web.Request) -> web.Response:
        status = int(_number(request, "status", 429))
        retry_after = _number(request, "retry_after_s", 1.0)
        count = int(_number(request, "count")) if "count" in request.query else None
        seconds = _number(request, "seconds") if "seconds" in request.query else None
        try:
            self.emulator.rest.refuse(status, retry_after, count=count, seconds=seconds)
        except ValueError as exc:
            raise BadControlError(str(exc)) from exc
        return web.json_response({"refusals": self.emulator.rest.active()})

    async def _garbage(self, request: web.Request) -> web.Response:
        count = int(_number(request, "count", 1))
        frame = request.query.get("frame", GARBAGE_FRAME)
        told = await self.emulator.send_frames(frame, count)
        return web.json_response({"connections": told, "frames_each": count})

    async def _history(self, request: web.Request) -> web.Response:
        if self.market is None:
            raise BadControlError("this exchange runs no market of its own")
        self.market.history_s = _number(request, "seconds")
        return web.json_response({"history_s": self.market.history_s})

    async def _reset(self, _: web.Request) -> web.Response:
        self.emulator.end_silence()
        self.emulator.rest.clear()
        if self.market is not None:
            self.market.history_s = self.market.default_history_s
        return web.json_response({"reset": True})

    async def _state(self, _: web.Request) -> web.Response:
        emu = self.emulator
        history = {
            s: {
                "trades": len(trades),
                "first_id": trades[0].trade_id if trades else None,
                "last_id": trades[-1].trade_id if trades else None,
            }
            for s, trades in emu.history.items()
        }
        body = {
            "connections": emu.connections(),
            "connection_attempts": emu.connection_attempts,
            "rest": {
                "calls": emu.api.calls_total,
                "refused": emu.rest.refused,
                "violations": emu.rest.violations,
                "refusals": emu.rest.active(),
            },
            "market": None
            if self.market is None
            else {
                "rate": self.market.rate,
                "generated": self.market.generated,
                "history_s": self.market.history_s,
            },
            "history": history,
            "faults": self.faults[-50:],
        }
        return web.json_response(body)
