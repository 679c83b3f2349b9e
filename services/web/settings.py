"""The console's settings: the shared ``ITM_*`` settings plus the services it calls and ``ITM_WEB_*``."""

from __future__ import annotations

from pydantic import Field, model_validator

from itm.runtime.settings import Settings, load_settings

DEV_SESSION_SECRET = "itm-dev-web-session-secret-change-me-0123456789"


class WebSettings(Settings):
    # where the console reaches the services (profile_target, matcher_target: shared settings)
    opportunity_target: str = Field("127.0.0.1:50052", description="host:port of the opportunity service's gRPC")
    learning_target: str = Field("127.0.0.1:50053", description="host:port of the learning service's gRPC")
    notifier_target: str = Field("127.0.0.1:50055", description="host:port of the notifier's gRPC (live pushes)")

    web_session_secret: str = Field(
        DEV_SESSION_SECRET, min_length=32, description="signs the console's session cookie; production must set "
                                                       "its own (and the same one on every console replica)")
    web_session_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 86400, description="a sign-in lasts this long")
    web_cookie_secure: bool | None = Field(
        None, description="Secure flag on the session cookie (default: on in production, off in dev over http)")
    web_cookie_name: str = Field("itm_session", pattern=r"^[A-Za-z0-9_\-]+$")
    web_call_timeout_s: float = Field(10.0, gt=0, le=120, description="deadline of each gRPC call a page makes")

    @property
    def dev_mode(self) -> bool:
        """The dev sign-in page (pick a demo person) exists only here."""
        return self.environment == "dev"

    @property
    def secure_cookie(self) -> bool:
        return self.environment == "production" if self.web_cookie_secure is None else self.web_cookie_secure

    @property
    def targets(self) -> dict[str, str]:
        """Service name -> gRPC target (taxonomy is served by the profile process)."""
        return {"profile": self.profile_target, "opportunity": self.opportunity_target,
                "learning": self.learning_target, "matcher": self.matcher_target, "notifier": self.notifier_target}

    @model_validator(mode="after")
    def _production_secret(self) -> WebSettings:
        if self.environment == "production" and self.web_session_secret == DEV_SESSION_SECRET:
            raise ValueError("ITM_ENVIRONMENT=production needs ITM_WEB_SESSION_SECRET (signs the console's "
                             "session cookie; at least 32 characters)")
        return self


def load_web_settings(**overrides) -> WebSettings:
    """Read settings; on a bad value print what to fix and exit with status 2 (as ``load_settings``)."""
    return load_settings(WebSettings, **overrides)
