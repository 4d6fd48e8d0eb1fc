"""The login-start cookie: the proof that this browser started this sign-in, here, minutes ago.

The platform documents no `state` parameter, so a callback cannot be tied to its login by one. The
login-start endpoint sets this cookie instead: HS256-signed (joserfc) with the app it started for
and an expiry, HttpOnly, SameSite=Lax (sent on the platform's top-level redirect back, not on a
cross-site subrequest), scoped to the callback path, and cleared by the callback whatever its
outcome. A callback without a valid one for its app is refused (docs/sign-in.md: login CSRF).
"""

from __future__ import annotations

import secrets
import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

COOKIE_NAME = "syncpipe_signin"
_TYPE = "syncpipe-login+jwt"
_ALGORITHM = "HS256"
# HS256 keys shorter than the hash are weak (RFC 7518 §3.2); a configured key must be at least this.
MIN_KEY_LENGTH = 32


class LoginCookies:
    def __init__(self, key: bytes, ttl_s: float) -> None:
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"the login cookie key must be at least {MIN_KEY_LENGTH} bytes")
        self._key = OctKey.import_key(key)
        self.ttl_s = ttl_s

    @classmethod
    def with_random_key(cls, ttl_s: float) -> LoginCookies:
        return cls(secrets.token_bytes(MIN_KEY_LENGTH), ttl_s)

    def issue(self, app_id: str, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        expires = issued + max(1, round(self.ttl_s))
        claims = {"app": app_id, "iat": issued, "exp": expires, "jti": secrets.token_urlsafe(8)}
        return jwt.encode({"alg": _ALGORITHM, "typ": _TYPE}, claims, self._key)

    def started_for(self, value: str | None, app_id: str, *, now: float | None = None) -> bool:
        """True if `value` is a cookie of ours, unexpired, for `app_id`."""
        if not value:
            return False
        try:
            token = jwt.decode(value, self._key, algorithms=[_ALGORITHM])
            if token.header.get("typ") != _TYPE:
                return False
            registry = JWTClaimsRegistry(now=None if now is None else int(now), exp={"essential": True})
            registry.validate(token.claims)
        except (JoseError, ValueError):
            return False
        return token.claims.get("app") == app_id
