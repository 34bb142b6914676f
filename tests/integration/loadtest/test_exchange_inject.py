"""The exchange's load-test endpoint: POSTed frames go out over Binance's WebSocket protocol."""

from __future__ import annotations

import json
import urllib.request

from websockets.sync.client import connect

from cryptopipe.exchange import BinanceEmulator
from cryptopipe.exchange.emulator import INJECT_PATH


def test_posted_frames_reach_the_subscribed_streams_raw_or_wrapped() -> None:
    with BinanceEmulator(["LTAAUSDT", "LTABUSDT"]) as emu:
        raw_url = f"{emu.ws_url}/ws/ltaausdt@trade"
        combined_url = f"{emu.ws_url}/stream?streams=ltaausdt@trade/ltabusdt@trade"
        with connect(raw_url) as raw, connect(combined_url) as combined:
            emu.wait_until(lambda: emu.open_connections() == 2)
            frames = ['{"e":"trade","s":"LTAAUSDT","t":1}', '{"e":"trade","s":"LTABUSDT","t":7}']
            body = "\n".join(
                [f"ltaausdt@trade {frames[0]}", f"ltabusdt@trade {frames[1]}", "ltaausdt@trade {"]
            )
            request = urllib.request.Request(
                f"{emu.rest_url}{INJECT_PATH}", data=body.encode(), method="POST"
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert json.load(resp) == {"frames": 5}  # raw: 2 of its stream; combined: 3
            assert [raw.recv(timeout=5) for _ in range(2)] == [frames[0], "{"]  # as is
            got = [combined.recv(timeout=5) for _ in range(3)]
            assert json.loads(got[0]) == {"stream": "ltaausdt@trade", "data": json.loads(frames[0])}
            assert json.loads(got[1])["data"]["t"] == 7
            assert got[2] == '{"stream":"ltaausdt@trade","data":{}'  # malformed stays malformed
            assert emu.injected_frames == 3
