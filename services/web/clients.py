"""gRPC clients for the pages: every call goes out with the signed-in person's identity.

One channel per service for the whole process (``ServiceChannels``); per request,
``api(request)`` gives stubs that add the person's bearer token and a deadline
(``ITM_WEB_CALL_TIMEOUT_S``) to every call:

    api = clients.api(request)
    emp = await api.profile.GetEmployee(profile_pb2.GetEmployeeRequest(employee_id=me))
    stream = api.notifier.Subscribe(req, timeout=None)   # streams: no deadline

The token: the one the sign-in put in the session (production: the person's OIDC
token, forwarded as is, see oidc.py); in dev, when the session has none, one is
minted per request with the shared secret for the session's subject and role
(as ``itm token`` does). The console never reads another service's Redis.
"""

from __future__ import annotations

import grpc
from aiohttp import web

from itm.client import HOSTED, STUBS
from itm.runtime.auth import bearer, mint_token
from services.web.keys import CHANNELS
from services.web.session import NotSignedIn, Session, session_of
from services.web.settings import WebSettings

MINTED_TTL_S = 300


class _Stub:
    def __init__(self, stub, metadata: tuple, timeout: float):
        self._stub, self._metadata, self._timeout = stub, metadata, timeout

    def __getattr__(self, method: str):
        rpc = getattr(self._stub, method)

        def call(request, **kwargs):
            kwargs.setdefault("metadata", self._metadata)
            kwargs.setdefault("timeout", self._timeout)
            return rpc(request, **kwargs)

        call.__name__ = method
        return call


class Api:
    """Stubs by service name (``profile``, ``opportunity``, ``learning``, ``matcher``, ``notifier``,
    ``taxonomy``) for one identity."""

    def __init__(self, channels: ServiceChannels, metadata: tuple):
        self._channels, self.metadata = channels, metadata

    def stub(self, name: str) -> _Stub:
        return _Stub(self._channels.raw_stub(name), self.metadata, self._channels.settings.web_call_timeout_s)

    profile = property(lambda self: self.stub("profile"))
    opportunity = property(lambda self: self.stub("opportunity"))
    learning = property(lambda self: self.stub("learning"))
    matcher = property(lambda self: self.stub("matcher"))
    notifier = property(lambda self: self.stub("notifier"))
    taxonomy = property(lambda self: self.stub("taxonomy"))


class ServiceChannels:
    def __init__(self, settings: WebSettings):
        self.settings = settings
        self.channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, name: str) -> grpc.aio.Channel:
        if name not in self.channels:
            self.channels[name] = grpc.aio.insecure_channel(self.settings.targets[name], options=[
                ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)])
        return self.channels[name]

    def raw_stub(self, name: str):
        if name in HOSTED:
            stub, host = HOSTED[name]
            return stub(self.channel(host))
        return STUBS[name](self.channel(name))

    def token_for(self, session: Session) -> str:
        if not session.signed_in:
            raise NotSignedIn()
        if session.token:
            return session.token
        if not self.settings.dev_mode:  # production sessions always carry the provider's token
            raise NotSignedIn()
        return mint_token(self.settings, session.subject, session.role, MINTED_TTL_S)

    def for_session(self, session: Session) -> Api:
        return Api(self, bearer(self.token_for(session)))

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        self.channels.clear()


def api(request: web.Request) -> Api:
    """Stubs acting as the person signed in to this request (NotSignedIn if nobody is)."""
    return request.app[CHANNELS].for_session(session_of(request))


# skill id -> display name, from TaxonomyService.GetSkill (ids are stable; renames show within the TTL)
_NAMES: dict[str, tuple[float, str]] = {}
NAME_TTL_S = 600.0
MAX_NAMES = 50_000


async def skill_names(request: web.Request, skill_ids) -> dict[str, str]:
    """Display names for skill ids (the id itself when the taxonomy does not answer)."""
    import asyncio
    import time

    from itm.v1 import taxonomy_pb2

    now = time.monotonic()
    wanted = {s for s in skill_ids if s}
    missing = [s for s in wanted if s not in _NAMES or _NAMES[s][0] < now]
    if missing:
        stub = api(request).taxonomy

        async def one(skill_id: str):
            try:
                skill = await stub.GetSkill(taxonomy_pb2.GetSkillRequest(skill=skill_id), timeout=3)
                return skill_id, skill.name or skill_id
            except grpc.aio.AioRpcError:
                return skill_id, None

        if len(_NAMES) > MAX_NAMES:
            _NAMES.clear()
        for skill_id, name in await asyncio.gather(*(one(s) for s in missing[:200])):
            if name is not None:
                _NAMES[skill_id] = (now + NAME_TTL_S, name)
    return {s: (_NAMES[s][1] if s in _NAMES else s.replace("-", " ")) for s in wanted}


def service_api(request: web.Request) -> Api:
    """Dev mode only: stubs acting as the console's own service identity on behalf of the signed-in person
    (what a learning platform does when it records a completion). Refused outside dev mode."""
    channels = request.app[CHANNELS]
    session = session_of(request)
    if not channels.settings.dev_mode:
        raise web.HTTPForbidden(reason="only the learning platform records completions outside dev mode")
    if not session.signed_in:
        raise NotSignedIn()
    token = mint_token(channels.settings, channels.settings.service, "service", MINTED_TTL_S,
                       on_behalf_of=session.subject)
    return Api(channels, bearer(token))
