"""Identity on every call: bearer JWTs, verified in one gRPC interceptor.

Two ways to verify, chosen by settings:

* production: people's tokens come from an OIDC provider and are verified with
  its JWKS (``ITM_AUTH_JWKS_URL``) — RS256/ES256, keys fetched and cached
  (``ITM_AUTH_JWKS_CACHE_S``); a token signed with a key id the cache does not
  know triggers one refetch (at most once per
  ``ITM_AUTH_JWKS_REFRESH_COOLDOWN_S``, so forged key ids cannot flood the
  provider), so rotated keys are accepted once the provider publishes them.
  Services still call each other with HS256 tokens signed with the shared
  ``ITM_TOKEN_SECRET``, accepted only when their role is ``service`` (their
  ``act`` claim, on whose behalf, kept): a person can never present an HS256
  token in production;
* the embedded stack: HS256 tokens signed with ``ITM_TOKEN_SECRET`` for
  everyone (``itm token`` mints them; services mint their own service identity).

Either way signature, expiry, audience and issuer are checked. Roles:
employee, manager, hr_admin, service. Authorisation rules live with each
service; the helpers here state the common ones.
"""

from __future__ import annotations

import contextvars
import functools
import time
from dataclasses import dataclass

import grpc
import jwt

from itm.runtime.settings import Settings

ROLES = ("employee", "manager", "hr_admin", "service")
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str
    role: str
    on_behalf_of: str = ""  # a service acting for a person (the token's `act` claim)

    @property
    def privileged(self) -> bool:
        return self.role in ("hr_admin", "service")


ANONYMOUS = Identity("anonymous", "none")
current_identity: contextvars.ContextVar[Identity] = contextvars.ContextVar("current_identity", default=ANONYMOUS)


class AuthError(Exception):
    pass


def mint_token(settings: Settings, subject: str, role: str, ttl_s: int = 3600, on_behalf_of: str = "") -> str:
    """An HS256 token signed with the shared secret: anyone's in the embedded stack, a service's own
    everywhere (in production people's tokens come from the OIDC provider, see ``verify_token``)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    now = int(time.time())
    claims = {
        "sub": subject,
        settings.auth_role_claim: role,
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    if on_behalf_of:
        claims["act"] = {"sub": on_behalf_of}
    return jwt.encode(claims, settings.token_secret, algorithm="HS256")


@functools.cache
def _jwks_client(url: str, lifespan: int, cooldown_s: float) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=max(1, lifespan), timeout=5,
                           cooldown_duration=cooldown_s)


SHARED_SECRET_ALGORITHM = "HS256"


def _key_and_algorithms(settings: Settings, token: str):
    if not settings.auth_jwks_url or _algorithm(token) == SHARED_SECRET_ALGORITHM:
        return settings.token_secret, [SHARED_SECRET_ALGORITHM]
    try:
        client = _jwks_client(settings.auth_jwks_url, settings.auth_jwks_cache_s, settings.auth_jwks_refresh_cooldown_s)
        key = client.get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise AuthError(f"cannot fetch signing keys from the identity provider: {exc}") from None
    except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
        raise AuthError(f"invalid token: {exc}") from None
    return key.key, list(settings.auth_algorithms)


def _algorithm(token: str) -> str:
    try:
        return str(jwt.get_unverified_header(token).get("alg", ""))
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None


def verify_token(settings: Settings, token: str) -> Identity:
    """Verify a bearer token (blocking only when JWKS keys must be fetched)."""
    key, algorithms = _key_and_algorithms(settings, token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired; get a new one") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    role = claims.get(settings.auth_role_claim)
    if role not in ROLES:
        raise AuthError(f"token has no valid {settings.auth_role_claim!r} claim (one of {', '.join(ROLES)})")
    if settings.auth_jwks_url and algorithms == [SHARED_SECRET_ALGORITHM] and role != "service":
        # the shared secret signs service-to-service calls only; people sign in with the identity provider
        raise AuthError("tokens signed with the shared secret are accepted for the service role only; "
                        "people present their identity provider's token")
    act = claims.get("act") or {}
    return Identity(str(claims["sub"]), role, str(act.get("sub", "")) if isinstance(act, dict) else "")


def bearer_token(metadata) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise AuthError("authorization metadata must be 'Bearer <token>'")
            return token
    raise AuthError("missing bearer token: send 'authorization: Bearer <token>' metadata (see `itm token`)")


def identity_from_metadata(settings: Settings, metadata) -> Identity:
    return verify_token(settings, bearer_token(metadata))


def bearer(token: str) -> tuple[tuple[str, str]]:
    """Call metadata for a token, for clients."""
    return (("authorization", f"Bearer {token}"),)


def service_token(settings: Settings, ttl_s: int = 3600) -> str:
    """This service's own identity for calls to other services (embedded stack)."""
    return mint_token(settings, settings.service, "service", ttl_s)


async def require_self_or_privileged(context: grpc.aio.ServicerContext, employee_id: str) -> Identity:
    ident = current_identity.get()
    if ident.privileged or ident.subject == employee_id:
        return ident
    await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{ident.role} {ident.subject} may not act for {employee_id}")
    raise AssertionError("unreachable")


class RateLimiter:
    """Token bucket per identity, in this process (each replica limits on its own)."""

    def __init__(self, rate_per_s: float, burst: int, max_identities: int = 100_000):
        self.rate = rate_per_s
        self.burst = burst
        self.max_identities = max_identities
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float | None = None) -> float:
        """0 if allowed, else seconds until the next call would be."""
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            if len(self.buckets) >= self.max_identities and key not in self.buckets:
                self.buckets.clear()  # bounded memory; a reset only ever lets calls through
            self.buckets[key] = (tokens - 1, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate
