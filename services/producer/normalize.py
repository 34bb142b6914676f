"""Turn one raw Binance payload into a normalized trade or a DLQ rejection. Pure functions.

Every source (live WebSocket, REST backfill, replay, synthetic) goes through here, so the rules
are in one place:

- a frame is a raw ``<symbol>@trade`` payload or a combined-stream wrapper
  ``{"stream": ..., "data": <payload>}``; unknown extra fields (``b``, ``a``, ``M`` ...) are
  ignored;
- prices and quantities must be plain decimal strings > 0 and come out normalised
  (``"0.00100000"`` -> ``"0.001"``), never floats;
- times may be milliseconds (the default feed) or microseconds (``timeUnit=MICROSECOND``), told
  apart by magnitude, and always come out as epoch microseconds; absurd times are rejected.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cryptopipe.dlq import DlqReason
from cryptopipe.producer.trade import Trade
from cryptopipe.trade_rules import SYMBOL_BODY

DEFAULT_MAX_FRAME_BYTES = 16 * 1024

# Binance spot opened in July 2017; nothing older is a real trade.
MIN_TIME_US = 1_498_867_200_000_000  # 2017-07-01T00:00:00Z
DEFAULT_MAX_FUTURE_US = 24 * 3600 * 1_000_000
# Epoch milliseconds have 13 digits (until 2286), microseconds 16.
_MS_LOW, _MS_HIGH = 10**11, 10**14
_US_LOW, _US_HIGH = 10**14, 10**17

_DECIMAL_RE = re.compile(r"(-?)([0-9]{1,40})(?:\.([0-9]{0,40}))?")
_SYMBOL_RE = re.compile(SYMBOL_BODY)  # the one symbol rule of every checker


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a payload could not be accepted (becomes a DLQ record and a metric)."""

    reason: DlqReason
    detail: str


class InvalidDecimalError(ValueError):
    def __init__(self, reason: DlqReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def normalize_decimal(text: str) -> str:
    """Exact canonical form of a positive decimal string: no exponent, no padding zeros.

    Raises InvalidDecimalError (BAD_DECIMAL or NON_POSITIVE).
    """
    whole, _, frac = text.partition(".")
    # Fast path: plain ASCII digits (str.isdigit alone would accept other scripts' digits).
    if whole.isdigit() and text.isascii() and len(text) <= 81 and (not frac or frac.isdigit()):
        whole = whole.lstrip("0") or "0"
        frac = frac.rstrip("0")
        if frac:
            return f"{whole}.{frac}"
        if whole != "0":
            return whole
        raise InvalidDecimalError(DlqReason.NON_POSITIVE, f"zero: {text!r}")
    match = _DECIMAL_RE.fullmatch(text)
    if match is None:
        raise InvalidDecimalError(
            DlqReason.BAD_DECIMAL, f"not a plain decimal string: {text[:40]!r}"
        )
    sign, whole, frac = match.groups()
    whole = whole.lstrip("0") or "0"
    frac = (frac or "").rstrip("0")
    if whole == "0" and not frac:
        raise InvalidDecimalError(DlqReason.NON_POSITIVE, f"zero: {text!r}")
    if sign:
        raise InvalidDecimalError(DlqReason.NON_POSITIVE, f"negative: {text!r}")
    return f"{whole}.{frac}" if frac else whole


# Valid decimal strings already normalised -> their canonical form. Prices repeat from trade to
# trade (and quantities often do), so most trades skip normalize_decimal. Bounded: emptied when
# full, which keeps memory flat whatever the input.
_CACHE_ENTRIES = 8192
_PRICES: dict[str, str] = {}
_QUANTITIES: dict[str, str] = {}


def _canonical(text: str, cache: dict[str, str], field: str) -> str | Rejection:
    """normalize_decimal, remembered in ``cache``; a Rejection names ``field``."""
    try:
        canonical = normalize_decimal(text)
    except InvalidDecimalError as exc:
        return Rejection(exc.reason, f"{field}: {exc}")
    if len(cache) >= _CACHE_ENTRIES:
        cache.clear()
    cache[text] = canonical
    return canonical


def time_to_us(value: object, field: str, now_us: int, max_future_us: int) -> int:
    """Epoch ms or µs (by magnitude) -> epoch µs. Raises ValueError with a detail on nonsense."""
    if type(value) is not int:
        raise TypeError(f"{field} must be an integer, got {type(value).__name__}")
    if _MS_LOW <= value < _MS_HIGH:
        us = value * 1000
    elif _US_LOW <= value < _US_HIGH:
        us = value
    else:
        raise ValueError(f"{field}={value} is neither epoch milliseconds nor microseconds")
    if us < MIN_TIME_US:
        raise ValueError(f"{field}={value} is before Binance spot existed")
    if us > now_us + max_future_us:
        raise ValueError(f"{field}={value} is too far in the future")
    return us


def decode_frame(raw: bytes, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Any:
    """Size check + JSON decode + combined-stream unwrap. Returns the payload or a Rejection."""
    if len(raw) > max_frame_bytes:
        return Rejection(DlqReason.OVERSIZED, f"{len(raw)} bytes > limit {max_frame_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection(DlqReason.NOT_JSON, f"invalid JSON: {exc}"[:200])
    if type(obj) is not dict:
        return Rejection(DlqReason.NOT_AN_OBJECT, f"JSON {type(obj).__name__}, not an object")
    if "stream" in obj and "data" in obj:
        obj = obj["data"]
        if not isinstance(obj, dict):
            return Rejection(DlqReason.NOT_AN_OBJECT, "combined frame whose data is not an object")
    return obj


def normalize_payload(
    payload: Mapping[str, Any],
    symbols: Collection[str] | None,
    ingest_time_us: int,
    max_future_us: int = DEFAULT_MAX_FUTURE_US,
) -> Trade | Rejection:
    """Validate one decoded ``trade`` event and build the normalized trade.

    ``symbols`` is the set of accepted upper-case symbols (None accepts any well-formed one).
    This is the per-trade hot path: checks are ordered so a valid trade costs little.
    """
    try:
        event = payload["e"]
        symbol = payload["s"]
        trade_id = payload["t"]
        price = payload["p"]
        quantity = payload["q"]
        trade_time = payload["T"]
        is_buyer_maker = payload["m"]
    except KeyError as exc:
        return Rejection(DlqReason.MISSING_FIELD, f"missing field {exc.args[0]!r}")
    if event != "trade":
        return Rejection(DlqReason.UNSUPPORTED_EVENT, f"event type {str(event)[:40]!r}")
    if type(symbol) is not str:
        return Rejection(DlqReason.WRONG_TYPE, "s (symbol) must be a string")
    if symbols is None or symbol not in symbols:
        symbol = symbol.upper()
        if _SYMBOL_RE.fullmatch(symbol) is None:
            return Rejection(DlqReason.UNKNOWN_SYMBOL, f"malformed symbol {symbol[:40]!r}")
        if symbols is not None and symbol not in symbols:
            return Rejection(DlqReason.UNKNOWN_SYMBOL, f"symbol {symbol} is not configured")
    if type(trade_id) is not int:
        return Rejection(DlqReason.WRONG_TYPE, "t (trade id) must be an integer")
    if trade_id < 0:
        return Rejection(DlqReason.WRONG_TYPE, f"t (trade id) is negative: {trade_id}")
    if type(price) is not str or type(quantity) is not str:
        return Rejection(DlqReason.WRONG_TYPE, "p and q must be decimal strings")
    if type(is_buyer_maker) is not bool:
        return Rejection(DlqReason.WRONG_TYPE, "m (buyer is maker) must be a boolean")
    price = _PRICES.get(price) or _canonical(price, _PRICES, "price")
    if isinstance(price, Rejection):
        return price
    quantity = _QUANTITIES.get(quantity) or _canonical(quantity, _QUANTITIES, "quantity")
    if isinstance(quantity, Rejection):
        return quantity
    event_raw = payload.get("E")
    latest_us = ingest_time_us + max_future_us
    if (
        type(trade_time) is int
        and _MS_LOW <= trade_time < _MS_HIGH
        and MIN_TIME_US <= (trade_time_us := trade_time * 1000) <= latest_us
    ):
        pass  # fast path: milliseconds, in range
    else:
        try:
            trade_time_us = time_to_us(trade_time, "T", ingest_time_us, max_future_us)
        except TypeError as exc:
            return Rejection(DlqReason.WRONG_TYPE, str(exc))
        except ValueError as exc:
            return Rejection(DlqReason.BAD_TIME, str(exc))
    if event_raw is None:
        event_time_us = trade_time_us
    elif (
        type(event_raw) is int
        and _MS_LOW <= event_raw < _MS_HIGH
        and MIN_TIME_US <= (event_time_us := event_raw * 1000) <= latest_us
    ):
        pass
    else:
        try:
            event_time_us = time_to_us(event_raw, "E", ingest_time_us, max_future_us)
        except TypeError as exc:
            return Rejection(DlqReason.WRONG_TYPE, str(exc))
        except ValueError as exc:
            return Rejection(DlqReason.BAD_TIME, str(exc))
    return Trade(
        symbol,
        trade_id,
        price,
        quantity,
        trade_time_us,
        event_time_us,
        ingest_time_us,
        is_buyer_maker,
    )


def normalize_frame(
    raw: bytes,
    *,
    symbols: Collection[str] | None,
    ingest_time_us: int,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    max_future_us: int = DEFAULT_MAX_FUTURE_US,
) -> Trade | Rejection:
    """One raw Binance frame (raw or combined ``@trade`` payload) -> trade or rejection."""
    obj = decode_frame(raw, max_frame_bytes)
    if isinstance(obj, Rejection):
        return obj
    return normalize_payload(
        obj, symbols=symbols, ingest_time_us=ingest_time_us, max_future_us=max_future_us
    )


def rest_trade_to_payload(symbol: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A REST ``historicalTrades`` record -> the stream payload shape (same normalizer after)."""
    payload: dict[str, Any] = {"e": "trade", "s": symbol}
    for rest_key, stream_key in (
        ("id", "t"),
        ("price", "p"),
        ("qty", "q"),
        ("time", "T"),
        ("isBuyerMaker", "m"),
    ):
        if rest_key in record:
            payload[stream_key] = record[rest_key]
    return payload


def normalize_rest_trade(
    symbol: str,
    record: Mapping[str, Any],
    *,
    symbols: Collection[str] | None,
    ingest_time_us: int,
    max_future_us: int = DEFAULT_MAX_FUTURE_US,
) -> Trade | Rejection:
    """One ``historicalTrades`` record (no event time: it is the trade time)."""
    return normalize_payload(
        rest_trade_to_payload(symbol, record),
        symbols=symbols,
        ingest_time_us=ingest_time_us,
        max_future_us=max_future_us,
    )
