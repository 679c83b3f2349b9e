"""Production sign-in: OpenID Connect authorization code flow with PKCE (Authlib), and logout.

Enabled when ``ITM_WEB_OIDC_ISSUER`` is set (the provider's issuer URL; its
``/.well-known/openid-configuration`` is read once and cached). Then ``/signin``
(outside dev mode) sends the browser here:

* ``GET /auth/login?next=/path``: a fresh ``state``, ``nonce`` and PKCE
  ``code_verifier`` (S256 challenge) go into the signed session cookie (not yet
  signed in) and the browser goes to the provider's authorization endpoint;
* ``GET /auth/callback?code=..&state=..``: the state must be the session's
  (constant-time compare; used once, at most ``ITM_WEB_OIDC_FLOW_TTL_S`` old); the
  code is exchanged at the token endpoint with the verifier (and the client
  secret when one is configured: ``client_secret_basic``); the ID token is
  verified against the provider's JWKS: signature (asymmetric algorithms the
  provider advertises, never ``none`` or HS*), ``iss`` (the configured issuer),
  ``aud`` (the client id), ``azp``, ``exp``/``iat``, ``nonce`` and ``at_hash``;
  a key id the cached key set lacks refetches it once;
* the token the services get (``ITM_WEB_OIDC_FORWARD_TOKEN``: the access token by
  default, or the ID token) is then verified exactly as the services verify it
  (``itm.runtime.auth.verify_token``: JWKS, ``ITM_TOKEN_ISSUER``,
  ``ITM_TOKEN_AUDIENCE``, the role claim), so the console signs in only people
  whose token the services accept, with the role they will see; its subject
  must be the ID token's. The session keeps that token and forwards it on every
  gRPC call (``clients.py``); the session ends when the token expires;
* ``POST /signout`` (CSRF-checked, in devauth.py) ends the session and, when the
  provider publishes an ``end_session_endpoint``, sends the browser there
  (RP-initiated logout) with ``post_logout_redirect_uri`` = ``/auth/signed-out``.

Anything refused (wrong state, nonce, signature, issuer, audience, an expired
token, the provider's own error) is a 400 page saying why, and nobody is signed in.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any, Literal
from urllib.parse import quote_plus

import aiohttp
from aiohttp import web
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt as jose_jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from itm.runtime.auth import AuthError, verify_token
from services.web import session as sessions
from services.web.devauth import safe_next
from services.web.keys import SETTINGS, SIGNIN_URL, SIGNOUT_HOOKS
from services.web.render import render
from services.web.session import session_of

log = logging.getLogger(__name__)

PENDING = "oidc"  # key in the session's extra while the browser is at the provider
# asymmetric only: a provider's JWKS never holds a shared secret and "none" is no signature
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LOGIN_PATH, CALLBACK_PATH, SIGNED_OUT_PATH = "/auth/login", "/auth/callback", "/auth/signed-out"


class OidcSettings(BaseSettings):
    """``ITM_WEB_OIDC_*``: the console as an OIDC relying party."""

    model_config = SettingsConfigDict(env_prefix="ITM_WEB_OIDC_", extra="ignore")

    issuer: str = Field("", description="the provider's issuer URL; empty = no OIDC sign-in")
    client_id: str = Field("itm-web", description="the console's client id at the provider")
    client_secret: str = Field("", description="confidential client (client_secret_basic); empty = public client "
                                               "(PKCE alone)")
    scopes: str = Field("openid profile email", description="requested scopes (openid is always added)")
    redirect_url: str = Field("", description="the callback the provider redirects to; default "
                                              "ITM_PUBLIC_BASE_URL + /auth/callback")
    forward_token: Literal["access_token", "id_token"] = Field(
        "access_token", description="which token the console forwards to the services (they verify it with "
                                    "ITM_AUTH_JWKS_URL, ITM_TOKEN_ISSUER, ITM_TOKEN_AUDIENCE)")
    flow_ttl_s: int = Field(600, ge=30, le=3600, description="how long a started sign-in may take at the provider")
    leeway_s: int = Field(60, ge=0, le=600, description="clock skew allowed on exp/iat")
    http_timeout_s: float = Field(10.0, gt=0, le=60)
    jwks_refresh_cooldown_s: float = Field(30.0, ge=0, description="an unknown key id refetches the key set at "
                                                                   "most this often")


class SignInRefused(web.HTTPBadRequest):
    """A callback that does not prove who signed in (rendered as the 400 page with the reason)."""

    def __init__(self, why: str):
        super().__init__(reason=f"Sign-in refused: {why}")


class OidcClient:
    """The relying party: discovery, the authorization URL, the code exchange, ID token checks."""

    def __init__(self, oidc: OidcSettings, public_base_url: str):
        self.oidc = oidc
        self.issuer = oidc.issuer.rstrip("/")
        base = public_base_url.rstrip("/")
        self.redirect_url = oidc.redirect_url or f"{base}{CALLBACK_PATH}"
        self.post_logout_url = f"{base}{SIGNED_OUT_PATH}"
        self.metadata: dict[str, Any] | None = None
        self.jwks: KeySet | None = None
        self._jwks_fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._http: aiohttp.ClientSession | None = None

    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.oidc.http_timeout_s))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _get_json(self, url: str) -> dict:
        try:
            async with self.http().get(url, headers={"Accept": "application/json"}) as resp:
                if resp.status != 200:
                    raise web.HTTPBadGateway(reason=f"the identity provider answered {resp.status} for {url}")
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise web.HTTPBadGateway(reason=f"the identity provider is not answering ({url}): {exc}") from None

    async def discover(self) -> dict[str, Any]:
        async with self._lock:
            if self.metadata is None:
                meta = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
                if str(meta.get("issuer", "")).rstrip("/") != self.issuer:
                    raise web.HTTPBadGateway(reason=f"the provider's discovery document names issuer "
                                                    f"{meta.get('issuer')!r}, not {self.issuer!r}")
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not meta.get(key):
                        raise web.HTTPBadGateway(reason=f"the provider's discovery document has no {key}")
                self.metadata = meta
            return self.metadata

    async def key_set(self, force: bool = False) -> KeySet:
        meta = await self.discover()
        now = time.monotonic()
        if self.jwks is None or (force and now - self._jwks_fetched_at >= self.oidc.jwks_refresh_cooldown_s):
            data = await self._get_json(meta["jwks_uri"])
            try:
                self.jwks = KeySet.import_key_set(data)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise web.HTTPBadGateway(reason=f"the provider's key set is not a JWKS: {exc}") from None
            self._jwks_fetched_at = now
        return self.jwks

    def algorithms(self) -> list[str]:
        offered = (self.metadata or {}).get("id_token_signing_alg_values_supported") or ["RS256"]
        return [a for a in offered if a in ALLOWED_ALGORITHMS] or ["RS256"]

    async def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        meta = await self.discover()
        scopes = self.oidc.scopes.split()
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        return prepare_grant_uri(meta["authorization_endpoint"], self.oidc.client_id, "code",
                                 redirect_uri=self.redirect_url, scope=scopes, state=state, nonce=nonce,
                                 code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")

    async def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        meta = await self.discover()
        body = prepare_token_request("authorization_code", code=code, redirect_uri=self.redirect_url,
                                     code_verifier=verifier, client_id=self.oidc.client_id)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self.oidc.client_secret:  # client_secret_basic: both form-encoded first (RFC 6749 2.3.1)
            headers["Authorization"] = aiohttp.encode_basic_auth(quote_plus(self.oidc.client_id),
                                                                 quote_plus(self.oidc.client_secret))
        try:
            async with self.http().post(meta["token_endpoint"], data=body, headers=headers) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise web.HTTPBadGateway(reason=f"the identity provider's token endpoint failed: {exc}") from None
        if status != 200 or not isinstance(data, dict) or "error" in data:
            what = data.get("error_description") or data.get("error") if isinstance(data, dict) else ""
            raise SignInRefused(f"the provider did not issue tokens ({status}: {what or 'no reason given'})")
        if not data.get("id_token"):
            raise SignInRefused("the provider's answer has no ID token (is the openid scope allowed?)")
        return data

    async def verify_id_token(self, id_token: str, nonce: str, access_token: str = "") -> dict[str, Any]:
        """The ID token's claims once signature, iss, aud, azp, exp, iat, nonce and at_hash hold."""
        registry = JWSRegistry(algorithms=self.algorithms())
        keys = await self.key_set()
        try:
            try:
                token = jose_jwt.decode(id_token, keys, registry=registry)
            except InvalidKeyIdError:  # the provider rotated its keys: refetch once
                token = jose_jwt.decode(id_token, await self.key_set(force=True), registry=registry)
            params = {"nonce": nonce, "client_id": self.oidc.client_id}
            if access_token:
                params["access_token"] = access_token
            claims = CodeIDToken(token.claims, token.header, {
                "iss": {"essential": True, "value": self.issuer},
                "aud": {"essential": True, "value": self.oidc.client_id},
                "nonce": {"essential": True},
            }, params)
            claims.validate(leeway=self.oidc.leeway_s)
        except JoseError as exc:
            raise SignInRefused(f"the ID token is not valid: {exc.description or exc.error.replace('_', ' ')}") \
                from None
        except ValueError as exc:  # malformed compact serialisation
            raise SignInRefused(f"the ID token is not valid: {exc}") from None
        return dict(claims)

    async def end_session_url(self) -> str | None:
        try:
            meta = await self.discover()
        except web.HTTPException:
            return None  # the provider is down: end the console's session anyway
        endpoint = meta.get("end_session_endpoint")
        if not endpoint:
            return None
        return add_params_to_uri(endpoint, [("client_id", self.oidc.client_id),
                                            ("post_logout_redirect_uri", self.post_logout_url)])


CLIENT = web.AppKey("oidc_client", OidcClient)


async def login(request: web.Request) -> web.StreamResponse:
    client = request.app[CLIENT]
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = await client.authorization_url(state, nonce, verifier)
    session = session_of(request)
    session.extra[PENDING] = {"state": state, "nonce": nonce, "verifier": verifier, "at": int(time.time()),
                              "next": safe_next(request.query.get("next", "/"))}
    sessions.mark_dirty(request)
    raise web.HTTPFound(url)


async def callback(request: web.Request) -> web.StreamResponse:
    client, settings = request.app[CLIENT], request.app[SETTINGS]
    session = session_of(request)
    pending = session.extra.pop(PENDING, None)  # one use, whatever happens next
    sessions.mark_dirty(request)
    query = request.query
    if not isinstance(pending, dict):
        raise SignInRefused("this sign-in was not started here or was already used; sign in again")
    if int(time.time()) - int(pending.get("at", 0)) > client.oidc.flow_ttl_s:
        raise SignInRefused("the sign-in took too long; sign in again")
    if not hmac.compare_digest(str(query.get("state", "")), str(pending.get("state", ""))):
        raise SignInRefused("the state does not match the sign-in this browser started")
    if query.get("error"):
        raise SignInRefused(f"the identity provider said {query.get('error_description') or query['error']}")
    if not query.get("code"):
        raise SignInRefused("the provider sent no authorization code")
    tokens = await client.exchange(query["code"], pending["verifier"])
    id_claims = await client.verify_id_token(tokens["id_token"], pending["nonce"], tokens.get("access_token", ""))
    forwarded = tokens.get(client.oidc.forward_token) or ""
    if not forwarded:
        raise SignInRefused(f"the provider issued no {client.oidc.forward_token} to forward to the services")
    verifying = settings
    if not settings.auth_jwks_url:  # verify as a service configured with the provider's JWKS would
        verifying = settings.model_copy(update={"auth_jwks_url": client.metadata["jwks_uri"]})
    try:
        ident = await asyncio.to_thread(verify_token, verifying, forwarded)
    except AuthError as exc:
        raise SignInRefused(f"ITM's services would not accept the provider's {client.oidc.forward_token}: {exc}") \
            from None
    if ident.subject != str(id_claims.get("sub")):
        raise SignInRefused(f"the {client.oidc.forward_token} is for {ident.subject!r}, the ID token for "
                            f"{id_claims.get('sub')!r}")
    if ident.role == "service":
        raise SignInRefused("a service identity cannot sign in to the console")
    exp = _unverified_exp(forwarded) or int(id_claims.get("exp", 0))
    ttl = max(1, exp - int(time.time())) if exp else None
    name = str(id_claims.get("name") or id_claims.get("preferred_username") or ident.subject)
    sessions.sign_in(request, ident.subject, ident.role, name=name, token=forwarded, ttl_s=ttl)
    log.info("signed in", extra={"subject": ident.subject, "role": ident.role})
    raise web.HTTPSeeOther(safe_next(str(pending.get("next", "/"))))


def _unverified_exp(token: str) -> int:
    import jwt  # verified already by verify_token; only its expiry is read here

    try:
        return int(jwt.decode(token, options={"verify_signature": False}).get("exp", 0))
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return 0


async def signed_out(request: web.Request) -> web.StreamResponse:
    return render(request, "signed_out.html", {"title": "Signed out"})


def routes(app: web.Application) -> None:
    settings = app[SETTINGS]
    oidc = OidcSettings()
    if not oidc.issuer:
        return
    client = OidcClient(oidc, settings.public_base_url)
    app[CLIENT] = client
    app[SIGNIN_URL] = LOGIN_PATH

    async def end_session(request: web.Request, session) -> str | None:
        return await client.end_session_url() if session.signed_in and session.token else None

    async def close(_app) -> None:
        await client.close()

    app[SIGNOUT_HOOKS].append(end_session)
    app.on_cleanup.append(close)
    app.router.add_get(LOGIN_PATH, login, name="oidc-login")
    app.router.add_get(CALLBACK_PATH, callback, name="oidc-callback")
    app.router.add_get(SIGNED_OUT_PATH, signed_out, name="oidc-signed-out")
