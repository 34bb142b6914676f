"""The normalizer: one raw Binance payload -> a schema-v1 trade or a DLQ reason."""

from __future__ import annotations

import gzip

import orjson
import pytest

from cryptopipe.dlq import DlqReason
from cryptopipe.producer.normalize import (
    Rejection,
    normalize_decimal,
    normalize_frame,
    normalize_rest_trade,
)
from cryptopipe.producer.trade import Trade
from cryptopipe.trade_rules import SYMBOL_MAX_LEN

NOW_US = 1_767_225_600_000_000  # 2026-01-01
SYMBOLS = frozenset({"BTCUSDT", "BNBBTC"})


def frame(**overrides: object) -> bytes:
    payload: dict[str, object] = {
        "e": "trade",
        "E": 1_767_225_599_500,
        "s": "BTCUSDT",
        "t": 12345,
        "p": "65000.01000000",
        "q": "0.00100000",
        "T": 1_767_225_599_499,
        "m": True,
        "M": True,
    }
    for key, value in overrides.items():
        if value is ...:
            del payload[key]
        else:
            payload[key] = value
    return orjson.dumps(payload)


def norm(raw: bytes, **kwargs: object) -> Trade | Rejection:
    return normalize_frame(raw, symbols=SYMBOLS, ingest_time_us=NOW_US, **kwargs)  # type: ignore[arg-type]


def test_documented_example_payload() -> None:
    raw = (
        b'{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",'
        b'"T":1672515782136,"m":true,"M":true}'
    )
    trade = norm(raw)
    assert trade == Trade(
        symbol="BNBBTC",
        trade_id=12345,
        price="0.001",
        quantity="100",
        trade_time_us=1_672_515_782_136_000,
        event_time_us=1_672_515_782_136_000,
        ingest_time_us=NOW_US,
        is_buyer_maker=True,
    )


def test_serialized_schema_v1_has_exact_strings_and_key_order() -> None:
    trade = norm(frame())
    assert isinstance(trade, Trade)
    assert trade.key() == b"BTCUSDT"
    assert trade.to_json() == (
        b'{"v":1,"exchange":"binance","symbol":"BTCUSDT","trade_id":12345,'
        b'"price":"65000.01","quantity":"0.001","trade_time_us":1767225599499000,'
        b'"event_time_us":1767225599500000,"ingest_time_us":1767225600000000,'
        b'"is_buyer_maker":true}'
    )


@pytest.mark.parametrize("maker", [True, False])
def test_fast_serializer_matches_orjson(maker: bool) -> None:
    trade = norm(frame(m=maker, p="0.00000001", q="123456789.5", t=2**62))
    assert isinstance(trade, Trade)
    assert trade.to_json() == trade.to_json_slow()
    assert orjson.loads(trade.to_json()) == trade.to_dict()


def test_combined_stream_wrapper_is_unwrapped() -> None:
    inner = orjson.loads(frame())
    raw = orjson.dumps({"stream": "btcusdt@trade", "data": inner})
    assert norm(raw) == norm(frame())


def test_microsecond_feed_gives_same_times_as_millisecond_feed() -> None:
    ms = norm(frame())
    us = norm(frame(E=1_767_225_599_500_000, T=1_767_225_599_499_000))
    assert isinstance(ms, Trade)
    assert ms == us
    fine = norm(frame(T=1_767_225_599_499_123))
    assert isinstance(fine, Trade)
    assert fine.trade_time_us == 1_767_225_599_499_123


def test_archived_fields_b_a_and_unknown_extras_are_tolerated() -> None:
    trade = norm(frame(b=88, a=50, X="MARKET", extra={"nested": [1, 2]}))
    assert isinstance(trade, Trade)
    assert trade.trade_id == 12345


def test_lower_case_symbol_is_upper_cased() -> None:
    trade = norm(frame(s="btcusdt"))
    assert isinstance(trade, Trade)
    assert trade.symbol == "BTCUSDT"


def test_missing_event_time_falls_back_to_trade_time() -> None:
    trade = norm(frame(E=...))
    assert isinstance(trade, Trade)
    assert trade.event_time_us == trade.trade_time_us


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.00100000", "0.001"),
        ("100.00000000", "100"),
        ("100", "100"),
        ("0065000.10", "65000.1"),
        ("0.00000001", "0.00000001"),
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
        ("5.", "5"),
    ],
)
def test_decimal_normalisation_is_exact(text: str, expected: str) -> None:
    assert normalize_decimal(text) == expected


BAD_CASES: list[tuple[str, bytes, DlqReason]] = [
    ("not json", b"{not json", DlqReason.NOT_JSON),
    ("binary garbage", b"\xff\xfe\x00", DlqReason.NOT_JSON),
    ("empty", b"", DlqReason.NOT_JSON),
    ("array", b"[1,2,3]", DlqReason.NOT_AN_OBJECT),
    ("combined data not object", b'{"stream":"x@trade","data":5}', DlqReason.NOT_AN_OBJECT),
    ("missing price", frame(p=...), DlqReason.MISSING_FIELD),
    ("missing trade id", frame(t=...), DlqReason.MISSING_FIELD),
    ("missing maker flag", frame(m=...), DlqReason.MISSING_FIELD),
    ("aggTrade", frame(e="aggTrade"), DlqReason.UNSUPPORTED_EVENT),
    ("price as float", frame(p=65000.01), DlqReason.WRONG_TYPE),
    ("quantity as int", frame(q=1), DlqReason.WRONG_TYPE),
    ("trade id as string", frame(t="12345"), DlqReason.WRONG_TYPE),
    ("trade id as float", frame(t=12345.0), DlqReason.WRONG_TYPE),
    ("trade id bool", frame(t=True), DlqReason.WRONG_TYPE),
    ("negative trade id", frame(t=-1), DlqReason.WRONG_TYPE),
    ("maker as string", frame(m="true"), DlqReason.WRONG_TYPE),
    ("symbol not string", frame(s=5), DlqReason.WRONG_TYPE),
    ("symbol is a list", frame(s=["BTCUSDT"]), DlqReason.WRONG_TYPE),
    ("price is an object", frame(p={"v": "1"}), DlqReason.WRONG_TYPE),
    ("unicode digits", frame(p="\u0661\u0662"), DlqReason.BAD_DECIMAL),
    ("time as string", frame(T="1767225599499"), DlqReason.WRONG_TYPE),
    ("zero price", frame(p="0.00000000"), DlqReason.NON_POSITIVE),
    ("negative price", frame(p="-1.5"), DlqReason.NON_POSITIVE),
    ("zero quantity", frame(q="0"), DlqReason.NON_POSITIVE),
    ("exponent price", frame(p="1e5"), DlqReason.BAD_DECIMAL),
    ("nan price", frame(p="NaN"), DlqReason.BAD_DECIMAL),
    ("empty price", frame(p=""), DlqReason.BAD_DECIMAL),
    ("spaced quantity", frame(q=" 1"), DlqReason.BAD_DECIMAL),
    ("unknown symbol", frame(s="DOGEUSDT"), DlqReason.UNKNOWN_SYMBOL),
    ("malformed symbol", frame(s="BTC/USDT"), DlqReason.UNKNOWN_SYMBOL),
    ("seconds not ms", frame(T=1_767_225_599), DlqReason.BAD_TIME),
    ("before binance existed", frame(T=1_400_000_000_000), DlqReason.BAD_TIME),
    ("far future", frame(T=1_767_225_600_000 + 3 * 86_400_000), DlqReason.BAD_TIME),
    ("absurd event time", frame(E=99), DlqReason.BAD_TIME),
    ("nanoseconds", frame(T=1_767_225_599_499_000_000), DlqReason.BAD_TIME),
    ("oversized", frame(junk="x" * 20_000), DlqReason.OVERSIZED),
]


@pytest.mark.parametrize(
    ("raw", "reason"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_bad_input_is_rejected_with_its_reason(raw: bytes, reason: DlqReason) -> None:
    result = norm(raw)
    assert isinstance(result, Rejection), result
    assert result.reason is reason
    assert result.detail


def test_rejection_detail_names_the_bad_field() -> None:
    result = norm(frame(p="100", q="0"))
    assert isinstance(result, Rejection)
    assert result.detail.startswith("quantity:")


def test_frame_size_limit_is_configurable() -> None:
    raw = frame()
    assert isinstance(norm(raw, max_frame_bytes=len(raw)), Trade)
    rejected = norm(raw, max_frame_bytes=len(raw) - 1)
    assert isinstance(rejected, Rejection)
    assert rejected.reason is DlqReason.OVERSIZED


def test_gzip_bytes_are_not_json() -> None:
    result = norm(gzip.compress(frame()))
    assert isinstance(result, Rejection)
    assert result.reason is DlqReason.NOT_JSON


def test_any_symbol_accepted_when_no_symbol_set() -> None:
    trade = normalize_frame(frame(s="DOGEUSDT"), symbols=None, ingest_time_us=NOW_US)
    assert isinstance(trade, Trade)


def test_symbols_are_as_long_as_every_checker_and_table_allows() -> None:
    longest = "A" * SYMBOL_MAX_LEN
    trade = normalize_frame(frame(s=longest), symbols=None, ingest_time_us=NOW_US)
    assert isinstance(trade, Trade) and trade.symbol == longest
    too_long = normalize_frame(frame(s=longest + "A"), symbols=None, ingest_time_us=NOW_US)
    assert isinstance(too_long, Rejection) and too_long.reason is DlqReason.UNKNOWN_SYMBOL


def test_rest_historical_trade_record() -> None:
    record = {
        "id": 28457,
        "price": "4.00000100",
        "qty": "12.00000000",
        "quoteQty": "48.000012",
        "time": 1_767_225_599_000,
        "isBuyerMaker": True,
        "isBestMatch": True,
    }
    trade = normalize_rest_trade("BTCUSDT", record, symbols=SYMBOLS, ingest_time_us=NOW_US)
    assert trade == Trade(
        symbol="BTCUSDT",
        trade_id=28457,
        price="4.000001",
        quantity="12",
        trade_time_us=1_767_225_599_000_000,
        event_time_us=1_767_225_599_000_000,
        ingest_time_us=NOW_US,
        is_buyer_maker=True,
    )
    bad = normalize_rest_trade(
        "BTCUSDT", {**record, "price": "0"}, symbols=SYMBOLS, ingest_time_us=NOW_US
    )
    assert isinstance(bad, Rejection)
    assert bad.reason is DlqReason.NON_POSITIVE


def test_random_garbage_never_raises_only_trades_or_rejections() -> None:
    """The service keeps running whatever arrives: no input makes the normalizer raise."""
    import json  # noqa: PLC0415
    import random  # noqa: PLC0415

    rng = random.Random(3)
    values: list[object] = [
        None,
        True,
        False,
        0,
        -1,
        2**70,
        1.5,
        1e308,
        "",
        "x",
        "1",
        "-0",
        "0.0",
        "1e3",
        [],
        [1],
        {},
        {"a": 1},
        "BTCUSDT",
        1_767_225_599_499,
        1_767_225_599_499_000,
        "trade",
        "\u0661",
        "9" * 100,
    ]
    base = orjson.loads(frame())
    for _ in range(5000):
        payload = dict(base)
        for key in rng.sample([*base, "stream", "data", "E"], rng.randint(1, 4)):
            if rng.random() < 0.2:
                payload.pop(key, None)
            else:
                payload[key] = rng.choice(values)
        raw = (
            json.dumps(payload).encode()
            if rng.random() < 0.9
            else json.dumps(payload).encode()[: rng.randint(0, 60)]
        )
        result = norm(raw)
        assert isinstance(result, Trade | Rejection)
        if isinstance(result, Trade):
            assert orjson.loads(result.to_json()) == result.to_dict()
