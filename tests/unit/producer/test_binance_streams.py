"""Stream layout of the binance source: connection split, URL length, SUBSCRIBE overflow."""

from __future__ import annotations

from cryptopipe.producer.sources.binance.source import MAX_URL_CHARS, build_url, stream_groups


def test_more_than_1024_streams_are_split_over_connections() -> None:
    symbols = tuple(f"S{i:04d}USDT" for i in range(2500))
    groups = stream_groups(symbols, 1024)
    assert [len(g) for g in groups] == [1024, 1024, 452]
    assert groups[0][0] == "s0000usdt@trade"
    assert [s for g in groups for s in g] == [f"s{i:04d}usdt@trade" for i in range(2500)]


def test_combined_url_and_time_unit() -> None:
    url, rest = build_url("wss://stream.binance.com:9443", ["btcusdt@trade", "ethusdt@trade"], "us")
    assert url == (
        "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade"
        "&timeUnit=MICROSECOND"
    )
    assert rest == []


def test_streams_beyond_the_url_limit_are_left_for_subscribe() -> None:
    streams = [f"s{i:04d}usdt@trade" for i in range(1024)]
    url, rest = build_url("ws://127.0.0.1:1", streams, "ms")
    assert len(url) <= MAX_URL_CHARS
    assert rest
    assert url.split("streams=")[1].split("/") + rest == streams
