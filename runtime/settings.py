"""The one frozen settings object, read from the environment once per process and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1024 * 1024
# The embedded brokers `syncpipe up` can start (syncpipe.embedded.brokers).
BrokerName = Literal["tansu", "apache"]


class Settings(BaseSettings):
    """Every setting is an environment variable (names in docs/configuration.md)."""

    # hide_input_in_errors: a configuration error must not print the values around it (secrets among them).
    model_config = SettingsConfigDict(frozen=True, env_prefix="SYNCPIPE_", extra="ignore", hide_input_in_errors=True)

    # Services. Unset = `syncpipe up` and the tests start embedded ones.
    kafka_bootstrap_servers: str | None = Field(default=None, validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: SecretStr | None = Field(default=None, validation_alias="DATABASE_URL")
    # The broker `syncpipe up` starts when KAFKA_BOOTSTRAP_SERVERS is unset (syncpipe.embedded.brokers).
    broker: BrokerName = "tansu"

    # Kafka layout.
    events_topic: str = "syncpipe.events"
    dead_letter_topic: str = "syncpipe.events.dlq"
    topic_partitions: int = Field(default=12, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    # Replicas that must hold a record before an acks=all write counts; unset: 2 from 3 replicas up
    # (one may fail), else 1 (runtime.topics.min_insync_replicas).
    topic_min_insync_replicas: int | None = Field(default=None, ge=1)
    # How long Kafka keeps events: as far back as `syncpipe replay` reaches. -1 = forever.
    topic_retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=-1)
    # Largest record value we produce; bigger envelopes go in parts (brokers default to 1 MB).
    max_record_bytes: int = Field(default=900_000, ge=1024)

    # Gateway.
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    access_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    signature_window_s: float = Field(default=60.0, gt=0)
    # Nonces one gateway remembers to refuse replays, each until its timestamp leaves the window; when
    # full it answers 000005. ~120 bytes each: the default holds ~16,000 calls/s (gateway/nonces.py).
    gateway_nonce_capacity: int = Field(default=1_000_000, ge=1)
    app_private_key: Path | None = None
    max_body_bytes: int = Field(default=1 * MIB, gt=0)
    max_full_sync_bytes: int = Field(default=32 * MIB, gt=0)
    # Past this the call is answered 000005: the sender may retry, and nothing was stored.
    produce_timeout_s: float = Field(default=5.0, gt=0)
    # An idempotent producer (the broker must grant producer ids: Apache Kafka, not Tansu). Off: event
    # ids already make a twice-written batch harmless, and aiokafka's idempotent producer never gives up
    # a batch, so a call refused 000005 may still be stored later (gateway.publisher).
    producer_idempotence: bool = False

    # Workers.
    consumer_group: str = "syncpipe-workers"
    # Records per Postgres transaction, so also the unit of retry; a worker fetches this many per
    # lane (`apply_connections`) at once.
    batch_max_records: int = Field(default=2000, ge=1)
    # Lanes of one batch applied at once, each on its own connection: one lane's Python work runs
    # while the other waits for Postgres (2 nearly doubles a worker's rate on 2 cores, see BENCHMARKS.md).
    apply_connections: int = Field(default=2, ge=1)
    # A record that fails this many times for a non-retriable reason is dead-lettered.
    max_attempts: int = Field(default=5, ge=1)
    # Kafka evicts a worker silent this long; its partitions move to the others.
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    # A worker that polls Kafka for nothing this long leaves its group (Kafka's max.poll.interval.ms).
    # Workers poll while they wait out an outage, so only one transaction stuck this long triggers it.
    max_poll_interval_ms: int = Field(default=300_000, ge=1000)
    # A batch that failed for a retriable reason (Postgres or the broker unreachable) is fetched and
    # tried again after this, doubling up to the cap: a recovered service is noticed within the cap.
    retry_backoff_first_s: float = Field(default=0.1, gt=0)
    retry_backoff_cap_s: float = Field(default=5.0, gt=0)

    # Retention (docs/retention.md). Event history (`events`: statuses, archived calls, the dedupe
    # record) is kept this many days after an event finished, then folded into per-tenant checkpoints
    # and dropped a day at a time; a month covers the Kafka window and a support question about last
    # month's calls.
    retention_events_days: int = Field(default=30, ge=1)
    # Acks the platform took stay in the outbox this long (for the console), then go an hour at a time.
    retention_sent_acks_hours: int = Field(default=1, ge=1)
    # Dead letters re-driven or dropped stay this long after that decision; those still waiting stay.
    retention_dead_letters_days: int = Field(default=30, ge=1)
    # How often a worker creates partitions ahead and prunes what passed its horizon (one worker at a
    # time); the horizons move by a day and an hour, so a few minutes late costs nothing.
    retention_interval_s: float = Field(default=600.0, ge=1)

    # Read API.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8081, ge=0, le=65535)
    api_token: SecretStr | None = None

    # Acknowledgements. Unset ack_url = acks are kept pending in the outbox until an acker has one.
    ack_url: str | None = None
    # A platform silent this long is treated as down for this attempt (the ack is retried later).
    ack_timeout_s: float = Field(default=10.0, gt=0)
    # Acks one acker holds at once (claimed, in flight, or being marked): bounds its memory and the
    # load it puts on the platform.
    ack_max_in_flight: int = Field(default=64, ge=1)
    # Retries of one ack: about this long after the first failure, doubling up to the cap, so a
    # platform down for hours is asked about each ack every few minutes, not hammered.
    ack_retry_first_s: float = Field(default=1.0, gt=0)
    ack_retry_cap_s: float = Field(default=300.0, gt=0)
    # The acker wakes on the outbox's notifications (LISTEN, sent when an applying transaction
    # commits). Off where LISTEN cannot work, e.g. through PgBouncer in transaction pooling mode.
    ack_listen: bool = True
    # With no notification, look for due acks this often: what catches a retry coming due, a lease
    # running out, and a notification missed while the listening connection was down (or with
    # ack_listen off). An empty look is one probe of the partial index of owed acks.
    ack_poll_interval_s: float = Field(default=1.0, gt=0)

    # Operations (docs/operating.md). The worker and the acker serve /metrics, /healthz and /readyz on
    # these ports (`syncpipe up`: one port, the worker's, for both); 0 = not served. Several workers
    # on one host each need a port of their own.
    ops_host: str = "127.0.0.1"
    worker_ops_port: int = Field(default=9101, ge=0, le=65535)
    acker_ops_port: int = Field(default=9102, ge=0, le=65535)
    # Every HTTP server closes a keep-alive connection idle this long. aiohttp's timer also runs while a
    # request's headers arrive, so it is the longest a slow sender can hold a connection before its
    # request starts; above the usual 60 s idle timeout of load balancers, so they close first.
    http_keepalive_timeout_s: float = Field(default=75.0, gt=0)
    # Request bodies the gateway holds at once, counted as their bytes arrive: bounds its memory under a
    # flood of large calls. Must fit one full sync.
    gateway_max_in_flight_bytes: int = Field(default=128 * MIB, gt=0)
    # Of those, what one client (an IP address) may hold in bodies whose signature is not verified yet,
    # unless a call of its own passed the signature lately: whoever has no key cannot fill the budget
    # from one address. Must fit one full sync (the first call of a client is not verified either).
    gateway_max_unverified_bytes_per_client: int = Field(default=32 * MIB, gt=0)
    # Processes that parse and verify large bodies off the gateway's event loop (a 32 MiB body takes
    # seconds of CPU); 0 = on the event loop, as small bodies always are. Each may take ~20 times the
    # largest body in memory while parsing it.
    gateway_parse_processes: int = Field(default=1, ge=0)
    # Sign-in (SPEC §10, docs/sign-in.md): the service the platform's users sign in through.
    signin_host: str = "127.0.0.1"
    signin_port: int = Field(default=8082, ge=0, le=65535)
    # The address browsers reach it at (its https URL behind a proxy); the redirect_uri registered with the
    # platform is `<this>/signin/callback/<appId>`. Unset = http://SIGNIN_HOST:SIGNIN_PORT.
    signin_public_url: str | None = None
    # The platform's unified login page; `{appId}` is replaced by the app signing in.
    signin_login_url: str = "https://macroverse.huaweicloud.com/unified-login/#/portal-login?ind=UNOP&appId={appId}"
    # The merchant's application page that receives the signed assertion (`?assertion=<JWT>`).
    signin_app_url: str | None = None
    # Where the platform's logout sends the browser back to. Unset = SIGNIN_APP_URL.
    signin_logout_redirect_url: str | None = None
    # PEM private keys (EC P-256 or RSA) that sign assertions: the first signs, every one is published
    # in the JWKS (two during a rotation). Unset = one key generated per process (dev only).
    signin_signing_keys: Annotated[tuple[Path, ...], NoDecode] = ()
    # Signs the login-start cookie. Unset = a random key per process (one sign-in instance only).
    signin_cookie_key: SecretStr | None = None
    # An assertion is for the application to take at once: a minute covers the redirect and clock skew.
    signin_assertion_ttl_s: float = Field(default=60.0, gt=0)
    # How long a person may spend on the platform's login page between login start and callback.
    signin_login_ttl_s: float = Field(default=600.0, gt=0)
    # Each call to the platform's token and userinfo endpoints: a person is waiting in a browser.
    signin_platform_timeout_s: float = Field(default=10.0, gt=0)
    # Secrets may come from files instead (container secrets): read once at start; set one or the other.
    access_keys_file: Path | None = None
    api_token_file: Path | None = None

    # Instance calls (SPEC §9, the order lifecycle). They come with keys of their own, to the base path
    # itself (the sync calls are under it, at produceAPI/v2/...).
    gateway_base_path: str = "/"
    instance_access_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    instance_access_keys_file: Path | None = None
    # queryInstance is answered from Postgres, and a newInstance's answer says whether the instance is
    # ready: past this the query is answered 000005 and the newInstance 000004 (it is stored already).
    instance_lookup_timeout_s: float = Field(default=2.0, gt=0)
    # When no application of the merchant provisions instances, this URL (`{instanceId}` filled in)
    # becomes the frontEndUrl of every new instance and makes it ready at once.
    instance_ready_url_template: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        for name in ("access_keys", "api_token", "instance_access_keys"):
            path = data.get(f"{name}_file")
            if not path:
                continue
            if data.get(name):
                raise ValueError(f"set SYNCPIPE_{name.upper()} or SYNCPIPE_{name.upper()}_FILE, not both")
            try:
                secret = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:  # the message names the file, never its content
                raise ValueError(f"SYNCPIPE_{name.upper()}_FILE {path}: cannot read ({type(exc).__name__})") from None
            data = {**data, name: secret}
        return data

    @model_validator(mode="after")
    def _a_full_sync_fits_in_flight(self) -> Settings:
        if self.gateway_max_in_flight_bytes < self.max_full_sync_bytes:
            raise ValueError("SYNCPIPE_GATEWAY_MAX_IN_FLIGHT_BYTES must be at least SYNCPIPE_MAX_FULL_SYNC_BYTES")
        if self.gateway_max_unverified_bytes_per_client < self.max_full_sync_bytes:
            raise ValueError(
                "SYNCPIPE_GATEWAY_MAX_UNVERIFIED_BYTES_PER_CLIENT must be at least SYNCPIPE_MAX_FULL_SYNC_BYTES"
            )
        return self

    @model_validator(mode="after")
    def _topics_can_take_writes(self) -> Settings:
        insync = self.topic_min_insync_replicas
        if insync is not None and insync > self.topic_replication_factor:
            # Kafka would refuse every acks=all write to such a topic.
            raise ValueError("SYNCPIPE_TOPIC_MIN_INSYNC_REPLICAS must not exceed SYNCPIPE_TOPIC_REPLICATION_FACTOR")
        if self.topic_retention_ms == 0:
            raise ValueError("SYNCPIPE_TOPIC_RETENTION_MS must be positive, or -1 to keep events forever")
        return self

    @field_validator("database_url")
    @classmethod
    def _a_postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # DATABASE_URL= (empty) is unset, as for every optional setting
        if not _is_postgres_url(value.get_secret_value()):
            # The message never quotes the URL: it may hold the password.
            raise ValueError("must be a postgresql:// URL (postgresql://user[:password]@host[:port]/database)")
        return value

    @field_validator("signin_signing_keys", mode="before")
    @classmethod
    def _comma_separated_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(path.strip()) for path in value.split(",") if path.strip())
        return value

    @field_validator("signin_login_url")
    @classmethod
    def _names_the_app(cls, value: str) -> str:
        if "{appId}" not in value:
            raise ValueError("must contain {appId}, where the app signing in goes")
        return value

    @field_validator("gateway_base_path")
    @classmethod
    def _a_path(cls, value: str) -> str:
        if not value.startswith("/") or any(character in value for character in "{}?# ") or "//" in value:
            raise ValueError("SYNCPIPE_GATEWAY_BASE_PATH must be a URL path starting with / (no {, }, ?, #, spaces)")
        return value.rstrip("/") or "/"

    @field_validator("instance_ready_url_template")
    @classmethod
    def _names_the_instance(cls, value: str | None) -> str | None:
        if value is not None and "{instanceId}" not in value:
            raise ValueError("SYNCPIPE_INSTANCE_READY_URL_TEMPLATE must contain {instanceId}")
        return value or None

    @field_validator("access_keys", "instance_access_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            # Commas, or one key per line (a keys file).
            return tuple(key.strip() for key in value.replace("\n", ",").split(",") if key.strip())
        return value

    def access_key_values(self) -> list[str]:
        return [key.get_secret_value() for key in self.access_keys]

    def instance_access_key_values(self) -> list[str]:
        return [key.get_secret_value() for key in self.instance_access_keys]


def _is_postgres_url(url: str) -> bool:
    """What asyncpg can connect with: a postgresql:// (or postgres://) URL whose hosts' ports, if given,
    are numbers (`host`, `host:port`, `[ipv6]:port`, several separated by commas)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a bracket not closed
        return False
    if parts.scheme not in ("postgresql", "postgres"):
        return False
    for host in parts.netloc.rpartition("@")[2].split(","):
        after_address = host.rpartition("]")[2] if host.startswith("[") else host
        if ":" in after_address:
            port = after_address.rpartition(":")[2]
            if not (port.isascii() and port.isdigit()):
                return False
    return True
