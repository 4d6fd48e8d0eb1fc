"""Single sign-on (SPEC §10): the platform's users sign in to the merchant's product, as far as the
synced state lets them, and the merchant's application receives a signed assertion of who they are."""

from signin.app import build_signin_app
from signin.serve import serve_signin

__all__ = ["build_signin_app", "serve_signin"]
