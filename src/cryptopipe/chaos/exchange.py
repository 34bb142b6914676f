"""Exchange faults, called by the experiments as Chaos Toolkit Python actions and probes: they
call the HTTP controls of the served exchange (cryptopipe.exchange.control) that the producer
of the pipeline under test reads (`chaos run` starts it when an experiment is tagged
``exchange``; CRYPTOPIPE_CHAOS_SOURCE=exchange does for `pipeline.start`).

Faults record the fault in the timeline (probes time alerts from it); ``reset_faults`` is the
rollback of every experiment that uses them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

from cryptopipe.chaos import timeline
from cryptopipe.chaos.settings import ChaosSettings

logger = logging.getLogger(__name__)

POLL_S = 1.0


def _control(path: str, **params: Any) -> dict[str, Any]:
    settings = ChaosSettings()
    url = f"{settings.exchange_url()}/control/{path}"
    query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    try:
        if path == "state":
            resp = httpx.get(url, timeout=10)
        else:
            resp = httpx.post(url, params=query, timeout=10)
    except httpx.HTTPError as exc:
        msg = f"the exchange at {settings.exchange_url()} does not answer: {exc}"
        raise ActivityFailed(msg) from exc
    if resp.status_code != 200:
        raise ActivityFailed(f"exchange control {path}: HTTP {resp.status_code} {resp.text}")
    body: dict[str, Any] = resp.json()
    return body


def _fault(path: str, **params: Any) -> dict[str, Any]:
    # marked before the call: the producer may reconnect before the control answers
    at = timeline.record(ChaosSettings(), "fault")
    return {**_control(path, **params), "at": at}


def state() -> dict[str, Any]:
    """The exchange's connections, REST refusals and violations, market and history."""
    return _control("state")


def disconnect(close_frame: bool = True) -> dict[str, Any]:
    """Drop every connection, with a close frame (1001 going away) or a TCP abort."""
    return _fault("disconnect", close_frame=close_frame)


def disconnect_storm(times: int, every_s: float, close_frame: bool = False) -> dict[str, Any]:
    """Drop every connection ``times`` times, ``every_s`` apart (the producer reconnects in
    between, with its backoff); ends with the repair mark."""
    dropped = []
    for i in range(times):
        out = (
            _fault("disconnect", close_frame=close_frame)
            if i == 0
            else _control("disconnect", close_frame=close_frame)
        )
        dropped.append(out["dropped"])
        time.sleep(every_s)
    timeline.record(ChaosSettings(), "repair")
    return {"times": times, "every_s": every_s, "dropped": dropped}


def server_shutdown(close_after_s: float | None = None) -> dict[str, Any]:
    """``serverShutdown`` to every connection (closed ``close_after_s`` later if given)."""
    params = {} if close_after_s is None else {"close_after_s": close_after_s}
    return _fault("server-shutdown", **params)


def go_silent(seconds: float) -> dict[str, Any]:
    """The open connections send nothing and answer no ping for ``seconds``, without closing."""
    return _fault("silence", seconds=seconds)


def refuse_rest(seconds: float, status: int = 429, retry_after_s: float = 1.0) -> dict[str, Any]:
    """Every REST request answers ``status`` with Retry-After for ``seconds``."""
    return _fault("rest", status=status, retry_after_s=retry_after_s, seconds=seconds)


def send_garbage(count: int) -> dict[str, Any]:
    """``count`` frames that are not JSON to every connection."""
    return _fault("garbage", count=count)


def keep_history(seconds: float) -> dict[str, Any]:
    """REST serves only the last ``seconds`` of trades (a retention shorter than an outage)."""
    return _fault("history", seconds=seconds)


def reset_faults() -> dict[str, Any]:
    """Lift every exchange fault (silence, REST refusals, short retention): the rollback."""
    return _control("reset")


def reconnected(within_s: float) -> dict[str, Any]:
    """Wait until the producer holds a connection opened after the fault that is not silent
    (it noticed the fault and connected again); how long after the fault. Marks the repair
    (recovery is timed from it) unless one was marked already."""
    settings = ChaosSettings()
    fault_at = timeline.read(settings).get("fault", time.time())
    deadline = time.monotonic() + within_s
    while True:
        conns = state()["connections"]
        fresh = [c for c in conns if c["opened_at"] > fault_at and not c["silent"] and c["streams"]]
        if fresh:
            after = min(c["opened_at"] for c in fresh) - fault_at
            logger.info("the producer reconnected %.1fs after the fault", after)
            timeline.record(settings, "repair")  # kept if the repair was marked before
            return {"reconnected_after_s": round(after, 1), "connections": len(conns)}
        if time.monotonic() > deadline:
            raise ActivityFailed(
                f"no new connection within {within_s:.0f}s of the fault; connections: {conns}"
            )
        time.sleep(POLL_S)


def rest_limits_respected() -> dict[str, Any]:
    """No REST request came back inside a Retry-After window (Binance bans for that)."""
    rest: dict[str, Any] = state()["rest"]
    if rest["violations"]:
        raise ActivityFailed(
            f"{rest['violations']} REST requests ignored Retry-After (answered 418)"
        )
    return rest
