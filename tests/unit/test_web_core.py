"""The web console's pure parts: the session cookie codec, settings, API errors next to fields,
safe redirects after sign-in, and that every link the notifier writes is a console route."""

from __future__ import annotations

import time

import grpc
import pytest

from itm.v1 import events_pb2
from services.notifier import render as notifier_render
from services.web import links
from services.web.app import make_app
from services.web.devauth import safe_next
from services.web.render import field_errors
from services.web.session import Session, decode, encode
from services.web.settings import WebSettings

SECRET = "s" * 40


def test_session_round_trip_and_tampering():
    s = Session(subject="E1", role="employee", name="Ana", expires_at=int(time.time()) + 60, extra={"k": "v"})
    value = encode(s, SECRET)
    back = decode(value, SECRET)
    assert back == s and back.signed_in
    payload, _, mac = value.partition(".")
    assert decode(payload + "x." + mac, SECRET) is None
    assert decode(value, "t" * 40) is None
    assert decode("garbage", SECRET) is None and decode("", SECRET) is None
    assert not Session(subject="E1", expires_at=int(time.time()) - 1).signed_in


def test_settings_cookie_security_and_production_secret():
    assert not WebSettings().secure_cookie and WebSettings().dev_mode
    prod = dict(environment="production", auth_jwks_url="https://idp/jwks", public_base_url="https://itm")
    with pytest.raises(ValueError, match="ITM_WEB_SESSION_SECRET"):
        WebSettings(**prod)
    s = WebSettings(**prod, web_session_secret="x" * 32)
    assert s.secure_cookie and not s.dev_mode


class _Err(grpc.aio.AioRpcError):
    def __init__(self, code, details):
        super().__init__(code, None, None, details)


def test_field_errors_names_the_field_the_message_is_about():
    err = _Err(grpc.StatusCode.INVALID_ARGUMENT, "requirements[2].weight must be > 0")
    assert field_errors(err, {"requirements": "reqs"}) == {"reqs": "requirements[2].weight must be > 0"}
    err = _Err(grpc.StatusCode.INVALID_ARGUMENT, "unknown skill 'pyhton'; did you mean python?")
    assert field_errors(err, ["skill", "level"]) == {"skill": "unknown skill 'pyhton'; did you mean python?"}
    err = _Err(grpc.StatusCode.FAILED_PRECONDITION, "the opportunity is closed")
    assert field_errors(err, ["skill"]) == {"_form": "the opportunity is closed"}


@pytest.mark.parametrize("target,expected", [("/matches", "/matches"), ("//evil.example", "/"),
                                             ("https://evil.example", "/"), ("/\\evil", "/"), ("", "/")])
def test_only_local_paths_are_followed_after_sign_in(target, expected):
    assert safe_next(target) == expected


def test_every_link_in_a_notification_is_a_console_route():
    from aiohttp.test_utils import make_mocked_request

    app = make_app(WebSettings())
    base = "http://localhost:18080"
    crossing = events_pb2.ThresholdCrossed(employee_id="E1", opportunity_id="O1", score_percent=80,
                                           threshold_percent=80)
    crossing.explanation.learning_path.add(course_id="sql-for-analysts", title="SQL", hours=6)
    note = notifier_render.render_crossing(crossing, base, lambda s: s)
    urls = [note.opportunity_link, *note.course_links]
    assert urls and all(u.startswith(base + "/") for u in urls)
    for url in urls:
        path = url[len(base):]
        match = app.router.resolve
        import asyncio

        info = asyncio.run(match(make_mocked_request("GET", path, app=app)))
        assert info.http_exception is None, f"{path}: no console page ({info.http_exception})"
    assert links.opportunity("O1") == "/opportunities/O1" and links.course("c") == "/courses/c"
