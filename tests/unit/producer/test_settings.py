"""ProducerSettings: env vars, symbol list, base URLs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cryptopipe.producer.settings import ProducerSettings


def test_env_vars_and_symbol_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTOPIPE_SYMBOLS", " btcusdt, ETHusdt ,btcusdt")
    monkeypatch.setenv("CRYPTOPIPE_BINANCE_WS_URL", "ws://127.0.0.1:9000/")
    monkeypatch.setenv("CRYPTOPIPE_RATE", "250")
    settings = ProducerSettings()
    assert settings.symbol_list == ("BTCUSDT", "ETHUSDT")
    assert settings.binance_ws_url == "ws://127.0.0.1:9000"
    assert settings.rate == 250
    assert settings.binance_rest_url == "https://api.binance.com"
    assert ProducerSettings(rate=10).rate == 10  # CLI overrides win over env


@pytest.mark.parametrize(
    "kwargs",
    [
        {"binance_ws_url": "wss://stream.binance.com:9443/ws"},  # base only, no path
        {"binance_rest_url": "api.binance.com"},
        {"symbols": "btc-usdt"},
        {"symbols": " , "},
        {"source": "replay"},  # needs a replay file
        {"ws_max_streams_per_connection": 2000},
        {"reconnect_max_per_5min": 301},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ProducerSettings(**kwargs)  # type: ignore[arg-type]
