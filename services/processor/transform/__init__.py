"""The Spark side of a micro-batch: parse, validate, classify and aggregate (no I/O here).

Every function takes and returns DataFrames built from Spark SQL expressions only: no Python
UDFs and no float or double on the price/quantity path (DECIMAL(20,8) from the strings, sums
and products exact with ``spark.sql.decimalOperations.allowPrecisionLoss=false``).

Classification is deterministic for any split of the stream into micro-batches:
- *rejected*: failed parsing or validation (``reason`` says why);
- *duplicate*: a later delivery (by Kafka partition, offset) of a (symbol, trade_id) already
  seen in this batch, or whose id is in the stored ranges of counted ids;
- *late*: older than the symbol's watermark at that message, i.e. the newest trade time of the
  symbol up to this message in Kafka order (stored state + this batch) minus the delay. The key
  is the symbol, so a symbol's messages are one partition's offset order: any batch split
  gives the same watermark at every message;
- *accepted*: everything else; only these go into candles.

Its modules, one job each: ``validation`` (parse and the rules), ``literals`` (per-batch state
as SQL literals), ``classify`` (the statuses), ``rank`` (rank packing), ``latency`` (latency
bucketing) and ``aggregate`` (the one aggregation of a batch).
"""

from __future__ import annotations

from cryptopipe.processor.transform.aggregate import BatchSummary, new_id_ranges
from cryptopipe.processor.transform.classify import MAX_INLINE_RANGES, BatchTransform

__all__ = ["MAX_INLINE_RANGES", "BatchSummary", "BatchTransform", "new_id_ranges"]
