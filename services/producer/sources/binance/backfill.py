"""Fill per-symbol trade-id gaps from REST ``historicalTrades`` (and catch up after reconnects).

Gaps come from the :class:`SequenceTracker` (the pipeline calls :meth:`Backfiller.notify`).
Each missing range is fetched oldest first, 1000 trades per request, through the same normalizer
and the same dedup as live trades, so a trade that arrives both live and from REST is produced
once. A range REST cannot return after ``max_attempts`` tries is given up and counted as
unrecoverable (``cryptopipe_producer_trades_unrecoverable_total``), never silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import orjson

from cryptopipe.producer.normalize import Rejection, normalize_rest_trade
from cryptopipe.producer.pipeline import Pipeline, now_us
from cryptopipe.producer.sequence import Gap
from cryptopipe.producer.sources.binance.ratelimit import backoff_delay
from cryptopipe.producer.sources.binance.rest import (
    HISTORICAL_TRADES_MAX_LIMIT,
    BinanceApiError,
    BinanceRest,
    StoppedError,
)
from cryptopipe.producer.stopper import Stopper

logger = logging.getLogger(__name__)


class Backfiller:
    def __init__(
        self,
        rest: BinanceRest,
        pipeline: Pipeline,
        stopper: Stopper,
        max_attempts: int = 8,
        max_gap_trades: int = 200_000,
    ) -> None:
        self._max_gap_trades = max_gap_trades
        self._rest = rest
        self._pipeline = pipeline
        self._stopper = stopper
        self._max_attempts = max_attempts
        self._gap_symbols: set[str] = set()
        self._catch_up: dict[str, int | None] = {}  # symbol -> last id when asked
        self._wake = asyncio.Event()
        self._attempts: dict[str, int] = {}
        self.idle = asyncio.Event()
        self.idle.set()

    def notify(self, gap: Gap) -> None:
        """A gap was detected (called synchronously by the pipeline)."""
        if gap.size > self._max_gap_trades:
            end = gap.last_id - self._max_gap_trades
            logger.error(
                "gap in %s too large (%d trades): trades %d..%d will not be backfilled",
                gap.symbol, gap.size, gap.first_id, end,
            )  # fmt: skip
            self._pipeline.tracker.give_up(gap.symbol, gap.first_id, end)
            self._pipeline.metrics.trades_lost.labels(gap.symbol).inc(end - gap.first_id + 1)
        self._gap_symbols.add(gap.symbol)
        self.idle.clear()
        self._wake.set()

    def catch_up(self, symbols: Iterable[str]) -> None:
        """After a reconnect: fetch what these symbols traded while we were away.

        Skipped for a symbol whose live stream delivers a trade first: then gap detection
        covers it, and the REST weight is kept for symbols that stay quiet.
        """
        tracker = self._pipeline.tracker
        for symbol in symbols:
            self._catch_up[symbol] = tracker.last_id(symbol)
        self.idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Work until stopped."""
        while not self._stopper.stopped:
            if not self._gap_symbols and not self._catch_up:
                self.idle.set()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                except TimeoutError:
                    continue
            try:
                if self._gap_symbols:
                    symbol = min(self._gap_symbols)
                    done = await self._fill_gaps(symbol)
                    if done:
                        self._gap_symbols.discard(symbol)
                elif self._catch_up:
                    symbol = min(self._catch_up)
                    asked_at = self._catch_up.pop(symbol)
                    if self._pipeline.tracker.last_id(symbol) == asked_at:
                        await self._catch_up_symbol(symbol)
            except StoppedError:
                return

    def _feed(self, symbol: str, records: list[dict[str, object]], max_id: int | None) -> int:
        """Normalize + produce REST records (dedup by the tracker); returns highest id seen."""
        highest = -1
        pipeline = self._pipeline
        for record in records:
            received = now_us()
            trade = normalize_rest_trade(
                symbol,
                record,
                symbols=pipeline.symbols,
                ingest_time_us=received,
                max_future_us=pipeline.max_future_us,
            )
            if isinstance(trade, Rejection):
                pipeline.reject(orjson.dumps(record), trade)
                raw_id = record.get("id")
                if isinstance(raw_id, int):
                    highest = max(highest, raw_id)
                continue
            highest = max(highest, trade.trade_id)
            if max_id is not None and trade.trade_id > max_id:
                continue
            pipeline.handle_trade(trade, backfill=True)
        return highest

    async def _fill_gaps(self, symbol: str) -> bool:
        """One REST page for the oldest missing range; True when nothing is missing anymore."""
        tracker = self._pipeline.tracker
        missing = tracker.missing(symbol)
        if not missing:
            return True
        lo, hi = missing[0]
        limit = min(HISTORICAL_TRADES_MAX_LIMIT, hi - lo + 1)
        try:
            records = await self._rest.historical_trades(symbol, lo, limit)
        except BinanceApiError as exc:
            logger.warning("backfill %s from %d failed: %s", symbol, lo, exc)
            records = []
        highest = self._feed(symbol, records, hi)
        if tracker.missing(symbol)[:1] == [(lo, hi)] and highest < lo:
            # No progress: retry with backoff, then give up and count the loss.
            attempts = self._attempts.get(symbol, 0) + 1
            self._attempts[symbol] = attempts
            if attempts >= self._max_attempts:
                logger.error(
                    "backfill %s: trades %d..%d unavailable after %d attempts; counted as lost",
                    symbol,
                    lo,
                    hi,
                    attempts,
                )
                tracker.give_up(symbol, lo, hi)
                self._pipeline.metrics.trades_lost.labels(symbol).inc(hi - lo + 1)
                self._attempts.pop(symbol, None)
            else:
                await self._sleep(backoff_delay(attempts, 1.0, 30.0))
            return not tracker.missing(symbol)
        if highest >= lo:
            # Records below the first one returned cannot exist anymore (ids are contiguous).
            self._attempts.pop(symbol, None)
            first = min((r["id"] for r in records if isinstance(r.get("id"), int)), default=lo)
            if isinstance(first, int) and first > lo:
                end = min(first - 1, hi)
                logger.error("backfill %s: trades %d..%d do not exist on REST", symbol, lo, end)
                tracker.give_up(symbol, lo, end)
                self._pipeline.metrics.trades_lost.labels(symbol).inc(end - lo + 1)
        return not tracker.missing(symbol)

    async def _catch_up_symbol(self, symbol: str) -> None:
        tracker = self._pipeline.tracker
        for _ in range(max(1, self._max_gap_trades // HISTORICAL_TRADES_MAX_LIMIT)):
            if self._stopper.stopped:
                return
            last = tracker.last_id(symbol)
            if last is None:
                return
            try:
                records = await self._rest.historical_trades(symbol, last + 1)
            except BinanceApiError as exc:
                logger.warning("catch-up %s from %d failed: %s", symbol, last + 1, exc)
                return
            self._feed(symbol, records, None)
            if len(records) < HISTORICAL_TRADES_MAX_LIMIT:
                return

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._stopper.stopped:
                raise StoppedError("stopping")
            await asyncio.sleep(min(0.2, end - time.monotonic()))
