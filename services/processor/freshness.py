"""Freshness from the first scrape: the newest committed trade time per symbol, read from MySQL
when the processor starts.

Without it ``freshness_seconds`` would be absent until the new process commits its first batch,
so a processor in a crash loop could never raise a freshness alert. The times come from
``processor_symbol_watermarks`` (one row per symbol, committed in the same transaction as the
candles; its ``max_trade_time_us`` is the newest trade time of the symbol's committed trades:
late trades are older than it, duplicates repeat a time already counted). The first read is
bounded by ``RESTORE_TIMEOUT_S`` and happens before the metrics are served; if MySQL does not
answer, that is logged and the read is retried in a background thread, with backoff, until it
succeeds or the processor stops. Metrics are served meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping

import pymysql

from cryptopipe.db.connection import app_connection
from cryptopipe.processor import sql
from cryptopipe.processor.settings import ProcessorSettings

logger = logging.getLogger(__name__)

RESTORE_TIMEOUT_S = 5.0  # connect, read and write timeout of one attempt
RETRY_START_S = 1.0
RETRY_MAX_S = 30.0
STOP_JOIN_S = 3 * RESTORE_TIMEOUT_S  # one attempt (connect + query) ends well within this

NewestReader = Callable[[], Mapping[str, int]]


def read_newest_trade_times(
    settings: ProcessorSettings, timeout_s: float = RESTORE_TIMEOUT_S
) -> dict[str, int]:
    """Newest committed trade time (epoch us) per symbol, from the symbol watermarks table;
    only the configured symbols when ``symbols`` is set."""
    wanted = set(settings.symbol_list())
    conn = app_connection(
        settings,
        autocommit=True,
        connect_timeout_s=timeout_s,
        read_timeout=timeout_s,
        write_timeout=timeout_s,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SELECT_WATERMARKS)
            rows = cur.fetchall()
    finally:
        with contextlib.suppress(pymysql.err.Error):
            conn.close()
    return {str(s): int(t) for s, t in rows if not wanted or str(s) in wanted}


class FreshnessRestorer:
    """Feeds ``apply`` once with what ``read`` returns: first in the caller's thread, then, if
    that failed, in a background thread retrying with backoff until it works or :meth:`stop`."""

    def __init__(
        self,
        read: NewestReader,
        apply: Callable[[Mapping[str, int]], None],
        *,
        retry_start_s: float = RETRY_START_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self._read = read
        self._apply = apply
        self._retry_start_s = retry_start_s
        self._retry_max_s = retry_max_s
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def restored(self) -> bool:
        return self._done.is_set()

    def start(self) -> bool:
        """Try once now; True if restored, else the retries go on in the background."""
        if self._attempt(first=True):
            return True
        self._thread = threading.Thread(target=self._loop, name="freshness-restore", daemon=True)
        self._thread.start()
        return False

    def stop(self, timeout_s: float = STOP_JOIN_S) -> bool:
        """Stop retrying and join the thread; False if it did not end within ``timeout_s``."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        delay = self._retry_start_s
        while not self._stop.wait(delay):
            if self._attempt(first=False):
                return
            delay = min(delay * 2, self._retry_max_s)

    def _attempt(self, *, first: bool) -> bool:
        try:
            newest = self._read()
        except Exception as exc:  # MySQL down, frozen, no schema yet: retried, never fatal
            if first:
                logger.warning(
                    "cannot read the newest committed trade times from MySQL (%s): "
                    "freshness_seconds is absent until that read or the first commit works; "
                    "retrying in the background",
                    exc,
                )
            else:
                logger.debug("freshness restore failed again: %s", exc)
            return False
        self._apply(newest)
        self._done.set()
        logger.info(
            "freshness restored from MySQL for %d symbol(s)%s",
            len(newest),
            "" if first else " (after retrying)",
        )
        return True
