"""The two HTTP baselines the gateway is measured against, each run as a process like the gateway.

   python -m benchmarks.http_servers ceiling|naive --port P

- `ceiling`: the same HTTP stack (aiohttp, the runner and site `syncpipe gateway` builds:
  `gateway.app.gateway_runner`, the services' JSON logging) answering every call with a constant
  200 once its body is read.
  Nothing can be faster on this stack: the gateway's share of it is the cost of its own work.
- `gateway-no-broker`: syncpipe's gateway application with a publisher that stores nothing and
  answers at once: what a call costs the gateway without the broker (benchmarks/gateway_parts.py).
- `gateway-no-broker-json-dumps`: the same, its verifier putting bodies in the canonical form that
  issue 20 replaced (json.dumps; benchmarks/canonical_cost.py measures one against the other).
- `naive`: what a merchant writes first: verify the signature and validate the call (the same
  code as the gateway), then insert the call into Postgres in its own transaction (autocommit,
  durable) before answering. Needs DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Sequence

import asyncpg
from aiohttp import web

import gateway.verification
from benchmarks.canonical_cost import json_dumps_canonical
from gateway.app import build_app, gateway_runner
from gateway.client_secret import ClientSecretChecker
from gateway.errors import GatewayError
from gateway.request_body import decode_json_object
from gateway.verification import SignatureVerifier
from runtime.logs import configure_logging
from runtime.processes import tune_garbage_collector
from runtime.settings import Settings
from schemas.calls import parse_call
from schemas.envelope import KafkaRecord
from schemas.exceptions import InvalidCall

_ACCEPTED = {"resultCode": "000000", "resultMsg": "accepted: stored durably"}
# asyncpg's default pool size: what a merchant gets without thinking about it.
_NAIVE_POOL_SIZE = 10


async def constant_answer(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response(_ACCEPTED)


class NaiveIntake:
    def __init__(self, pool: asyncpg.Pool, verifier: SignatureVerifier) -> None:
        self._pool = pool
        self._verifier = verifier

    async def accept_call(self, request: web.Request) -> web.Response:
        interface = request.match_info["interface"]
        try:
            body = decode_json_object(await request.read())
            self._verifier.verify(request.headers, body)
            call = parse_call(interface, body)
        except GatewayError as error:
            return web.json_response({"resultCode": error.result_code.value, "resultMsg": error.message})
        except InvalidCall as exc:
            return web.json_response({"resultCode": "000002", "resultMsg": f"{exc.field}: {exc.reason}"})
        await self._pool.execute(
            "INSERT INTO naive_calls (interface, tenant_id, body) VALUES ($1, $2, $3::jsonb)",
            interface,
            call.tenantId,
            json.dumps(body, ensure_ascii=False),
        )
        return web.json_response(_ACCEPTED)


class NoBroker:
    """A publisher that stores nothing: the gateway's work without the broker's."""

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        return None

    async def is_reachable(self) -> bool:
        return True


async def serve(kind: str, port: int) -> None:
    settings = Settings()
    app = web.Application()
    pool: asyncpg.Pool | None = None
    if kind == "ceiling":
        app.router.add_post("/produceAPI/v2/{interface}", constant_answer)
    elif kind in ("gateway-no-broker", "gateway-no-broker-json-dumps"):
        if kind == "gateway-no-broker-json-dumps":
            # The verifier's module-level name, which signing_key_index looks up on every call.
            gateway.verification.canonical_json = json_dumps_canonical  # type: ignore[attr-defined]
        verifier = SignatureVerifier.from_settings(settings)
        app = build_app(settings, NoBroker(), verifier, ClientSecretChecker.from_settings(settings))
    else:
        if settings.database_url is None:
            raise SystemExit("the naive endpoint needs DATABASE_URL")
        pool = await asyncpg.create_pool(settings.database_url.get_secret_value(), max_size=_NAIVE_POOL_SIZE)
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS naive_calls (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " interface text NOT NULL, tenant_id text NOT NULL, body jsonb NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now())"
        )
        intake = NaiveIntake(pool, SignatureVerifier.from_settings(settings))
        app.router.add_post("/produceAPI/v2/{interface}", intake.accept_call)
    runner = gateway_runner(app, settings)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        if pool is not None:
            await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["ceiling", "naive", "gateway-no-broker", "gateway-no-broker-json-dumps"])
    parser.add_argument("--log-level", default="INFO", help="as `syncpipe --log-level` (WARNING: no line per call)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # As `syncpipe gateway` sets the process up (cli.main): logging, garbage collector.
    configure_logging(args.log_level, json=True)
    tune_garbage_collector()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.kind, args.port))


if __name__ == "__main__":
    main()
