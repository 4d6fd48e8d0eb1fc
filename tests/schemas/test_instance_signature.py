"""SPEC §9's signature: every reference case's canonical form, digest and signature, and only those."""

from __future__ import annotations

import pytest

from schemas.instance_body import read_instance_body
from schemas.instance_signature import (
    instance_canonical,
    instance_digest,
    matching_instance_key,
    signed_query,
)
from tests.schemas.instance_vectors import ALL, InstanceVector

IDS = [vector.case for vector in ALL]


def test_the_vectors_cover_every_activity() -> None:
    assert len(ALL) == 60
    assert {vector.activity for vector in ALL} == {
        "newInstance",
        "refreshInstance",
        "updateInstanceStatus",
        "upgradeInstance",
        "releaseInstance",
        "queryInstance",
    }


@pytest.mark.parametrize("vector", ALL, ids=IDS)
def test_each_reference_case_gives_its_canonical_form_digest_and_signature(vector: InstanceVector) -> None:
    canonical = instance_canonical(read_instance_body(vector.body.encode()))

    assert canonical == vector.canonical
    assert instance_digest(vector.access_key, canonical) == vector.digest
    assert matching_instance_key([vector.access_key], vector.nonce, vector.timestamp, canonical, vector.signature) == 0


def one_character_changed(text: str) -> str:
    """`text` with its middle character replaced by another one."""
    middle = len(text) // 2
    return text[:middle] + ("x" if text[middle] != "x" else "y") + text[middle + 1 :]


@pytest.mark.parametrize("vector", ALL, ids=IDS)
def test_a_one_character_change_to_the_body_key_nonce_or_timestamp_fails(vector: InstanceVector) -> None:
    body = read_instance_body(vector.body.encode())
    canonical = instance_canonical(body)
    longest = max(body, key=lambda key: len(body[key]))
    changed_body = instance_canonical({**body, longest: one_character_changed(body[longest])})
    key, nonce, stamp, signature = vector.access_key, vector.nonce, vector.timestamp, vector.signature

    assert matching_instance_key([key], nonce, stamp, changed_body, signature) is None
    assert matching_instance_key([one_character_changed(key)], nonce, stamp, canonical, signature) is None
    assert matching_instance_key([key], one_character_changed(nonce), stamp, canonical, signature) is None
    assert matching_instance_key([key], nonce, one_character_changed(stamp), canonical, signature) is None


def test_the_signature_compares_case_insensitively_and_tries_every_key() -> None:
    vector = ALL[0]
    canonical = vector.canonical
    keys = ["another-key", vector.access_key]
    assert matching_instance_key(keys, vector.nonce, vector.timestamp, canonical, vector.signature.upper()) == 1
    assert matching_instance_key(keys[:1], vector.nonce, vector.timestamp, canonical, vector.signature) is None


def test_signed_query_signs_what_the_verifier_checks() -> None:
    body = {"activity": "queryInstance", "instanceId": "i-1"}
    query = signed_query("k", "n0nce", 1767600000000, body)
    assert query["timestamp"] == "1767600000000"
    assert matching_instance_key(["k"], "n0nce", query["timestamp"], instance_canonical(body), query["signature"]) == 0


def test_canonical_escapes_only_quote_backslash_and_control_characters() -> None:
    body = {"b": 'q"b\\s/é\u2028\x7f', "a": "\b\t\n\f\r\x01\x1f"}
    assert instance_canonical(body) == '{"a":"\\b\\t\\n\\f\\r\\u0001\\u001F","b":"q\\"b\\\\s/é\u2028\x7f"}'


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is the surrogate pair D83D DE00, which sorts before U+FF5E in UTF-16 but after it by code point.
    assert instance_canonical({"\uff5e": "1", "\U0001f600": "2"}) == '{"\U0001f600":"2","\uff5e":"1"}'
