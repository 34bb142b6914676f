"""`cryptopipe audit --watch` exports the rejected messages and the disagreements with the
processor's record."""

from __future__ import annotations

from collections import Counter

from cryptopipe.audit.core import UNKNOWN_SYMBOL, RejectionCheck
from cryptopipe.audit.metrics import AuditMetrics
from cryptopipe.audit.runner import AuditReport


def report(check: RejectionCheck) -> AuditReport:
    return AuditReport([], 10, check, 0.0, 1.0)


def test_rejected_messages_and_mismatches_are_gauges() -> None:
    m = AuditMetrics()
    check = RejectionCheck(
        by_symbol={"BTCUSDT": Counter({"wrong_type": 2}), UNKNOWN_SYMBOL: Counter({"not_json": 3})},
        unrecorded=1,
        not_in_dlq=4,
    )
    m.record(report(check))
    get = m.registry.get_sample_value
    assert (
        get("cryptopipe_audit_rejected_messages", {"symbol": "BTCUSDT", "reason": "wrong_type"})
        == 2
    )
    assert (
        get("cryptopipe_audit_rejected_messages", {"symbol": "unknown", "reason": "not_json"}) == 3
    )
    assert get("cryptopipe_audit_rejection_mismatches", {"kind": "not_recorded"}) == 1
    assert get("cryptopipe_audit_rejected_not_in_dlq", {}) == 4
    assert get("cryptopipe_audit_last_success", {}) == 0  # an unrecorded rejection fails it
    # a later audit without them: the old series go
    m.record(report(RejectionCheck(by_symbol={"ETHUSDT": Counter({"bad_time": 1})})))
    assert (
        get("cryptopipe_audit_rejected_messages", {"symbol": "BTCUSDT", "reason": "wrong_type"})
        is None
    )
    assert get("cryptopipe_audit_rejection_mismatches", {"kind": "not_recorded"}) == 0
    assert get("cryptopipe_audit_last_success", {}) == 1
