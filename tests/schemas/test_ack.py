"""The ack body of SPEC §6: what each final status tells the platform."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.ack import DONE, MAX_REASON_CHARS, NOT_APPLIED, Ack

FINISHED = datetime(2026, 1, 5, 1, 30, 0, 123456, tzinfo=UTC)


def ack(status: str, reason: str | None = None) -> Ack:
    return Ack.finished(
        event_id="e1",
        interface="singleOrgSync",
        tenant_id="t1",
        instance_id="i1",
        status=status,
        reason=reason,
        finished_at=FINISHED,
    )


@pytest.mark.parametrize(
    ("status", "says"), [("applied", "applied"), ("duplicate", "already"), ("stale", "older"), ("test", "test")]
)
def test_finished_events_are_done_and_say_how(status: str, says: str) -> None:
    body = ack(status, reason="ignored").model_dump()
    assert body["resultCode"] == DONE == "000000"
    assert says in body["resultMsg"]
    assert "ignored" not in body["resultMsg"]


def test_every_field_of_the_spec_is_there_and_finished_at_is_in_the_platform_format() -> None:
    assert ack("applied").model_dump() == {
        "eventId": "e1",
        "interface": "singleOrgSync",
        "tenantId": "t1",
        "instanceId": "i1",
        "status": "applied",
        "resultCode": "000000",
        "resultMsg": "applied",
        "finishedAt": "20260105093000123",  # UTC+8, milliseconds truncated like the platform's timeStamp
    }


@pytest.mark.parametrize("status", ["dead_lettered", "failed"])
def test_a_call_not_applied_gets_a_non_zero_code_and_the_first_line_of_its_reason(status: str) -> None:
    body = ack(status, reason="orgCode: required field is missing\nTraceback (most recent call last): ...")
    assert body.resultCode == NOT_APPLIED != DONE
    assert body.resultMsg == f"{status}: orgCode: required field is missing"


def test_a_long_reason_is_cut_and_a_missing_one_is_said() -> None:
    assert len(ack("dead_lettered", "x" * 5000).resultMsg) == len("dead_lettered: ") + MAX_REASON_CHARS
    assert ack("dead_lettered", " \n ").resultMsg == "dead_lettered: no reason recorded"
    assert ack("dead_lettered", None).resultMsg == "dead_lettered: no reason recorded"


def test_a_status_that_is_not_final_has_no_ack() -> None:
    with pytest.raises(ValidationError):
        ack("accepted")
