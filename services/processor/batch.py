"""What one micro-batch decided, as plain data: the unit the MySQL sink commits atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from cryptopipe import idranges
from cryptopipe.dlq import MAX_DETAIL_CHARS, DlqReason
from cryptopipe.processor.candles import PartialCandle


@dataclass(frozen=True, slots=True)
class LateTrade:
    symbol: str
    trade_id: int
    price: Decimal
    quantity: Decimal
    trade_time_us: int
    is_buyer_maker: bool
    watermark_us: int
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RejectedRow:
    topic: str
    partition: int
    offset: int
    reason: DlqReason
    detail: str
    # the value as received, or for an oversized one only its first bytes (an excerpt)
    raw: bytes | None
    # size of the value as received (null for a null value)
    raw_size: int | None = None

    @property
    def is_excerpt(self) -> bool:
        return self.raw is not None and self.raw_size is not None and len(self.raw) < self.raw_size

    def stored_detail(self) -> str:
        """``detail`` for rejected_trades (VARCHAR(500)), saying when raw_value is an excerpt."""
        if not self.is_excerpt:
            return self.detail[:MAX_DETAIL_CHARS]
        assert self.raw is not None
        note = f"; raw_value is its first {len(self.raw)} of {self.raw_size} bytes"
        return self.detail[: MAX_DETAIL_CHARS - len(note)] + note


@dataclass(frozen=True, slots=True)
class BatchCounts:
    input_rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0


@dataclass(slots=True)
class BatchResult:
    """Everything a batch writes; committed in one transaction with its ledger row."""

    query_id: str
    batch_id: int
    topic: str
    counts: BatchCounts
    candles: list[PartialCandle] = field(default_factory=list)
    # newest trade time seen per symbol in this batch (valid rows, any status)
    symbol_max_time_us: dict[str, int] = field(default_factory=dict)
    # full, merged id ranges of every symbol this batch accepted trades of
    symbol_ranges: dict[str, list[idranges.Range]] = field(default_factory=dict)
    late: list[LateTrade] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def max_trade_time_us(self) -> int | None:
        return max((c.close_trade_time_us for c in self.candles), default=None)

    def newest_trade_time_by_symbol(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.candles:
            if c.close_trade_time_us > out.get(c.symbol, -(2**63)):
                out[c.symbol] = c.close_trade_time_us
        return out


def merged_symbol_ranges(
    stored: dict[str, list[idranges.Range]], new: dict[str, list[idranges.Range]]
) -> dict[str, list[idranges.Range]]:
    """For each symbol with new ids: stored ranges united with the new ones."""
    return {sym: idranges.merge(stored.get(sym, []), rs) for sym, rs in new.items() if rs}
