"""Settings of `cryptopipe audit`."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field, field_validator

from cryptopipe.config import CommonSettings
from cryptopipe.processor.intervals import Interval, parse_intervals


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


class AuditSettings(CommonSettings):
    """What to audit; the intervals setting is shared with the processor (CRYPTOPIPE_INTERVALS)."""

    symbols: str = Field("", description="Comma-separated symbols; empty audits every symbol.")
    intervals: str = Field("1s,1m", description="Candle intervals to check.")
    since: str = Field("", description="Only trades at or after this time (ISO-8601 or epoch s).")
    until: str = Field("", description="Only trades before this time (ISO-8601 or epoch s).")
    scan_timeout_s: float = Field(300.0, gt=0, description="Give up scanning the topic after.")
    watch_interval_s: float = Field(60.0, gt=0, description="--watch: seconds between audits.")

    @field_validator("intervals")
    @classmethod
    def _check_intervals(cls, value: str) -> str:
        parse_intervals(value)
        return value

    @field_validator("since", "until")
    @classmethod
    def _check_time(cls, value: str) -> str:
        if value.strip():
            parse_time_us(value)
        return value

    def interval_list(self) -> list[Interval]:
        return parse_intervals(self.intervals)

    def symbol_list(self) -> list[str]:
        return [s.strip().upper() for s in self.symbols.split(",") if s.strip()]

    def since_us(self) -> int | None:
        return parse_time_us(self.since) if self.since.strip() else None

    def until_us(self) -> int | None:
        return parse_time_us(self.until) if self.until.strip() else None
