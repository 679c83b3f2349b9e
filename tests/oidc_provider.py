"""A small OpenID Connect provider on loopback for the console's sign-in tests.

Real HTTP, real RS256 keys (cryptography), the endpoints a relying party uses:
discovery, JWKS, authorize (signs in ``provider.user`` at once: no login form),
token (authorization code with PKCE S256, client_secret_basic when the client has
a secret), end_session. It checks what a provider checks (client id, redirect
URI, code used once, the verifier against the challenge) and records what it saw.

Misbehaviour on demand, for refusal tests (``provider.tamper``):
``state`` (redirect back with another state), ``nonce`` (ID token with another
nonce), ``sign_with_unknown_key`` (ID token signed by a key not in the JWKS, same
kid), ``audience`` (ID token for another client), ``expired`` (ID token expired).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from itm.devstack import free_port


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


@dataclass
class User:
    sub: str
    role: str = "employee"
    name: str = ""


@dataclass
class OIDCProvider:
    client_id: str = "itm-web"
    client_secret: str = "s3cret-of-the-console"
    redirect_uris: list[str] = field(default_factory=list)
    api_audience: str = "itm"  # the access token's audience: what the services expect (ITM_TOKEN_AUDIENCE)
    role_claim: str = "role"
    user: User = field(default_factory=lambda: User("E1", "employee", "Ana Lima"))
    tamper: set[str] = field(default_factory=set)
    port: int = field(default_factory=free_port)
    kid: str = "k1"

    def __post_init__(self):
        self.key = rsa_key()
        self.codes: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.logouts: list[dict] = []
        self.runner: web.AppRunner | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def _sign(self, claims: dict, key=None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def access_token(self, user: User | None = None, ttl: int = 600) -> str:
        user = user or self.user
        now = int(time.time())
        return self._sign({"iss": self.issuer, "sub": user.sub, "aud": self.api_audience, "iat": now,
                           "exp": now + ttl, self.role_claim: user.role, "scope": "openid profile"})

    # ------------------------------------------------------------------ endpoints

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": self.jwks_url,
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        })

    async def jwks(self, request: web.Request) -> web.Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return web.json_response({"keys": [jwk]})

    async def authorize(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.authorize_requests.append(q)
        if q.get("client_id") != self.client_id:
            return web.Response(status=400, text="unknown client")
        if q.get("redirect_uri") not in self.redirect_uris:
            return web.Response(status=400, text=f"redirect_uri {q.get('redirect_uri')} is not registered")
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.Response(status=400, text="code flow with PKCE S256 only")
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"user": self.user, "nonce": q.get("nonce", ""), "challenge": q["code_challenge"],
                            "redirect_uri": q["redirect_uri"]}
        state = "not-the-state-you-sent" if "state" in self.tamper else q.get("state", "")
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': state})}")

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({**form, "authorization": request.headers.get("Authorization", "")})
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if self.client_secret and request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.codes.pop(form.get("code", ""), None)  # a code is used once
        if form.get("grant_type") != "authorization_code" or grant is None:
            return web.json_response({"error": "invalid_grant", "error_description": "unknown or used code"},
                                     status=400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return web.json_response({"error": "invalid_grant", "error_description": "redirect_uri differs"},
                                     status=400)
        if s256(form.get("code_verifier", "")) != grant["challenge"]:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE verifier mismatch"},
                                     status=400)
        user: User = grant["user"]
        access = self.access_token(user)
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user.sub, "aud": self.client_id, "iat": now, "exp": now + 600,
                  "nonce": grant["nonce"], "name": user.name, "at_hash": at_hash(access)}
        if "nonce" in self.tamper:
            claims["nonce"] = "a-nonce-from-another-sign-in"
        if "audience" in self.tamper:
            claims["aud"] = "another-client"
        if "expired" in self.tamper:
            claims.update(iat=now - 7200, exp=now - 3600)
        key = rsa_key() if "sign_with_unknown_key" in self.tamper else None
        return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": 600,
                                  "id_token": self._sign(claims, key), "scope": "openid profile"})

    async def logout(self, request: web.Request) -> web.Response:
        self.logouts.append(dict(request.query))
        target = request.query.get("post_logout_redirect_uri")
        if target:
            raise web.HTTPFound(target)
        return web.Response(text="signed out at the provider")

    async def start(self) -> OIDCProvider:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/jwks", self.jwks)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/logout", self.logout)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
