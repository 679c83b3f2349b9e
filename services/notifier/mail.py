"""The email channel: the message (pure) and its sending over SMTP (aiosmtplib).

``build`` makes a multipart/alternative message with a plain-text and an HTML
part, links into the web console (ITM_PUBLIC_BASE_URL), a Message-ID that is the
same for every attempt at one (notification, channel) -- receivers and mail
stores dedupe on it -- and RFC 8058 one-click unsubscribe headers::

    List-Unsubscribe: <https://notifier.example/v1/unsubscribe/TOKEN>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

``unsubscribe_token``/``read_unsubscribe_token`` sign and check the token (HMAC-SHA256
with a key derived from ITM_TOKEN_SECRET): it names the employee and the channel,
so a POST to the URL turns exactly that channel off, and nobody can forge one.

``send`` classifies failures: ``Permanent`` (5xx refusals: a retry cannot help)
or ``Transient`` (4xx, connection and timeout errors: retried with backoff).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from datetime import UTC, datetime

from itm.v1 import notifier_pb2


class Transient(Exception):
    """A failed send worth retrying."""


class Permanent(Exception):
    """A failed send no retry can fix (dead-letter it now)."""


# ---- tokens ------------------------------------------------------------------------------

def _key(secret: str) -> bytes:
    return hashlib.sha256(b"itm-unsubscribe|" + secret.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_token(secret: str, employee_id: str, channel: str) -> str:
    body = _b64(json.dumps({"e": employee_id, "c": channel}, separators=(",", ":")).encode())
    sig = _b64(hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()[:18])
    return f"{body}.{sig}"


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str] | None:
    """(employee id, channel) from a token this deployment signed; None for anything else."""
    body, _, sig = token.partition(".")
    if not body or not sig or len(token) > 1024:
        return None
    want = _b64(hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()[:18])
    if not hmac.compare_digest(want, sig):
        return None
    try:
        claims = json.loads(_unb64(body))
        return str(claims["e"]), str(claims["c"])
    except (ValueError, KeyError, TypeError):
        return None


# ---- the message ---------------------------------------------------------------------------

def message_id(delivery_key: str, from_address: str) -> str:
    """``<hex@domain>``, stable for one (notification, channel): every retry carries the same."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "itm.localhost"
    return f"<{delivery_key}@{domain}>"


def _links(note: notifier_pb2.Notification, base_url: str) -> list[tuple[str, str]]:
    """(label, url) pairs shown under the text, most useful first."""
    out: list[tuple[str, str]] = []
    if note.kind == "digest":
        for item in note.items:
            if item.opportunity_link:
                out.append((item.title, item.opportunity_link))
    elif note.opportunity_link:
        label = "See the opportunity" if note.kind == "match.threshold-crossed" else "Open in ITM"
        out.append((label, note.opportunity_link))
        for step, url in zip(note.match.explanation.learning_path, note.course_links):
            out.append((f"Course: {step.title}", url))
    if note.kind == "match.threshold-crossed":
        out.append(("All your matches", f"{base_url}/matches"))
    out.append(("Your notifications", f"{base_url}/notifications"))
    return out


def plain_text(note: notifier_pb2.Notification, base_url: str, unsubscribe_url: str) -> str:
    lines = [note.body, ""]
    for label, url in _links(note, base_url):
        lines.append(f"{label}: {url}")
    lines += ["", "You get this email because email is on in your ITM notification settings.",
              f"Stop these emails: {unsubscribe_url}", f"Settings: {base_url}/notifications"]
    return "\n".join(lines) + "\n"


def html_text(note: notifier_pb2.Notification, base_url: str, unsubscribe_url: str) -> str:
    e = html.escape
    paragraphs = "".join(f"<p>{e(line)}</p>" for line in note.body.split("\n") if line)
    links = "".join(f'<li><a href="{e(url)}">{e(label)}</a></li>' for label, url in _links(note, base_url))
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + e(note.title) + "</title></head>"
        "<body style=\"font-family:sans-serif;line-height:1.4\">"
        f"<h2>{e(note.title)}</h2>{paragraphs}<ul>{links}</ul>"
        "<hr><p style=\"color:#666;font-size:smaller\">You get this email because email is on in your ITM "
        f"notification settings. <a href=\"{e(unsubscribe_url)}\">Stop these emails</a> &middot; "
        f"<a href=\"{e(base_url)}/notifications\">Settings</a></p></body></html>\n")


def build(note: notifier_pb2.Notification, *, to: str, from_address: str, base_url: str,
          unsubscribe_url: str, delivery_key: str, now: float) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = from_address
    name, addr = parseaddr(to)
    msg["To"] = formataddr((name, addr))
    msg["Subject"] = note.title
    msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    msg["Message-ID"] = message_id(delivery_key, from_address)
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a robot
    msg["X-ITM-Notification-Kind"] = note.kind
    msg.set_content(plain_text(note, base_url, unsubscribe_url))
    msg.add_alternative(html_text(note, base_url, unsubscribe_url), subtype="html")
    return msg


# ---- sending -------------------------------------------------------------------------------

async def send(msg: EmailMessage, settings) -> str:
    """Hand ``msg`` to the configured SMTP server; returns its answer. Raises Transient or Permanent."""
    import aiosmtplib

    security = settings.smtp_security
    try:
        _, answer = await aiosmtplib.send(
            msg, hostname=settings.smtp_host, port=settings.smtp_port,
            use_tls=security == "tls", start_tls=True if security == "starttls" else False,
            username=settings.smtp_username or None, password=settings.smtp_password or None,
            timeout=settings.smtp_timeout_s)
        return answer
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        if all(c >= 500 for c in codes):
            raise Permanent(f"recipient refused: {'; '.join(f'{r.code} {r.message}' for r in exc.recipients)}"[:300]) from None
        raise Transient(f"recipient deferred: {codes}") from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise Transient(f"SMTP authentication failed ({exc.code}); check ITM_SMTP_USERNAME/PASSWORD") from None
    except aiosmtplib.SMTPResponseException as exc:
        text = f"SMTP {exc.code} {exc.message}"[:300]
        raise (Permanent(text) if exc.code >= 500 else Transient(text)) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise Transient(f"SMTP {type(exc).__name__}: {exc}"[:300]) from None
