"""Settings for every ITM process, read from ``ITM_*`` environment variables.

A bad value stops the process at start-up with a message naming the variable
and what it expects (``load_settings``), never later at first use.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ITM_", extra="ignore")

    service: str = Field("itm", description="name of this service, for logs, metrics and client ids")
    environment: Literal["dev", "production"] = Field(
        "dev", description="production refuses to start without ITM_AUTH_JWKS_URL and ITM_PUBLIC_BASE_URL")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="comma-separated host:port list")
    redis_url: str = Field("redis://127.0.0.1:6379/0")
    redis_pool_size: int = Field(64, ge=2, le=10_000, description="Redis connections per process at most")
    redis_pool_timeout_s: float = Field(
        5.0, gt=0, le=60, description="how long a command waits for a free pooled connection before the call "
                                      "answers UNAVAILABLE")
    topic_prefix: str = Field("", description="prefix for every topic and consumer group (test isolation)")
    topic_replication_factor: int = Field(1, ge=-1, description="replicas of created topics; -1 = broker default")
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    data_dir: str = Field(".itm/data", description="local state (faust tables) for this process")

    # identity (issue 6 replaces the shared secret with OIDC/JWKS in production)
    token_secret: str = Field("itm-dev-secret-change-me-0123456789abcdef", min_length=32)
    token_issuer: str = "itm"
    token_audience: str = "itm"
    auth_required: bool = True
    auth_jwks_url: str = Field("", description="OIDC provider's JWKS URL; set = verify people's RS256/ES256 "
                              "tokens with it, and HS256 (ITM_TOKEN_SECRET) ones for the service role only")
    auth_algorithms: list[str] = Field(["RS256", "ES256"], description="accepted algorithms with a JWKS")
    auth_jwks_cache_s: int = Field(300, ge=0, description="how long fetched keys are trusted")
    auth_jwks_refresh_cooldown_s: float = Field(
        30, ge=0, description="min seconds between refetches for an unknown key id (protects the IdP)")
    auth_role_claim: str = Field("role", description="claim that carries the ITM role")
    rate_limit_per_s: float = Field(50.0, gt=0, description="calls per second per identity (service role exempt)")
    rate_limit_burst: int = Field(100, ge=1)
    max_request_bytes: int = Field(1 << 20, ge=1024, description="largest accepted gRPC request")
    max_concurrent_calls: int = Field(128, ge=1, le=100_000, description="unary gRPC calls handled at once per "
                                      "process; more wait (streams are not counted)")
    max_queued_calls: int = Field(1024, ge=0, le=1_000_000, description="unary calls that may wait for a slot; "
                                  "beyond that a call answers RESOURCE_EXHAUSTED")
    audit_max_len: int = Field(1_000_000, ge=1000, description="records kept in the audit stream (older ones trimmed)")
    audit_refusals_per_s: float = Field(5.0, gt=0, description="UNAUTHENTICATED/PERMISSION_DENIED calls audited per "
                                        "second per peer; the rest are counted (itm_audit_suppressed_total)")
    audit_refusals_burst: int = Field(20, ge=1)
    grpc_keepalive_s: float = Field(
        60.0, ge=0, le=3600, description="ping a gRPC connection idle this long; a peer that does not answer within "
                                         "ITM_GRPC_KEEPALIVE_TIMEOUT_S is dropped with its streams (0: never ping)")
    grpc_keepalive_timeout_s: float = Field(20.0, gt=0, le=600, description="how long a keepalive ping may go unanswered")

    # outbox relay
    outbox_batch: int = Field(200, ge=1, le=10_000)
    outbox_block_ms: int = Field(50, ge=1, le=60_000, description="how long the relay waits for new entries")
    kafka_request_timeout_ms: int = Field(10_000, ge=1000)
    retry_max_backoff_s: float = Field(5.0, gt=0)

    # consumers
    consumer_group_rebalance_timeout_ms: int = Field(6000, ge=1000)
    consumer_session_timeout_ms: int = Field(6000, ge=1000)
    consumer_max_attempts: int = Field(5, ge=1, description="attempts before an event is dead-lettered")
    consumer_stall_s: float = Field(
        60.0, ge=1, le=3600, description="a consumer holding one record this long without getting past it (Redis "
                                         "down, dead-letter topic unwritable, a hung handler) reports NOT_SERVING")

    # match score (design brief): evidence factors and the default threshold
    factor_verified: float = Field(1.0, ge=0, le=1)
    factor_inferred: float = Field(0.8, ge=0, le=1)
    factor_claimed: float = Field(0.5, ge=0, le=1)
    factor_aspirational: float = Field(0.0, ge=0, le=1)
    related_skill_cap: float = Field(0.5, ge=0, lt=1, description="max credit through a related skill")
    default_threshold_percent: int = Field(80, ge=1, le=100)
    scoring_version: int = Field(1, ge=1)

    # opportunity governance (issue 3)
    approval_hours_threshold: float = Field(
        10.0, ge=0, description="postings above this many hours per week wait for the owner's manager's approval")
    gig_time_share_percent: float = Field(
        20.0, ge=0, le=100, description="max share of an employee's hours available per week released to gigs")
    expiry_sweep_interval_s: float = Field(
        30.0, gt=0, le=3600, description="how often the opportunity service closes opportunities whose apply_by "
                                         "deadline passed (outcome expired)")
    profile_target: str = Field("127.0.0.1:50051", description="host:port of the profile service's gRPC "
                                "(the opportunity service looks up managers and hours available)")
    matcher_target: str = Field("127.0.0.1:50054", description="host:port of a matcher worker's gRPC (the opportunity "
                                "service asks it for the caller's match percent in search and applicants' scores)")

    # notifier
    inbox_max_len: int = Field(1000, ge=10)
    client_buffer: int = Field(256, ge=1, description="notifications a live connection may fall behind "
                               "before it is told to resume from its last id")
    client_write_timeout_s: float = Field(10.0, gt=0, description="a live write that does not complete in this "
                                          "time ends the connection with 'resume from <id>'")
    notifier_heartbeat_s: float = Field(15.0, gt=0, description="heartbeat on idle live connections")
    notifier_consumer_concurrency: int = Field(32, ge=1, le=512, description="employees whose crossings the "
                                               "notifier stores at once (one employee's always in order)")
    public_base_url: str = "http://localhost:8080"

    # webhooks (docs/webhooks.md)
    webhook_max_attempts: int = Field(12, ge=1, le=100, description="attempts per event before it goes to the "
                                      "subscription's dead letter (a subscription may set its own)")
    webhook_backoff_initial_s: float = Field(1.0, gt=0, le=3600, description="wait after the first failed attempt; "
                                             "doubles after each further one")
    webhook_backoff_max_s: float = Field(600.0, gt=0, le=86_400, description="longest wait between two attempts")
    webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="an attempt without an answer in this time fails")
    webhook_lease_s: float = Field(30.0, ge=1, le=600, description="a replica delivering a subscription holds it this "
                                   "long between renewals; another takes over after it")

    # notifier: external channels (issue 13) -- email, Slack, Teams, digests
    smtp_host: str = Field("", description="SMTP server for the email channel; empty = no email is sent")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade after connecting (required); tls: implicit TLS (port 465); "
                                "none: plain (loopback test servers only)")
    smtp_username: str = Field("", description="SMTP AUTH user; empty = no authentication")
    smtp_password: str = ""
    smtp_from: str = Field("ITM <itm@localhost>", description="From: of notification emails (its domain also "
                           "names the Message-IDs)")
    smtp_timeout_s: float = Field(20.0, gt=0, le=300)
    notifier_public_url: str = Field("", description="where people's mail clients reach the notifier's HTTP port "
                                     "(one-click unsubscribe); empty = http://<http_host>:<http_port>")
    chat_webhook_allowed_hosts: list[str] = Field(
        ["hooks.slack.com", "*.webhook.office.com", "*.logic.azure.com", "*.powerplatform.com"],
        description="hosts people's Slack/Teams webhook URLs may point at (*.suffix allowed); JSON list")
    chat_webhook_allow_http: bool = Field(False, description="accept http:// chat webhook URLs (loopback test receivers)")
    chat_webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="a Slack/Teams post without an answer in "
                                          "this time fails (and is retried)")
    delivery_max_attempts: int = Field(6, ge=1, le=100, description="failed sends before a delivery is "
                                       "dead-lettered (a permanent refusal dead-letters at once)")
    delivery_backoff_base_s: float = Field(2.0, gt=0, le=3600, description="first retry delay; doubles per attempt")
    delivery_backoff_max_s: float = Field(600.0, gt=0, le=86400)
    delivery_lease_s: float = Field(60.0, ge=1, le=3600, description="a claimed delivery not recorded in this time "
                                    "(its notifier died) is claimed again; longer than any send may take")
    delivery_per_destination: int = Field(4, ge=1, le=1000, description="sends in flight per destination (the "
                                          "SMTP server, one webhook URL) per notifier")
    delivery_max_in_flight: int = Field(256, ge=1, le=100_000, description="sends in flight per notifier")
    delivery_poll_s: float = Field(1.0, gt=0, le=60, description="how often the delivery worker looks for due "
                                   "deliveries when nothing woke it")
    delivery_retention_days: int = Field(30, ge=1, le=3650, description="how long the ledger remembers a "
                                         "finished delivery")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, v: str) -> str:
        for part in v.split(","):
            host, _, port = part.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {part!r}")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis:// URL, got {v!r}")
        return v

    @model_validator(mode="after")
    def _production_needs(self) -> Settings:
        if self.environment == "production":
            missing = [f"ITM_{name.upper()} ({why})" for name, why in PRODUCTION_REQUIRED.items()
                       if name not in self.model_fields_set or not getattr(self, name)]
            if missing:
                raise ValueError("ITM_ENVIRONMENT=production needs " + " and ".join(missing))
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def key(self, name: str) -> str:
        """A Redis key in this deployment's namespace."""
        return f"{self.topic_prefix}{name}"


# what production must set itself, rather than run on a dev default
PRODUCTION_REQUIRED = {
    "auth_jwks_url": "the OIDC provider's JWKS, to verify users' tokens",
    "public_base_url": "where people open ITM, for the links in notifications",
}


S = TypeVar("S", bound=Settings)


def load_settings(settings_class: type[S] | None = None, **overrides) -> S:
    """Read settings (``Settings`` or a service's subclass of it); on a bad value print what to fix and exit with status 2."""
    try:
        return (settings_class or Settings)(**overrides)
    except ValidationError as exc:
        lines = ["invalid ITM configuration:"]
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            if field:
                lines.append(f"  ITM_{field.upper()}: {err['msg']} (got {err.get('input')!r})")
            else:  # a rule across settings
                lines.append(f"  {err['msg'].removeprefix('Value error, ')}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
