"""Async Binance REST client for what the producer needs: exchangeInfo and historicalTrades.

Stays inside the request-weight budget, honours 429/418 ``Retry-After``, retries transient
errors with backoff, and raises :class:`BinanceApiError` for Binance error JSON
(``{"code": -1121, "msg": "Invalid symbol."}``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import orjson

from cryptopipe.producer.metrics import ProducerMetrics
from cryptopipe.producer.sources.binance.ratelimit import WeightBudget, backoff_delay
from cryptopipe.producer.stopper import Stopper

logger = logging.getLogger(__name__)

WEIGHT_EXCHANGE_INFO = 20
WEIGHT_HISTORICAL_TRADES = 25
HISTORICAL_TRADES_MAX_LIMIT = 1000
DEFAULT_RETRY_AFTER_S = 60.0
MAX_ATTEMPTS = 6
EXCHANGE_INFO_CHUNK = 100


class BinanceApiError(RuntimeError):
    def __init__(self, status: int, code: int | None, msg: str) -> None:
        super().__init__(f"Binance API error (HTTP {status}, code {code}): {msg}")
        self.status = status
        self.code = code
        self.msg = msg


class StoppedError(RuntimeError):
    """The producer is stopping; the request was abandoned."""


class BinanceRest:
    def __init__(
        self,
        base_url: str,
        metrics: ProducerMetrics,
        stopper: Stopper,
        *,
        weight_budget: int = 3000,
        timeout_s: float = 10.0,
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self._metrics = metrics
        self._stopper = stopper
        self.budget = WeightBudget(weight_budget)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopper.stopped:
            left = end - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.2))
        raise StoppedError("stopping")

    async def get(self, path: str, params: dict[str, Any], weight: int) -> Any:
        """GET with budget, Retry-After and transient-error retries; returns decoded JSON."""
        endpoint = path.rsplit("/", 1)[-1]
        for attempt in range(MAX_ATTEMPTS):
            wait = self.budget.delay(weight, time.time())
            while wait > 0:
                logger.info("REST weight budget: waiting %.1f s before %s", wait, endpoint)
                await self._sleep(wait)
                wait = self.budget.delay(weight, time.time())
            try:
                response = await self._client.get(path, params=params)
            except httpx.HTTPError as exc:
                self._metrics.rest_requests.labels(endpoint, "error").inc()
                delay = backoff_delay(attempt, 0.5, 10.0)
                logger.warning("REST %s failed (%s); retry in %.1f s", endpoint, exc, delay)
                await self._sleep(delay)
                continue
            status = response.status_code
            self._metrics.rest_requests.labels(endpoint, str(status)).inc()
            used = response.headers.get("x-mbx-used-weight-1m")
            if used is not None and used.isdigit():
                self.budget.observe_used(int(used), time.time())
                self._metrics.rest_used_weight.set(int(used))
            if status in (429, 418):
                retry_after = _retry_after(response)
                self.budget.block(retry_after, time.time())
                log = logger.error if status == 418 else logger.warning
                log(
                    "REST %s: HTTP %d, backing off %.0f s (Retry-After)",
                    endpoint,
                    status,
                    retry_after,
                )
                continue
            if status >= 500:
                delay = backoff_delay(attempt, 0.5, 10.0)
                logger.warning("REST %s: HTTP %d; retry in %.1f s", endpoint, status, delay)
                await self._sleep(delay)
                continue
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise BinanceApiError(status, None, f"non-JSON answer: {exc}") from exc
            if status >= 400:
                code = body.get("code") if isinstance(body, dict) else None
                msg = body.get("msg", "") if isinstance(body, dict) else str(body)
                raise BinanceApiError(status, code, str(msg))
            return body
        raise BinanceApiError(0, None, f"{endpoint}: gave up after {MAX_ATTEMPTS} attempts")

    async def exchange_info(self, symbols: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Symbol -> its exchangeInfo entry. Unknown symbols raise BinanceApiError (-1121).

        Asked in chunks so the query string stays short whatever the number of symbols.
        """
        info: dict[str, dict[str, Any]] = {}
        for i in range(0, len(symbols), EXCHANGE_INFO_CHUNK):
            param = orjson.dumps(list(symbols[i : i + EXCHANGE_INFO_CHUNK])).decode()
            body = await self.get("/api/v3/exchangeInfo", {"symbols": param}, WEIGHT_EXCHANGE_INFO)
            info.update({entry["symbol"]: entry for entry in body.get("symbols", [])})
        return info

    async def historical_trades(
        self, symbol: str, from_id: int, limit: int = HISTORICAL_TRADES_MAX_LIMIT
    ) -> list[dict[str, Any]]:
        body = await self.get(
            "/api/v3/historicalTrades",
            {"symbol": symbol, "fromId": from_id, "limit": min(limit, HISTORICAL_TRADES_MAX_LIMIT)},
            WEIGHT_HISTORICAL_TRADES,
        )
        if not isinstance(body, list):
            raise BinanceApiError(200, None, "historicalTrades did not return a list")
        return body


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return DEFAULT_RETRY_AFTER_S
