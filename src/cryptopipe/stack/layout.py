"""The topology `stack up` records in its state dir (``stack.json``), read back by every command.

`status` and `down` act on the cluster `up` made, and any command run without
``CRYPTOPIPE_KAFKA_BOOTSTRAP_SERVERS`` connects through every broker of that cluster, not only
the first: with broker 1 down, `cryptopipe audit` and `produce` still find the others.
Only the standard library here: ``cryptopipe.config`` reads this file while it validates.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

LAYOUT_FILE = "stack.json"


@dataclass(frozen=True, slots=True)
class StackLayout:
    """What `up` started: the number of brokers and their client ports (empty if unknown), and
    Toxiproxy's API port when it runs."""

    brokers: int
    kafka_ports: tuple[int, ...] = ()
    toxiproxy_port: int | None = None

    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.kafka_ports)


def layout_path(state_dir: Path) -> Path:
    return state_dir / LAYOUT_FILE


def write_layout(
    state_dir: Path, brokers: int, kafka_ports: Sequence[int], toxiproxy_port: int | None = None
) -> None:
    doc: dict[str, object] = {"brokers": brokers, "kafka_ports": list(kafka_ports)}
    if toxiproxy_port is not None:
        doc["toxiproxy_port"] = toxiproxy_port
    layout_path(state_dir).write_text(json.dumps(doc) + "\n")


def read_layout(state_dir: Path) -> StackLayout | None:
    """The recorded layout, or None if this state dir has none (or an unreadable one)."""
    path = layout_path(state_dir)
    try:
        doc = json.loads(path.read_text())
        # files written before the ports were recorded hold only "brokers"
        toxiproxy = doc.get("toxiproxy_port")
        return StackLayout(
            int(doc["brokers"]),
            tuple(int(p) for p in doc.get("kafka_ports", ())),
            None if toxiproxy is None else int(toxiproxy),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        logger.warning("ignoring unreadable stack layout %s", path)
        return None


def local_bootstrap_servers(state_dir: Path, kafka_port: int, *, port_is_explicit: bool) -> str:
    """The default bootstrap list: every broker the stack in ``state_dir`` recorded.

    Without a record (no local stack, or one from before ports were recorded) it is the one
    broker at ``kafka_port``; an explicit ``kafka_port`` that is not the recorded first broker
    points somewhere else, so the record does not apply."""
    layout = read_layout(state_dir)
    if (
        layout
        and layout.kafka_ports
        and (not port_is_explicit or layout.kafka_ports[0] == kafka_port)
    ):
        return layout.bootstrap_servers()
    return f"127.0.0.1:{kafka_port}"
