"""Toxiproxy in the local stack: the network faults of the chaos experiments.

Toxiproxy (Shopify's TCP proxy, https://github.com/Shopify/toxiproxy) runs as a stack service
when ``StackSettings.toxiproxy`` is set, with a proxy in front of every Kafka broker and of
MariaDB. Kafka clients follow the brokers' advertised listeners, not the address they were
given, so every broker has a second listener (``CHAOS``) advertised at its proxy: a client that
bootstraps through a proxy keeps talking through the proxies, and a toxic on ``kafka-1`` reaches
it. Clients that bootstrap through the plain listener never pass through Toxiproxy.

The server is built from the Go module proxy (``cryptopipe stack fetch --toxiproxy``) into the
cache dir, outside the repo and off the main run's path: only the chaos experiments need it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
# `@latest` resolves to an old 2.5.0 on the module proxy: the version is pinned
TOXIPROXY_VERSION = "v2.12.0"
SERVICE = "toxiproxy"


@dataclass(frozen=True, slots=True)
class Proxy:
    """One Toxiproxy proxy: clients connect to ``listen``, it forwards to ``upstream``."""

    name: str
    listen_port: int
    upstream_port: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": f"127.0.0.1:{self.listen_port}",
            "upstream": f"127.0.0.1:{self.upstream_port}",
            "enabled": True,
        }


def binary(settings: StackSettings) -> Path:
    return settings.cache_dir / "tools" / f"toxiproxy-{TOXIPROXY_VERSION}" / "server"


def proxies(settings: StackSettings) -> list[Proxy]:
    """``kafka-<n>`` for each broker's CHAOS listener, ``mariadb`` for the database."""
    out = [
        Proxy(f"kafka-{i + 1}", proxy, real)
        for i, (proxy, real) in enumerate(
            zip(settings.kafka_proxy_ports(), settings.kafka_chaos_ports(), strict=True)
        )
    ]
    out.append(Proxy("mariadb", settings.mysql_proxy_port(), settings.mysql_port))
    return out


def api_url(settings: StackSettings) -> str:
    return f"http://127.0.0.1:{settings.toxiproxy_port}"


def server_command(settings: StackSettings) -> list[str]:
    exe = binary(settings)
    if not exe.exists():
        raise FileNotFoundError(
            f"Toxiproxy is not built ({exe} is missing). Fix: `cryptopipe stack fetch "
            f"--toxiproxy` (needs Go >= 1.23 on PATH; it runs `go install "
            f"{TOXIPROXY_MODULE}@{TOXIPROXY_VERSION}`), or set CRYPTOPIPE_TOXIPROXY=false"
        )
    return [str(exe), "-host", "127.0.0.1", "-port", str(settings.toxiproxy_port)]


def _request(settings: StackSettings, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        api_url(settings) + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def is_ready(settings: StackSettings) -> bool:
    try:
        _request(settings, "GET", "/version")
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return True


def populate(settings: StackSettings) -> None:
    """Create (or replace) every proxy and take every toxic off them: a fresh `up` starts
    without faults, whatever an interrupted experiment left behind."""
    _request(settings, "POST", "/reset")
    _request(settings, "POST", "/populate", [p.as_json() for p in proxies(settings)])


def build(settings: StackSettings) -> Path:
    """``go install`` the pinned server into the cache dir; a no-op once it is there."""
    exe = binary(settings)
    if exe.exists():
        return exe
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        raise FileNotFoundError(
            "building Toxiproxy needs Go >= 1.23 (Debian 12 packages only 1.19): install it "
            "from https://go.dev/dl/ and put it on PATH; only the chaos experiments need it"
        )
    exe.parent.mkdir(parents=True, exist_ok=True)
    gocache = settings.cache_dir / "go"
    env = {
        **os.environ,
        "GOBIN": str(exe.parent),
        "GOPATH": str(gocache),
        "GOMODCACHE": str(gocache / "pkg" / "mod"),
    }
    logger.info("building Toxiproxy %s with %s", TOXIPROXY_VERSION, go)
    proc = subprocess.run(
        [go, "install", f"{TOXIPROXY_MODULE}@{TOXIPROXY_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0 or not exe.exists():
        raise RuntimeError(f"go install of Toxiproxy failed:\n{proc.stderr[-2000:]}")
    return exe
