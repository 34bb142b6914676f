"""A StreamingQueryListener that feeds :class:`ProcessorMetrics` (imports pyspark)."""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql.streaming.listener import StreamingQueryListener

from cryptopipe.processor.metrics import ProcessorMetrics

logger = logging.getLogger(__name__)


class MetricsListener(StreamingQueryListener):
    def __init__(self, metrics: ProcessorMetrics, query_name: str) -> None:
        super().__init__()
        self._metrics = metrics
        self._name = query_name

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 (Spark's API)
        logger.info("query %s started (id %s, run %s)", event.name, event.id, event.runId)

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802
        progress = event.progress
        if progress.name != self._name:
            return
        try:
            self._metrics.on_progress(progress.json)
        except Exception:  # a metrics bug must never stop the stream
            logger.exception("could not read query progress")

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802
        if event.exception:
            logger.error("query %s terminated: %s", event.id, event.exception)
        else:
            logger.info("query %s terminated", event.id)
