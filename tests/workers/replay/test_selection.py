"""Which records a replay keeps and how they become events: pure, no services."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.calls import parse_call
from schemas.envelope import HEADER_EVENT_ID, HEADER_INTERFACE, HEADER_PART, EventEnvelope, encode_event
from schemas.instance_envelope import HEADER_SUBJECT, INSTANCE_SUBJECT
from tests.workers.replay.recovery_fixtures import as_records
from workers.applier.records import ConsumedRecord
from workers.replay.selection import EventGrouper, RecordFilter, event_id_of, interface_of


def full_sync(tenant: str, departments: int = 40) -> list[ConsumedRecord]:
    org = [{"orgCode": f"D{n:03d}", "orgName": "研发部"} for n in range(departments)]
    call = parse_call("allOrgSync", {"tenantId": tenant, "timeStamp": "20260101000000000", "orgInfoList": org})
    return as_records([call])


def record(key: bytes | None, value: bytes | None, *headers: tuple[str, bytes], offset: int = 0) -> ConsumedRecord:
    return ConsumedRecord("events", 0, offset, key, value, headers)


def test_filters_read_the_key_and_headers_and_never_need_the_value() -> None:
    unreadable = record(b"t1", b"not json", (HEADER_INTERFACE, b"authSync"), (HEADER_EVENT_ID, b"ev1"))
    assert RecordFilter(frozenset({"t1"}), frozenset({"authSync"})).matches(unreadable)
    assert not RecordFilter(frozenset({"t2"})).matches(unreadable)
    assert not RecordFilter(interfaces=frozenset({"tenantSync"})).matches(unreadable)
    assert RecordFilter().matches(record(None, None))
    assert event_id_of(unreadable) == "ev1"


def test_a_record_without_headers_is_decoded_and_an_unreadable_one_gets_the_appliers_synthetic_id() -> None:
    call = parse_call("tenantSync", {"tenantId": "t1", "timeStamp": "20260101000000000", "flag": 1})
    [encoded] = encode_event(EventEnvelope.from_call(call, datetime.now(UTC)), 10**6)
    bare = record(encoded.key, encoded.value)
    assert (interface_of(bare), event_id_of(bare)) == ("tenantSync", dict(encoded.headers)[HEADER_EVENT_ID].decode())
    garbage = record(b"t1", b"{", offset=7)
    assert (interface_of(garbage), event_id_of(garbage)) == ("unknown", garbage.synthetic_event_id())


def test_parts_wait_for_their_whole_upload_and_a_part_sent_twice_counts_once() -> None:
    parts = full_sync("t1")
    assert len(parts) > 2
    grouper = EventGrouper()
    assert grouper.add(parts[:-1] + parts[:1]) == []
    assert grouper.incomplete_uploads == 1
    [event] = grouper.add(parts[-1:])
    assert event.records == tuple(parts)
    assert event.interface == "allOrgSync"
    assert grouper.incomplete_uploads == 0


def test_an_upload_missing_its_first_parts_never_comes_out() -> None:
    grouper = EventGrouper()
    assert grouper.add(full_sync("t1")[1:]) == []
    assert grouper.incomplete_uploads == 1


def test_whole_records_come_out_at_once_in_read_order_around_a_pending_upload() -> None:
    upload = full_sync("t1")
    single = as_records([parse_call("tenantSync", {"tenantId": "t1", "timeStamp": "20260101000000001", "flag": 1})])
    malformed = record(b"t1", b"x", (HEADER_PART, b"u:not-a-number:2"), (HEADER_EVENT_ID, b"ev-bad"))
    events = EventGrouper().add([upload[0], *single, malformed, *upload[1:]])
    assert [len(event.records) for event in events] == [1, 1, len(upload)]
    assert events[1].event_id == "ev-bad"  # goes on alone: apply_batch decides, as it did the first time


def test_naming_tenants_or_instances_keeps_only_their_calls() -> None:
    instance_call = record(b"inst-1", b"{}", (HEADER_SUBJECT, INSTANCE_SUBJECT), (HEADER_INTERFACE, b"newInstance"))
    tenant_call = record(b"inst-1", b"{}", (HEADER_INTERFACE, b"tenantSync"))  # a tenant whose id is the same text
    only_instance = RecordFilter(instances=frozenset({"inst-1"}))
    assert only_instance.matches(instance_call)
    assert not only_instance.matches(tenant_call)
    assert RecordFilter(frozenset({"inst-1"})).matches(tenant_call)
    assert not RecordFilter(frozenset({"inst-1"})).matches(instance_call)
    assert RecordFilter(interfaces=frozenset({"newInstance"})).matches(instance_call)
