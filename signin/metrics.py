"""What the sign-in service counts (docs/sign-in.md): every outcome by name, and the platform's latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from signin.refusals import Refusal

SIGNED_IN = "signed_in"
REDIRECTED = "redirected"
# A person waits on each call: buckets from a fast platform up to past the default 10 s timeout.
_PLATFORM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)


class SignInMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sign_ins = Counter(
            "syncpipe_signin_total",
            "Sign-in callbacks answered, by outcome: signed_in or the refusal",
            ["outcome"],
            registry=registry,
        )
        self.login_starts = Counter(
            "syncpipe_signin_login_starts_total",
            "Browsers sent to the platform's login page (redirected), or refused",
            ["outcome"],
            registry=registry,
        )
        self.logouts = Counter(
            "syncpipe_signin_logouts_total",
            "Browsers sent to the platform's logout (redirected), or refused",
            ["outcome"],
            registry=registry,
        )
        self.platform_duration = Histogram(
            "syncpipe_signin_platform_duration_seconds",
            "One call to the platform's identity service",
            ["call", "outcome"],
            buckets=_PLATFORM_BUCKETS,
            registry=registry,
        )
        for refusal in Refusal:  # every outcome shows from the start, at 0, so alerts can use rate()
            self.sign_ins.labels(refusal.value)
        self.sign_ins.labels(SIGNED_IN)
