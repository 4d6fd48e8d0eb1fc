"""Who the simulated platform lets sign in: its tenants' accounts and app credentials, in plaintext.

It learns them from the platform's own calls, read before their client secrets are sealed (the
platform knows its secrets; the merchant only gets ciphertext). Like a platform whose directory is
not the merchant's copy, it is lenient on purpose: any account of the tenant may sign in, disabled
or not authorised for the app, so that what refuses them is syncpipe's check of the synced state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from schemas.calls import AllOrgSync, ApplicationSync, AuthSync, Flag, SingleOrgSync, TenantSync, parse_call
from syncpipe.simulation.generator import PlatformCall


@dataclass(frozen=True, slots=True)
class AppCredential:
    client_id: str
    client_secret: str  # plaintext: what the platform checks at its token endpoint


@dataclass
class PlatformTenant:
    tenant_id: str
    name: str = ""
    realm: str = ""  # the path of its domainName: where its auth centre answers
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # userName -> user entry
    apps: dict[str, AppCredential] = field(default_factory=dict)  # appId -> credential
    departments: dict[str, str] = field(default_factory=dict)  # orgCode -> orgName


def realm_of(domain_name: str) -> str:
    """The path of a domainName, without slashes: `http://127.0.0.1:9/ent1` -> `ent1`."""
    return unquote(urlsplit(domain_name).path.strip("/"))


class IdentityDirectory:
    """The platform's side of every simulated tenant, kept up to date by `apply`."""

    def __init__(self) -> None:
        self._tenants: dict[str, PlatformTenant] = {}

    def apply(self, calls: Iterable[PlatformCall]) -> None:
        """Take in the platform's calls (plaintext secrets), in the order it made them; test calls change nothing."""
        for platform_call in calls:
            call = parse_call(platform_call.interface, platform_call.body)
            if call.testFlag == 1:
                continue
            tenant = self._tenants.setdefault(call.tenantId, PlatformTenant(call.tenantId))
            match call:
                case TenantSync():
                    if Flag(call.flag) is Flag.DELETE:
                        self._tenants[call.tenantId] = PlatformTenant(call.tenantId)
                    else:
                        tenant.name, tenant.realm = call.name, realm_of(call.domainName)
                case ApplicationSync():
                    if Flag(call.flag) is Flag.DELETE:
                        tenant.apps.pop(call.appId, None)
                    else:
                        tenant.apps[call.appId] = AppCredential(call.clientId, call.clientSecret)
                case AuthSync():
                    for entry in call.userList:
                        if Flag(call.flag) is Flag.DELETE:
                            tenant.accounts.pop(entry.userName, None)
                        elif Flag(call.flag) is not Flag.REVOKE:
                            tenant.accounts[entry.userName] = entry.model_dump(mode="json", exclude_none=True)
                case SingleOrgSync():
                    tenant.departments[call.orgCode] = call.orgName
                case AllOrgSync():
                    tenant.departments = {org.orgCode: org.orgName for org in call.orgInfoList}

    def add_account(self, tenant_id: str, entry: dict[str, Any]) -> None:
        """An account the platform has before any call told the merchant about it."""
        self._tenants.setdefault(tenant_id, PlatformTenant(tenant_id)).accounts[entry["userName"]] = dict(entry)

    def tenant(self, tenant_id: str) -> PlatformTenant | None:
        return self._tenants.get(tenant_id)

    def by_realm(self, realm: str) -> PlatformTenant | None:
        """The tenant whose current domainName is at `realm` (an old domainName answers nothing)."""
        return next((tenant for tenant in self._tenants.values() if realm and tenant.realm == realm), None)

    def by_app(self, app_id: str) -> PlatformTenant | None:
        return next((tenant for tenant in self._tenants.values() if app_id in tenant.apps), None)
