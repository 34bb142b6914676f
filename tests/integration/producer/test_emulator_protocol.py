"""The Binance emulator speaks the documented protocol (checked with a plain WebSocket/HTTP
client, independent of the producer), so producer tests against it mean something."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import connect

from cryptopipe.exchange import BinanceEmulator


def test_raw_stream_path_subscribe_and_control_answers() -> None:
    async def scenario(emu: BinanceEmulator) -> list[Any]:
        seen: list[Any] = []
        async with connect(f"{emu.ws_url}/ws/btcusdt@trade", compression=None) as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 1}))
            seen.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "abc"}))
            seen.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"method": "NOPE", "id": 3}))
            seen.append(json.loads(await ws.recv()))
            await asyncio.to_thread(emu.publish, "ETHUSDT", 1)
            seen.append(json.loads(await ws.recv()))
        return seen

    with BinanceEmulator(["BTCUSDT", "ETHUSDT"]) as emu:
        answers = asyncio.run(scenario(emu))
    assert answers[0] == {"result": None, "id": 1}
    assert answers[1] == {"result": ["btcusdt@trade", "ethusdt@trade"], "id": "abc"}
    assert answers[2]["code"] == 2 and answers[2]["id"] == 3
    trade = answers[3]  # raw stream: no {"stream", "data"} wrapper, millisecond times
    assert trade["e"] == "trade" and trade["s"] == "ETHUSDT" and trade["t"] == 1000
    assert 10**12 <= trade["T"] < 10**13


def test_more_than_five_messages_per_second_drops_the_connection() -> None:
    async def scenario(emu: BinanceEmulator) -> None:
        async with connect(f"{emu.ws_url}/stream?streams=btcusdt@trade", compression=None) as ws:
            for i in range(7):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            await ws.wait_closed()

    with BinanceEmulator(["BTCUSDT"]) as emu:
        asyncio.run(asyncio.wait_for(scenario(emu), 10))
        assert emu.rate_violations == 1


def test_rest_paging_weight_header_and_errors() -> None:
    with BinanceEmulator(["BTCUSDT"]) as emu:
        emu.publish("BTCUSDT", 1500, deliver=False)
        with httpx.Client(base_url=emu.rest_url) as http:
            page = http.get(
                "/api/v3/historicalTrades", params={"symbol": "BTCUSDT", "fromId": 1100}
            )
            assert page.status_code == 200
            ids = [t["id"] for t in page.json()]
            assert ids == list(range(1100, 1600))  # default limit 500, oldest first
            assert page.headers["X-MBX-USED-WEIGHT-1M"] == "25"
            bad = http.get("/api/v3/historicalTrades", params={"symbol": "NOPE"})
            assert bad.status_code == 400
            assert bad.json() == {"code": -1121, "msg": "Invalid symbol."}
            emu.fail_next_rest(1, retry_after_s=30)
            limited = http.get("/api/v3/exchangeInfo")
            assert limited.status_code == 429 and limited.headers["Retry-After"] == "30"
            banned = http.get("/api/v3/exchangeInfo")  # ignoring Retry-After
            assert banned.status_code == 418
            assert emu.rest_violations == 1
