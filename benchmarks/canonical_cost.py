"""What the Jackson-exact canonical form (issue 20) costs against the form it replaced, in one run.

    python -m benchmarks.canonical_cost [--rounds 25] [--gateway-rounds 3] [--duration 5]

Two comparisons, old and new side by side, alternating so that a shared machine's load falls on both:
 - the function alone, on ordinary bodies decoded as the gateway decodes them (the gateway
   benchmark's `singleOrgSync`, a `tenantSync`, an `authSync` of 50 users, an `allOrgSync` of 1,000
   departments): µs per body, best of `--rounds`;
 - the gateway's own work: `python -m benchmarks.http_servers gateway-no-broker` (no broker, no
   line per call, so nothing else moves the figure) under the gateway benchmark's saturation load,
   as it runs and with the old form put in its verifier (`gateway-no-broker-json-dumps`): calls/s
   and server CPU per call, best of `--gateway-rounds` (benchmarks/gateway_parts.py's measure).
`--gateway-rounds 0` skips the second (it starts Tansu and Postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks import gateway_parts
from benchmarks.services import BenchServices
from benchmarks.workload import department_change, full_snapshot, run_tag
from schemas import strict_json
from schemas.canonical import canonical_json


def json_dumps_canonical(body: Mapping[str, Any]) -> str:
    """The canonical form before issue 20 (schemas/canonical.py at 58f1d69^), kept only to be measured
    against: Python's sort and json.dumps, which differ from Jackson for floats, control characters'
    escapes and astral keys."""
    kept = {key: body[key] for key in sorted(body) if body[key] is not None}
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


def ordinary_bodies() -> dict[str, dict[str, Any]]:
    """Bodies without a float, a control character or an astral key, decoded from their wire text."""
    tag = run_tag()
    users = [
        {"userName": f"user{index:03d}", "name": f"用户 {index}", "orgCode": f"D{index % 7:06d}", "role": "user"}
        | {"enable": "true", "email": f"user{index}@example.com", "mobile": f"1380000{index:04d}"}
        for index in range(50)
    ]
    common = {"instanceId": f"inst-{tag}", "tenantId": f"bench-{tag}", "testFlag": 0, "timeStamp": "20250303090000001"}
    bodies = {
        "singleOrgSync": department_change(tag, 12_345, 100),
        "tenantSync": common
        | {"orderId": "CS1234567890", "tenantCode": "acme", "name": "某某科技有限公司", "flag": 1}
        | {"domainName": "https://acme.example.com"},
        "authSync 50 users": common
        | {"appId": "app-1", "currentSyncTime": "20250303090000001", "flag": 1, "userList": users},
        "allOrgSync 1,000 depts": full_snapshot(tag, 1_000),
    }
    return {name: strict_json.loads(json.dumps(body, ensure_ascii=False)) for name, body in bodies.items()}


def per_body_us(function: Callable[[Mapping[str, Any]], str], body: Mapping[str, Any], seconds: float) -> float:
    """µs per call of `function(body)`, over about `seconds` of calls."""
    calls, started = 0, time.perf_counter()
    batch = 1
    while True:
        for _ in range(batch):
            function(body)
        calls += batch
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return elapsed / calls * 1e6
        batch = min(batch * 2, 4096)


def function_costs(rounds: int) -> dict[str, dict[str, float]]:
    """Best µs per body of each form on each body, the two forms alternating within every round."""
    forms = {"json.dumps (before)": json_dumps_canonical, "Jackson-exact (now)": canonical_json}
    best: dict[str, dict[str, float]] = {}
    for name, body in ordinary_bodies().items():
        assert json_dumps_canonical(body) == canonical_json(body), f"{name}: not an ordinary body"
        best[name] = {}
        for _ in range(rounds):
            for form, function in forms.items():
                cost = per_body_us(function, body, 0.05)
                best[name][form] = min(cost, best[name].get(form, cost))
    return best


async def gateway_costs(services: BenchServices, rounds: int, duration_s: float) -> dict[str, dict[str, float]]:
    variants = {
        "gateway, json.dumps form (before)": ["-m", "benchmarks.http_servers", "gateway-no-broker-json-dumps"],
        "gateway, Jackson-exact form (now)": ["-m", "benchmarks.http_servers", "gateway-no-broker"],
    }
    quiet = {name: [*args, "--log-level", "WARNING"] for name, args in variants.items()}
    return await gateway_parts.run(services, rounds, duration_s, quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.canonical_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=25, help="rounds of the function comparison")
    parser.add_argument("--gateway-rounds", type=int, default=3, help="rounds of the gateway comparison; 0: none")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of saturation per gateway measurement")
    args = parser.parse_args(argv)
    print(f"{'body':<24} | {'json.dumps us':>13} | {'Jackson-exact us':>16} | {'ratio':>5}")
    for name, costs in function_costs(args.rounds).items():
        before, now = costs["json.dumps (before)"], costs["Jackson-exact (now)"]
        print(f"{name:<24} | {before:>13.2f} | {now:>16.2f} | {now / before:>5.2f}")
    if args.gateway_rounds:
        print(f"\n{'variant':<36} | {'calls/s':>8} | {'CPU us/call':>11}")
        with BenchServices() as services:  # outside the loop: it runs one of its own to start
            best = asyncio.run(gateway_costs(services, args.gateway_rounds, args.duration))
        for name, figure in best.items():
            print(f"{name:<36} | {figure['calls_s']:>8,.0f} | {figure['cpu_us_per_call']:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
