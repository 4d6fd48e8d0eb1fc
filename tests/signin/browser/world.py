"""The whole sign-in, running: pipeline, the simulated platform's identity service, the sign-in
service and the merchant's test application, with every log line of the process captured.

Each test makes the tenants it needs (`new_org`), with random ids, and sends what the platform
would: to the simulated platform's directory (plaintext secrets) and, sealed for the merchant's
key, through the gateway, waiting until the workers applied it.
"""

from __future__ import annotations

import base64
import io
import itertools
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from schemas.calls import Flag, Interface
from schemas.timestamps import PLATFORM_TZ, format_platform_time
from syncpipe.simulation.client_secret import seal_client_secrets
from syncpipe.simulation.generator import PlatformCall
from syncpipe.simulation.identity import SimulatedIdentity
from tests.ops.scrape import scrape
from tests.read_api.browser.pipeline import Pipeline
from tests.signin.browser.application import TestApplication

FINISHED = ("applied", "duplicate", "stale", "test")


@dataclass
class Org:
    """A tenant of one test: its app, the app's credential and its users' names."""

    tenant_id: str
    tenant_code: str
    app_id: str
    client_id: str
    client_secret: str
    users: list[str]


@dataclass
class SignInWorld:
    pipeline: Pipeline
    identity: SimulatedIdentity
    application: TestApplication
    signin_url: str
    merchant_key: rsa.RSAPrivateKey
    merchant_key_file: Path
    logs: io.StringIO
    secrets_used: list[str] = field(default_factory=list)  # every plaintext client secret
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _epoch: datetime = field(default_factory=lambda: datetime.now(PLATFORM_TZ))

    def now(self) -> str:
        """A timeStamp newer than every one before it in this world."""
        return format_platform_time(self._epoch.replace(microsecond=0) + timedelta(milliseconds=next(self._clock)))

    def call(self, interface: Interface, tenant_id: str, **fields: Any) -> PlatformCall:
        return PlatformCall(interface, {"tenantId": tenant_id, "instanceId": "", "timeStamp": self.now(), **fields})

    def user(self, user_name: str, *, enable: bool = True, name: str | None = None) -> dict[str, Any]:
        return {
            "userName": user_name,
            "name": name or user_name.title(),
            "orgCode": "D1",
            "role": "user",
            "enable": "true" if enable else "false",
        }

    async def new_org(self, *users: dict[str, Any], synced: bool = True) -> Org:
        """A live tenant with one app and `users` authorised for it (synced to the pipeline, or not yet)."""
        tag = uuid.uuid4().hex[:10]
        org = Org(
            tenant_id=f"sso-{tag}",
            tenant_code=f"ent{tag}",
            app_id=f"app-{tag}",
            client_id=f"client-{tag}",
            client_secret=f"secret-{secrets.token_urlsafe(18)}",
            users=[user["userName"] for user in users],
        )
        calls = [
            self.call(
                Interface.TENANT_SYNC,
                org.tenant_id,
                tenantCode=org.tenant_code,
                name=f"Org {tag}",
                domainName=f"https://{org.tenant_code}.sso.example.com",  # adopt() points it at the simulator
                orderId=f"CS{tag}",
                flag=int(Flag.ADD),
            ),
            self.call(
                Interface.APPLICATION_SYNC,
                org.tenant_id,
                appId=org.app_id,
                clientId=org.client_id,
                clientSecret=org.client_secret,
                flag=int(Flag.ADD),
            ),
            self.call(
                Interface.ALL_ORG_SYNC,
                org.tenant_id,
                orgInfoList=[{"orgCode": "D1", "orgName": "Sales", "parentCode": ""}],
            ),
        ]
        if users:
            calls.append(self.authorise(org, *users))
        self.secrets_used.append(org.client_secret)
        await self.platform_sends(*calls, synced=synced)
        return org

    def authorise(self, org: Org, *users: dict[str, Any], flag: Flag = Flag.ADD) -> PlatformCall:
        return self.call(
            Interface.AUTH_SYNC,
            org.tenant_id,
            appId=org.app_id,
            userList=list(users),
            currentSyncTime=self.now(),
            flag=int(flag),
        )

    async def platform_sends(self, *calls: PlatformCall, synced: bool = True) -> None:
        """The platform makes `calls`: its directory knows them at once; with `synced`, the merchant's
        pipeline has applied them when this returns."""
        adopted = self.identity.adopt(calls)
        if synced:
            await self.merchant_receives(*adopted)

    async def merchant_receives(self, *calls: PlatformCall, seal: bool = True) -> None:
        """`calls` reach the merchant's pipeline only (client secrets sealed for the merchant's key unless
        `seal` is false), applied when this returns; the platform's directory does not change."""
        sent = seal_client_secrets(calls, self.merchant_key.public_key()) if seal else list(calls)
        event_ids = await self.pipeline.send(*sent)
        await self.pipeline.wait_until(
            "SELECT count(*) = $2 FROM events WHERE event_id = ANY($1::text[]) AND status = ANY($3::text[])",
            event_ids,
            len(set(event_ids)),
            list(FINISHED),
        )

    def seal_with_another_key(self, secret: str) -> str:
        """A clientSecret the merchant's key cannot open (sealed for a key the merchant does not hold)."""
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        [call] = seal_client_secrets(
            [PlatformCall(Interface.APPLICATION_SYNC, {"clientSecret": secret})], other.public_key()
        )
        sealed: str = call.body["clientSecret"]
        assert base64.b64decode(sealed)
        return sealed

    async def sign_ins(self, outcome: str) -> float:
        """`syncpipe_signin_total{outcome}` as the sign-in service's /metrics serves it."""
        async with aiohttp.ClientSession() as session:
            return (await scrape(session, f"{self.signin_url}/metrics")).value("syncpipe_signin_total", outcome=outcome)

    async def logouts(self, outcome: str) -> float:
        """`syncpipe_signin_logouts_total{outcome}`: 0 until the first such logout (its outcomes are not preset)."""
        async with aiohttp.ClientSession() as session:
            served = await scrape(session, f"{self.signin_url}/metrics")
        return served.total("syncpipe_signin_logouts_total", outcome=outcome)

    def login_url(self, org: Org) -> str:
        return f"{self.signin_url}/signin/login/{org.app_id}"
