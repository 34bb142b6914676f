"""Structured logs: one JSON object per line carrying the service and the current trace ids.

``configure_logging`` is called once by the CLI; every module just uses
``logging.getLogger(__name__)``. On a terminal the default is a readable text format; anywhere
else (services, CI) it is JSON, so log shippers can parse it and jump from a log line to its trace.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import deque
from typing import Any, Literal

from opentelemetry import trace

LogFormat = Literal["auto", "json", "text"]

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def current_trace_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in W3C hex of the active span, if one is recording."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON line with time, level, logger, message, trace ids and extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = current_trace_ids()
        if ids:
            doc["trace_id"], doc["span_id"] = ids
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


class KafkaClientLog:
    """The one path of librdkafka's log lines: the ``logger`` of every confluent-kafka client.

    Without it librdkafka prints raw ``%3|...|FAIL|...`` lines on stderr; with it each line is
    a record of the ``librdkafka`` logger, formatted like every other (JSON for services), with
    the client's name, the librdkafka facility and thread as fields. confluent-kafka hands the
    lines over inside ``poll()``/``flush()``/``close()`` of the client, so a client that is never
    polled must call ``poll(0)`` now and then for its lines to come out.

    :meth:`error` is for ``error_cb``: librdkafka logs most errors itself (broker connection
    failures as ``FAIL``, fatal errors as ``FATAL``) and then passes them to ``error_cb`` too;
    it logs only the errors no log line carried (e.g. "all brokers are down"), so each error is
    logged once."""

    def __init__(self, name: str = "librdkafka", remember: int = 256) -> None:
        self.logger = logging.getLogger(name)
        self._recent: deque[str] = deque(maxlen=remember)

    def log(self, level: int, msg: str, *args: object) -> None:
        """Called by confluent-kafka as ``log(level, "%s [%s] %s", facility, client, text)``."""
        try:
            facility, client, text = (str(a) for a in args)
        except ValueError:
            self.logger.log(level, msg, *args)
            return
        extra = {"kafka_client": client, "kafka_facility": facility}
        if text.startswith("[thrd:") and "]: " in text:
            thread, text = text[len("[thrd:") :].split("]: ", 1)
            extra["kafka_thread"] = thread
        self._recent.append(text)
        self.logger.log(level, "%s", text, extra=extra)

    def error(self, err: Any) -> None:
        """Log a confluent-kafka ``KafkaError`` unless librdkafka already logged its text."""
        text = str(err.str())
        if any(text in line for line in tuple(self._recent)):  # FATAL lines wrap the text
            return
        level = logging.ERROR if err.fatal() else logging.WARNING
        self.logger.log(level, "%s", text, extra={"kafka_error": str(err.name())})


KAFKA_CLIENT_LOG = KafkaClientLog()


def configure_logging(service: str, level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """Route the root logger to stderr in the chosen format (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    if use_json:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # chatty libraries stay at WARNING unless asked for DEBUG
    if root.level > logging.DEBUG:
        for name in ("py4j", "urllib3", "httpx", "websockets", "aiohttp.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
