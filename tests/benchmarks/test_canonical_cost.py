"""benchmarks.canonical_cost measures what it says: the form issue 20 replaced against today's, on bodies
where both write the same text (so the figures compare the same work)."""

from __future__ import annotations

import json

from benchmarks.canonical_cost import function_costs, json_dumps_canonical, ordinary_bodies
from schemas.canonical import canonical_json
from tests.schemas.signature_vectors import EDGE


def test_the_old_form_is_the_one_the_edge_vectors_refute_and_agrees_on_ordinary_bodies() -> None:
    assert all(json_dumps_canonical(body) == canonical_json(body) for body in ordinary_bodies().values())
    differs = [vector for vector in EDGE if json_dumps_canonical(json.loads(vector.body)) != vector.canonical]
    assert {vector.note for vector in differs} >= {"unknown top-level number 1e-7", "a name holds U+001F"}
    assert all(
        json_dumps_canonical(json.loads(vector.body)) == vector.canonical for vector in EDGE if "plain" in vector.note
    )


def test_each_body_gets_a_cost_for_each_form() -> None:
    costs = function_costs(rounds=1)
    assert set(costs) == set(ordinary_bodies())
    assert all(set(row) == {"json.dumps (before)", "Jackson-exact (now)"} for row in costs.values())
    assert all(cost > 0 for row in costs.values() for cost in row.values())
