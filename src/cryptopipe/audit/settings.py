"""Settings of `cryptopipe audit`."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field, field_validator

from cryptopipe.processor.settings import CandleScope
from cryptopipe.trade_rules import DEFAULT_MAX_MESSAGE_BYTES


def parse_time_us(text: str) -> int:
    """An ISO-8601 time (UTC if no zone) or epoch seconds -> epoch microseconds."""
    text = text.strip()
    try:
        return int(float(text) * 1_000_000)
    except ValueError:
        pass
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond


class AuditSettings(CandleScope):
    """What to audit: the processor's symbols and intervals (CandleScope), and a time range."""

    since: str = Field("", description="Only trades at or after this time (ISO-8601 or epoch s).")
    until: str = Field("", description="Only trades before this time (ISO-8601 or epoch s).")
    audit_symbols: str = Field(
        "",
        description="`--symbols`: audit only these (default: CRYPTOPIPE_SYMBOLS, i.e. every "
        "symbol the processor accepts). Does not change which messages count as trades.",
    )
    max_message_bytes: int = Field(
        DEFAULT_MAX_MESSAGE_BYTES,
        gt=0,
        description="The processor's limit (same variable): larger values are rejected.",
    )
    scan_timeout_s: float = Field(300.0, gt=0, description="Give up scanning the topic after.")
    watch_interval_s: float = Field(60.0, gt=0, description="--watch: seconds between audits.")
    watch_settle_s: float = Field(
        30.0,
        ge=0,
        description="--watch without --until: audit only trades older than this, so trades "
        "still in flight to MySQL are not reported (and alerted on) as missing.",
    )

    watermark_delay_s: float = Field(
        10.0,
        ge=0,
        description="The processor's lateness (same variable): --watch keeps re-judging a "
        "window until it is this much older than the settle time; after retention, windows "
        "within this of a symbol's first trade still on the topic are not judged.",
    )

    @field_validator("since", "until")
    @classmethod
    def _check_time(cls, value: str) -> str:
        if value.strip():
            parse_time_us(value)
        return value

    def accepted_symbols(self) -> list[str]:
        """The symbols the processor accepts (CRYPTOPIPE_SYMBOLS; empty: any)."""
        return self.symbol_list()

    def scope_symbols(self) -> list[str]:
        """The symbols to audit."""
        return self.narrowed_symbols() or self.symbol_list()

    def narrowed_symbols(self) -> list[str]:
        """``--symbols``: an audit of these alone, which judges only their rejected messages
        (without it, every rejected message on the topic is judged)."""
        return [s.strip().upper() for s in self.audit_symbols.split(",") if s.strip()]

    def since_us(self) -> int | None:
        return parse_time_us(self.since) if self.since.strip() else None

    def until_us(self) -> int | None:
        return parse_time_us(self.until) if self.until.strip() else None
