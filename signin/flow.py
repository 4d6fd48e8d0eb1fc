"""One sign-in, from the platform's callback to the assertion (SPEC §10; docs/sign-in.md).

1. The synced state names the tenant's auth centre (`domainName`) and the app's credential;
   an unknown or deleted tenant or an unbound app is refused before the platform is asked.
2. The clientSecret is decrypted for this exchange only.
3. The code is exchanged at `{domainName}/api/v1/oauth2/token`; userinfo says who signed in.
4. The platform's `tenant` must be the callback's: a code of another tenant is refused.
5. The synced state decides: the user exists, is enabled and is authorised for the app, in a
   tenant still alive. The assertion carries the synced record.
"""

from __future__ import annotations

from urllib.parse import quote

from signin.assertion import AssertionSigner
from signin.client_secret import ClientSecretOpener
from signin.decision import SignedInUser, admitted_user, auth_centre, platform_credentials
from signin.exceptions import SignInRefused
from signin.platform import PlatformIdentity, logout_url
from signin.refusals import Refusal
from signin.synced_state import SyncedState

CALLBACK_PATH = "/signin/callback/{appId}"


class SignInFlow:
    def __init__(
        self,
        state: SyncedState,
        platform: PlatformIdentity,
        secrets: ClientSecretOpener,
        signer: AssertionSigner,
        *,
        public_url: str,
    ) -> None:
        self._state = state
        self._platform = platform
        self._secrets = secrets
        self._signer = signer
        self._public_url = public_url.rstrip("/")

    def redirect_uri(self, app_id: str) -> str:
        """The callback URL of `app_id`, as registered with the platform (the seller console's setting)."""
        return self._public_url + CALLBACK_PATH.format(appId=quote(app_id, safe=""))

    async def sign_in(self, app_id: str, tenant_id: str, code: str) -> tuple[SignedInUser, str]:
        """The person signed in and their assertion; SignInRefused naming why not."""
        tenant, application = await self._state.tenant_and_application(tenant_id, app_id)
        credentials = platform_credentials(tenant_id, app_id, tenant, application)
        secret = self._secrets.open(credentials.sealed_secret, tenant_id=tenant_id, app_id=app_id)
        access_token = await self._platform.exchange_code(credentials, secret, code, self.redirect_uri(app_id))
        who = await self._platform.user_info(credentials.base_url, access_token)
        if who.tenant_id != tenant_id:
            raise SignInRefused(
                Refusal.TENANT_MISMATCH,
                f"callback for tenant {tenant_id!r} but the platform signed in a user of tenant {who.tenant_id!r}",
            )
        tenant, user = await self._state.tenant_and_user(tenant_id, who.user_name, app_id)
        person = admitted_user(tenant_id, who.user_name, app_id, tenant, user)
        return person, self._signer.issue(person)

    async def logout_target(self, tenant_id: str, redirect_url: str) -> str:
        """The tenant's logout URL; a deleted tenant's too (ending a platform session harms no one)."""
        tenant = await self._state.tenant(tenant_id)
        if tenant is None:
            raise SignInRefused(Refusal.UNKNOWN_TENANT, f"logout for tenant {tenant_id!r}, never synced")
        base_url = auth_centre(tenant.domain_name)
        if base_url is None:
            raise SignInRefused(Refusal.TENANT_DOMAIN_INVALID, f"tenant {tenant_id!r} has no http(s) domainName")
        return logout_url(base_url, redirect_url)
