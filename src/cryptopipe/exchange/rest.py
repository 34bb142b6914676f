"""The exchange's REST API: ``/api/v3/exchangeInfo`` and ``/api/v3/historicalTrades`` (paging by
fromId, limit <= 1000), request weights in ``X-MBX-USED-WEIGHT-1M``, the refusals of
faults.py, and Binance's error JSON."""

from __future__ import annotations

import json
import time
from collections import deque

from aiohttp import web

from cryptopipe.exchange import trade
from cryptopipe.exchange.faults import RestFaults
from cryptopipe.exchange.trade import EmulatedTrade

WEIGHT_HISTORICAL = 25
WEIGHT_EXCHANGE_INFO = 20


class RestApi:
    def __init__(
        self,
        symbols: list[str],
        statuses: dict[str, str],
        history: dict[str, list[EmulatedTrade]],
    ) -> None:
        self.symbols = symbols
        self.statuses = statuses
        self.history = history
        self.faults = RestFaults()
        self.calls: deque[tuple[str, dict[str, str]]] = deque(maxlen=10_000)  # the latest
        self.calls_total = 0
        self._weight: dict[int, int] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/historicalTrades", self._historical_trades)

    def _guard(self, request: web.Request, weight: int) -> web.Response | None:
        self.calls.append((request.path, dict(request.query)))
        self.calls_total += 1
        refused = self.faults.check()
        if refused is not None:
            status, body, headers = refused
            return web.json_response(body, status=status, headers=headers)
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
        refused = self._guard(request, WEIGHT_EXCHANGE_INFO)
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
        refused = self._guard(request, WEIGHT_HISTORICAL)
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
        page = trade.page(self.history[symbol], from_id, limit)
        return web.json_response([t.rest_record() for t in page], headers=self._headers())
