"""What one `syncpipe simulate` run is: where the pipeline is, its secrets, and the workload."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from syncpipe.simulation.generator import WorkloadSizes
from syncpipe.simulation.sender import RETRY_DELAYS_S


class SimulationConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    gateway_url: str
    api_url: str
    access_key: SecretStr
    api_token: SecretStr
    tenants: int = Field(default=20, ge=0)
    seed: int = 0
    # Requests in flight at once, to the gateway and then to the read API.
    concurrency: int = Field(default=32, ge=1)
    # How long the pipeline may take, after the last call was accepted, to finish every event.
    settle_timeout_s: float = Field(default=120.0, gt=0)
    sizes: WorkloadSizes = Field(default_factory=WorkloadSizes)
    shuffle_window: int = Field(default=50, ge=0)
    resend_fraction: float = Field(default=0.05, ge=0, le=1)
    # PEM of the merchant's RSA key (public or private): when set, client secrets are sealed with it.
    client_secret_key: Path | None = None
    # Pauses before each retry of a call answered 000005 or not answered at all.
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
    # Pause between two polls of the events still on their way.
    poll_interval_s: float = Field(default=0.5, gt=0)
    # Where to serve the platform's ack endpoint (SPEC §6); None = acks are not checked. The acker's
    # SYNCPIPE_ACK_URL must point here (`syncpipe up --demo` sets it); acks count within the settle timeout.
    ack_port: int | None = Field(default=None, ge=0, le=65535)
    ack_host: str = "127.0.0.1"
    # The order lifecycle (SPEC §9): instances played, signed with the instance key at the gateway's
    # base path; 0 = none (`syncpipe simulate` plays DEFAULT_INSTANCES unless told otherwise).
    instances: int = Field(default=0, ge=0)
    instance_access_key: SecretStr | None = None
    gateway_base_path: str = "/"
    # Instance calls are signed up to this long before they are sent (inside the gateway's window), so
    # that their versions are not in the order they arrive in.
    instance_clock_jitter_ms: int = Field(default=10_000, ge=0)
