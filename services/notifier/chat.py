"""The chat channels: Slack incoming webhooks and Microsoft Teams workflow webhooks.

``slack_payload`` / ``teams_payload`` are pure: what is POSTed for a notification.

* Slack (incoming webhook): ``{"text": ..., "blocks": [...]}`` -- ``text`` is the
  notification's words in Slack's mrkdwn (``&``, ``<``, ``>`` escaped) with a link
  ``<url|Open in ITM>``; the blocks show the same with a button.
* Teams (a Workflows "when a Teams webhook request is received" flow, which accepts
  Adaptive Cards only): ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard 1.4>}]}``.

``post`` sends one with an ``Idempotency-Key`` header (the same on every attempt
for one notification and channel, so a receiver can dedupe) and classifies the
answer: 2xx sent; 408, 425, 429 and 5xx, timeouts and connection errors transient
(a ``Retry-After`` is honoured as the least delay); any other 4xx permanent (the
webhook was deleted or refuses the payload: no retry can help).
"""

from __future__ import annotations

import asyncio

import aiohttp

from itm.v1 import notifier_pb2
from services.notifier.mail import Permanent, Transient

TRANSIENT_STATUS = {408, 425, 429}


class RetryAfter(Transient):
    def __init__(self, message: str, seconds: float):
        super().__init__(message)
        self.seconds = seconds


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(note: notifier_pb2.Notification, base_url: str) -> str:
    return note.opportunity_link or f"{base_url}/notifications"


def slack_text(note: notifier_pb2.Notification, base_url: str) -> str:
    body = note.body if note.kind != "digest" else f"{note.title}\n{note.body}"
    return f"{_slack_escape(body)}\n<{_link(note, base_url)}|Open in ITM>"


def slack_payload(note: notifier_pb2.Notification, base_url: str) -> dict:
    link = _link(note, base_url)
    body = note.body if note.kind != "digest" else f"*{_slack_escape(note.title)}*\n{_slack_escape(note.body)}"
    if note.kind != "digest":
        body = _slack_escape(body)
    return {
        "text": slack_text(note, base_url),
        "unfurl_links": False,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Open in ITM"}, "url": link}]},
        ],
    }


def teams_card(note: notifier_pb2.Notification, base_url: str) -> dict:
    body: list[dict] = [{"type": "TextBlock", "text": note.title, "weight": "Bolder", "size": "Medium", "wrap": True}]
    if note.kind == "digest":
        for line in note.body.split("\n"):
            body.append({"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"})
    else:
        body.append({"type": "TextBlock", "text": note.body, "wrap": True})
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Open in ITM", "url": _link(note, base_url)}],
    }


def teams_payload(note: notifier_pb2.Notification, base_url: str) -> dict:
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": teams_card(note, base_url)}]}


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, min(float(value), 3600.0))
    except ValueError:
        return None


async def post(session: aiohttp.ClientSession, url: str, payload: dict, idempotency_key: str,
               timeout_s: float) -> int:
    """POST ``payload``; returns the 2xx status. Raises Transient (maybe RetryAfter) or Permanent."""
    headers = {"Idempotency-Key": idempotency_key, "X-ITM-Delivery-Id": idempotency_key,
               "User-Agent": "ITM-notifier/0.1"}
    try:
        async with session.post(url, json=payload, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            text = (await resp.content.read(300)).decode(errors="replace")
            if 200 <= resp.status < 300:
                return resp.status
            what = f"HTTP {resp.status} {text.strip()[:200]}".strip()
            if resp.status in TRANSIENT_STATUS or resp.status >= 500:
                wait = _retry_after(resp.headers.get("Retry-After"))
                raise RetryAfter(what, wait) if wait is not None else Transient(what)
            raise Permanent(what)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise Transient(f"{type(exc).__name__}: {exc}"[:300]) from None
