"""Messages for crypto.trades that are not what the producer writes: the bad-input mix of issue 17
and the edge cases of Spark's JSON reading, plus seeded random variants of both.

Every function returns raw Kafka values (bytes, or None for a tombstone). ``good(...)`` is a
valid trade as the producer writes it.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
MIB = 1024 * 1024


def fields(symbol: str = "BTCUSDT", trade_id: int = 1, time_us: int = T0) -> dict[str, Any]:
    return {
        "v": 1,
        "exchange": "binance",
        "symbol": symbol,
        "trade_id": trade_id,
        "price": "100.5",
        "quantity": "0.1",
        "trade_time_us": time_us,
        "event_time_us": time_us,
        "ingest_time_us": time_us,
        "is_buyer_maker": False,
    }


def good(symbol: str = "BTCUSDT", trade_id: int = 1, time_us: int = T0) -> bytes:
    return orjson.dumps(fields(symbol, trade_id, time_us))


def with_raw(name: str, raw: str, symbol: str = "BTCUSDT", trade_id: int = 1) -> bytes:
    """A good trade with field ``name``'s value replaced by the JSON text ``raw``."""
    doc = fields(symbol, trade_id)
    marker = "\x00MARK\x00"
    doc[name] = marker
    text = orjson.dumps(doc).decode()
    return text.replace(orjson.dumps(marker).decode(), raw).encode()


def without(name: str) -> bytes:
    doc = fields()
    del doc[name]
    return orjson.dumps(doc)


def notional(price: str, quantity: str) -> bytes:
    return orjson.dumps({**fields(), "price": price, "quantity": quantity})


def issue_mix(symbol: str = "BTCUSDT", trade_id: int = 1) -> list[bytes | None]:
    """The bad input of issue 17: non-JSON, wrong types, negative price, 30 decimal places, a
    40-character symbol, a trade id of 2^70, nulls, 1 MiB values (and their close relatives).
    Not all are rejected: Spark reads a number into a STRING field as its text, so a price of
    100.5 (a number) is a valid trade (of ``trade_id``)."""
    g = good(symbol, trade_id)

    def sub(name: str, raw: str) -> bytes:
        return with_raw(name, raw, symbol, trade_id)

    return [
        b"{not json",
        b"not json at all",
        b"",
        g[: len(g) // 2],
        sub("trade_id", '"12"'),
        sub("trade_id", "12.5"),
        sub("price", "100.5"),
        sub("is_buyer_maker", '"false"'),
        sub("v", '"1"'),
        sub("trade_time_us", '"1767225600000000"'),
        sub("price", '"-100.5"'),
        sub("quantity", '"-0.1"'),
        sub("price", '"0"'),
        sub("price", '"100.' + "1" * 30 + '"'),
        sub("quantity", '"0.' + "0" * 29 + '1"'),
        sub("symbol", '"' + "A" * 40 + '"'),
        sub("symbol", '"btcusdt"'),
        sub("trade_id", str(2**70)),
        sub("trade_id", str(2**63)),
        sub("trade_id", "-5"),
        sub("price", "null"),
        sub("symbol", "null"),
        sub("trade_time_us", "null"),
        sub("trade_time_us", "5"),
        sub("v", "2"),
        sub("exchange", '"kraken"'),
        notional("999999999999.99999999", "999999999999"),
        b"null",
        b"[]",
        b"42",
        orjson.dumps({**fields(symbol, trade_id), "pad": "x" * MIB}),
        b"x" * MIB,
        None,
    ]


# JSON texts of values, each tried in every field
VALUE_TEXTS = [
    "1",
    "-1",
    "0",
    "-0",
    "1.0",
    "1e2",
    "1E+2",
    "100.50",
    "0.00001",
    "12345678.5",
    "1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "+INF",
    "-INF",
    "+1",
    ".5",
    "5.",
    "01",
    str(2**31),
    str(2**63 - 1),
    str(2**63),
    str(-(2**63)),
    str(2**70),
    "1" * 30,
    "true",
    "false",
    "null",
    "True",
    "tru",
    "nulls",
    '"1"',
    '"true"',
    '"binance"',
    '"BTCUSDT"',
    '"BTCUSDT\\n"',
    '"BTCUSDT\\r"',
    '"BTC\\u0055SDT"',
    '"100.5"',
    '"100.5\\n"',
    '" 100.5"',
    '"100."',
    '"-0"',
    '"+100"',
    '"1e2"',
    '"100.123456789"',
    '"100.12345678000"',
    '"999999999999.99999999"',
    '"9999999999999"',
    '"\\u0661"',
    "'BTCUSDT'",
    "'1'",
    '"a\\qb"',
    '"a\tb"',
    '"\\ud800"',
    "[]",
    "[1]",
    "{}",
    '{"a" : 1}',
    '{"a":[1,2.50,"x",null,true,{"b":1e5}]}',
    '{"a":}',
    '{"a":"\\ud800"}',
    "['\\ud800', 'x']",
    '{"a":1 "b":2}',
    "[1,]",
    "[1 2]",
    '"' + "A" * 40 + '"',
]


def field_variants() -> list[bytes]:
    """Every value text in every field, and every field left out."""
    out = [with_raw(name, raw) for name in fields() for raw in VALUE_TEXTS]
    out += [without(name) for name in fields()]
    return out


def structural_variants() -> list[bytes | None]:
    """Duplicate keys, extra keys, whitespace, quoting, framing, limits of Jackson."""
    g = good()
    body = g[1:-1]
    return [
        g,
        b'{"v":1,' + body[6:] + b',"v":2}',
        b'{"v":1,' + body[6:] + b',"v":null}',
        b'{"trade_id":"x",' + body + b"}",
        # a duplicate key hidden from a count of key-colons by a space before another colon
        b'{"trade_id":"x",' + body.replace(b'"price":', b'"price" :') + b"}",
        b"{" + body + b',"trade_id":"x"}',
        b'{"symbol":"ETHUSDT",' + body + b"}",
        b"{" + body + b',"symbol":"ETHUSDT"}',
        b"{" + body + b',"price":{"a":}}',
        b"{" + body + b',"_corrupt":"x"}',
        b"{" + body + b',"_corrupt":null}',
        b"{" + body + b',"V":2}',
        b"{" + body + b',"extra":{"nested":[1,2,{"x":"y"}]}}',
        b"{" + body + b',"symbo\\u006c":"ETHUSDT"}',
        b"{" + body + b',"x\xff":1}',
        g.replace(b"BTCUSDT", b"BTC\xffUSDT"),
        b"[" + g + b"]",
        g + b" xyz",
        g + b'{"a":1}',
        g + b"\n",
        g + b"]",
        g + b"}",
        g + b"\x00",
        b"\t\n " + g,
        b"\xef\xbb\xbf" + g,
        b"\x00" + g,
        g.replace(b'"', b"'"),
        g.replace(b":", b" : "),
        g.replace(b",", b" ,\n "),
        b"{" + body + b"/* c */}",
        b"{" + body + b",}",
        b"{" + body + b',"x"}',
        b"{" + body + b",:1}",
        b"{" + body + b",1:1}",
        b"{" + body + b',"x":undefined}',
        b"{" + body + b',"x":0x10}',
        b"{" + body + b' "x":1}',
        b"{" + body + b',"x":' + b"[" * 999 + b"]" * 999 + b"}",
        b"{" + body + b',"x":' + b"[" * 1000 + b"]" * 1000 + b"}",
        b"{" + body + b',"x":' + b"[" * 1001 + b"]" * 1001 + b"}",
        b"{" + body + b',"x":' + b"1" * 1000 + b"}",
        b"{" + body + b',"x":' + b"1" * 1001 + b"}",
        b"{" + body + b',"x":-' + b"1" * 1000 + b"}",
        b"{" + body + b',"x":1.' + b"1" * 998 + b"}",
        b"{" + body + b',"x":1.' + b"1" * 999 + b"}",
        *[
            b"{" + body + b',"' + name.encode() + b'":' + pre + b"1" * k + b"}"
            for name in ("x", "price")
            for pre in (b"1.", b"-1.", b"1e", b"-1e", b"1.1e", b"1", b"-1")
            for k in (998, 999, 1000)
        ],
        b"{" + body + b',"' + b"k" * 50000 + b'":1}',
        b"{" + body + b',"' + b"k" * 50001 + b'":1}',
        notional("9999999.99999999", "99999999.99999999"),
        notional("10000000", "100000000"),
        notional("10000000", "100000000.00000001"),
        notional("10000000.00000001", "100000000"),
        notional("1", "999999999999"),
        notional("999999999999", "999999999999"),
        notional("999999999999.99999999", "999999999999.99999999"),
        notional("0.00000001", "0.00000001"),
        b'{"v":1.5}',
        b'{"v":1.5,"symbol":"X"}',
        b'{"trade_id":1.5,"trade_id":null}',
        b'{"trade_id":1.5,"trade_id":3}',
        b'{"v":null,"x":[1.5]}',
        b"{}",
        b"   ",
        b"123",
        b'"abc"',
        b"{" + body + b',"x":"' + b"y" * (64 * 1024 - len(g) - 8) + b'"}',
        b"{" + body + b',"x":"' + b"y" * (64 * 1024 - len(g) - 7) + b'"}',
        b"{" + body + b',"x":"' + b"y" * (64 * 1024 - len(g) - 6) + b'"}',
    ]


def random_variants(n: int, seed: int) -> list[bytes]:
    """Seeded random damage to good trades: truncation, a byte deleted, replaced or inserted,
    random float and decimal prices, random symbols."""
    rng = random.Random(seed)
    noise = b"{}[]\",:0123456789.eE+-tfnNaI \\'\x00\xff\n/abc"
    out: list[bytes] = []
    for i in range(n):
        g = bytearray(good(trade_id=rng.randint(0, 10**6)))
        kind = i % 7
        pos = rng.randrange(len(g))
        if kind == 0:
            out.append(bytes(g[:pos]))
        elif kind == 1:
            del g[pos]
            out.append(bytes(g))
        elif kind == 2:
            g[pos] = rng.choice(noise)
            out.append(bytes(g))
        elif kind == 3:
            g.insert(pos, rng.choice(noise))
            out.append(bytes(g))
        elif kind == 4:
            x = rng.choice([rng.uniform(0, 1e8), rng.uniform(-1, 1), 10 ** rng.uniform(-6, 9)])
            out.append(with_raw(rng.choice(["price", "quantity"]), repr(x)))
        elif kind == 5:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 14)))
            frac = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 11)))
            sign = rng.choice(["", "", "-"])
            text = f"{sign}{digits}.{frac}" if rng.random() < 0.8 else f"{sign}{digits}"
            out.append(with_raw(rng.choice(["price", "quantity"]), f'"{text}"'))
        else:
            sym = "".join(rng.choice("ABCXYZ019az_-") for _ in range(rng.randint(0, 23)))
            out.append(with_raw("symbol", f'"{sym}"'))
    return out


def spliced_variants(n: int, seed: int) -> list[bytes]:
    """Seeded random damage, 1 to 3 edits (a byte deleted, inserted or replaced, a segment
    copied elsewhere), to good trades and to trades with nested values in a STRING field or an
    unknown one: where Jackson fails inside a structure decides what Spark makes of the rest."""
    rng = random.Random(seed)
    noise = b"{}[]\",:'0123456789.eE+-tfnNaIu \\\x00\x7f\xff\n\t/x"
    g = good()
    bases = [
        g,
        with_raw("symbol", '{"a":[1,{"b":"c"}]}'),
        with_raw("price", "[1.5e3, 'x', null]"),
        with_raw("exchange", "{'a': [NaN, -Infinity, +INF, 1e5, -0.0, \"\\u00e9\"]}"),
        b"{" + g[1:-1] + b',"x":{"y":[1,2,{"z":"w"}]}}',
        b'{"trade_id":"x",' + g[1:],
        g.replace(b'"', b"'"),
        g.replace(b",", b" ,\n\t").replace(b":", b" : "),
    ]
    out: list[bytes] = []
    for _ in range(n):
        m = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            op, pos = rng.randrange(4), rng.randrange(len(m))
            if op == 0:
                del m[pos]
            elif op == 1:
                m.insert(pos, rng.choice(noise))
            elif op == 2:
                m[pos] = rng.choice(noise)
            else:
                a = rng.randrange(len(m))
                m[pos:pos] = m[a : a + rng.randint(1, 20)]
        out.append(bytes(m))
    return out


def corpus(seed: int = 17, randoms: int = 3000) -> list[bytes | None]:
    return [
        *issue_mix(),
        *field_variants(),
        *structural_variants(),
        *random_variants(randoms, seed),
        *spliced_variants(randoms, seed + 1),
    ]
