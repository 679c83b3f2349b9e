"""The console's production sign-in (issue 11 item 1): OIDC authorization code flow with PKCE against
a small provider on loopback (tests/oidc_provider.py), over real HTTP; the person's token is what the
console then forwards to the services, which verify it with the provider's JWKS."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import aiohttp
import grpc
import pytest
from aiohttp import web

from itm.devstack import free_port
from itm.runtime.auth import verify_token
from oidc_provider import OIDCProvider, User, s256
from services.web import session as sessions
from itm.v1 import profile_pb2, profile_pb2_grpc
from services.web.app import make_app
from services.web.clients import ServiceChannels
from services.web.settings import WebSettings

SECRET = "a-production-session-secret-of-40-characters"


@pytest.fixture
async def provider():
    idp = OIDCProvider()
    await idp.start()
    yield idp
    await idp.stop()


@pytest.fixture
async def console(provider, monkeypatch):
    """The console's app in production mode on loopback, signing in with ``provider``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    provider.redirect_uris = [f"{base}/auth/callback"]
    monkeypatch.setenv("ITM_WEB_OIDC_ISSUER", provider.issuer)
    monkeypatch.setenv("ITM_WEB_OIDC_CLIENT_ID", provider.client_id)
    monkeypatch.setenv("ITM_WEB_OIDC_CLIENT_SECRET", provider.client_secret)
    settings = WebSettings(service="web", environment="production", auth_jwks_url=provider.jwks_url,
                           token_issuer=provider.issuer, public_base_url=base, web_session_secret=SECRET,
                           web_cookie_secure=False)  # plain http on loopback; production defaults to Secure
    runner = web.AppRunner(make_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield base, settings
    finally:
        await runner.cleanup()


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies on 127.0.0.1


def session_in(http: aiohttp.ClientSession, settings: WebSettings) -> sessions.Session:
    for cookie in http.cookie_jar:
        if cookie.key == settings.web_cookie_name:
            return sessions.decode(cookie.value, settings.web_session_secret)
    return sessions.Session()


async def test_sign_in_with_pkce_forwards_a_token_the_services_accept_and_logout_ends_both(
        console, provider, start_service):
    base, settings = console
    profile = start_service("profile", environment="production", auth_jwks_url=provider.jwks_url,
                            token_issuer=provider.issuer, public_base_url=base)
    hr = (("authorization", f"Bearer {provider.access_token(User('hr-1', 'hr_admin'))}"),)
    async with grpc.aio.insecure_channel(profile.grpc_target) as channel:
        await profile_pb2_grpc.ProfileServiceStub(channel).CreateEmployee(
            profile_pb2.CreateEmployeeRequest(employee_id="E-ana", name="Ana Lima"), metadata=hr)
    provider.user = User("E-ana", "employee", "Ana Lima")
    async with browser() as http:
        async with http.get(f"{base}/signin?next=/") as page:  # -> /auth/login -> provider -> callback -> /
            body = await page.text()
            assert page.status == 200, body
            assert urlsplit(str(page.url)).path == "/"
        assert "Ana Lima" in body

        asked = provider.authorize_requests[-1]
        assert asked["code_challenge_method"] == "S256" and asked["nonce"] and len(asked["state"]) >= 32
        assert "openid" in asked["scope"].split()
        exchanged = provider.token_requests[-1]
        assert s256(exchanged["code_verifier"]) == asked["code_challenge"], "the verifier matches the challenge"
        assert exchanged["authorization"].startswith("Basic ")  # a confidential client authenticates

        signed_in = session_in(http, settings)
        assert (signed_in.subject, signed_in.role, signed_in.name) == ("E-ana", "employee", "Ana Lima")
        assert PENDING_GONE(signed_in)
        ident = verify_token(settings, signed_in.token)  # what every service will check, JWKS and all
        assert (ident.subject, ident.role) == ("E-ana", "employee")
        # the console's client wrapper forwards that token: the profile service (production, the
        # provider's JWKS) answers the person, and refuses them another person's record
        channels = ServiceChannels(settings.model_copy(update={"profile_target": profile.grpc_target}))
        try:
            me = await channels.for_session(signed_in).profile.GetEmployee(
                profile_pb2.GetEmployeeRequest(employee_id="E-ana"))
            assert me.name == "Ana Lima"
            with pytest.raises(grpc.aio.AioRpcError) as other:
                await channels.for_session(signed_in).profile.GetEmployee(
                    profile_pb2.GetEmployeeRequest(employee_id="E-someone-else"))
            assert other.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)
        finally:
            await channels.close()
        cookie = next(c for c in http.cookie_jar if c.key == settings.web_cookie_name)
        assert cookie["httponly"] and cookie["samesite"] == "Lax"

        # the provider's callback cannot be replayed: the sign-in it belonged to is used up
        callback = f"{base}/auth/callback?code=x&state={asked['state']}"
        async with http.get(callback, allow_redirects=False) as replay:
            assert replay.status == 400 and "Sign-in refused" in await replay.text()

        # a fresh sign-in to sign out of (the replay above ended nothing, but start clean)
        async with http.get(f"{base}/signin") as page:
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', await page.text()).group(1)
        async with http.post(f"{base}/signout", data={"_csrf": csrf}) as out:
            text = await out.text()
            assert out.status == 200 and urlsplit(str(out.url)).path == "/auth/signed-out", (out.url, text)
        assert "You are signed out" in text
        assert provider.logouts[-1]["client_id"] == provider.client_id
        assert provider.logouts[-1]["post_logout_redirect_uri"] == f"{base}/auth/signed-out"
        assert not session_in(http, settings).signed_in


def PENDING_GONE(session: sessions.Session) -> bool:
    return "oidc" not in session.extra


@pytest.mark.parametrize("tamper, why", [
    ("state", "state does not match"),
    ("nonce", "nonce"),
    ("sign_with_unknown_key", "signature"),
    ("audience", "aud"),
    ("expired", "expired"),
])
async def test_a_wrong_state_nonce_signature_audience_or_expiry_signs_nobody_in(console, provider, tamper, why):
    base, settings = console
    provider.tamper = {tamper}
    async with browser() as http:
        async with http.get(f"{base}/signin?next=/") as page:
            body = await page.text()
        assert page.status == 400, (page.status, body[:500])
        assert urlsplit(str(page.url)).path == "/auth/callback"
        message = re.search(r'id="error-message">([^<]*)<', body).group(1)
        assert "Sign-in refused" in message and why in message.lower(), message
        assert not session_in(http, settings).signed_in


async def test_a_token_the_services_would_refuse_signs_nobody_in(console, provider):
    """The provider's access token lacks ITM's role claim: the services would answer UNAUTHENTICATED
    to every call, so the console does not pretend the person is signed in."""
    base, settings = console
    provider.role_claim = "groups"
    async with browser() as http:
        async with http.get(f"{base}/signin") as page:
            body = await page.text()
        assert page.status == 400
        assert "would not accept" in body and "'role' claim" in body.replace("&#39;", "'"), body
        assert not session_in(http, settings).signed_in


async def test_the_provider_refusing_the_code_and_a_callback_without_a_started_sign_in(console, provider):
    base, settings = console
    async with browser() as http:
        # no sign-in started in this browser (a forged link to the callback)
        async with http.get(f"{base}/auth/callback?code=abc&state=xyz") as page:
            assert page.status == 400 and "not started here" in await page.text()
        # the provider says no at the authorize step
        async with http.get(f"{base}/auth/login", allow_redirects=False) as login:
            state = parse_qs(urlsplit(login.headers["Location"]).query)["state"][0]
        async with http.get(f"{base}/auth/callback?error=access_denied&error_description=user+cancelled"
                            f"&state={state}") as page:
            assert page.status == 400 and "user cancelled" in await page.text()
        # a dev sign-in is refused outside dev mode, whatever it is sent
        async with http.get(f"{base}/auth/signed-out") as page:
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', await page.text()).group(1)
        async with http.post(f"{base}/signin/dev", data={"_csrf": csrf, "person_id": "hr-1",
                                                         "role": "hr_admin"}) as dev:
            assert dev.status == 403
        assert not session_in(http, settings).signed_in
