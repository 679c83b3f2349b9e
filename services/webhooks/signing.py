"""Standard Webhooks signatures (https://www.standardwebhooks.com), pure.

Each attempt carries ``webhook-id`` (the event id: the same on every retry, so a
receiver dedupes by it), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")),
the key being the base64-decoded part of the ``whsec_`` secret. Receivers should
refuse timestamps more than 5 minutes off (``verify`` does). While a secret is being
rotated, the previous secret's signature follows the new one's, space-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

TOLERANCE_S = 300


class SignatureError(ValueError):
    pass


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes, *older: bytes) -> dict[str, str]:
    """The three headers; ``older`` keys (a secret being rotated out) add their signatures,
    space-separated after the current one, as the specification allows."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, msg_id, timestamp, body) for k in (key, *older)),
    }


def verify(key: bytes, got: dict[str, str], body: bytes, now: float, tolerance_s: int = TOLERANCE_S) -> str:
    """Check a request's headers (any case) against its body; returns the webhook-id."""
    lower = {k.lower(): v for k, v in got.items()}
    msg_id, stamp, sigs = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not (msg_id and stamp and sigs):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isdigit():
        raise SignatureError("webhook-timestamp is not Unix seconds")
    if abs(now - int(stamp)) > tolerance_s:
        raise SignatureError("webhook-timestamp is too far from now")
    expected = signature(key, msg_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, s) for s in sigs.split(" ") if s.startswith("v1,")):
        raise SignatureError("no matching v1 signature")
    return msg_id
