"""What a subscription may be: the rules, pure (no I/O), each problem naming its field.

A subscription names public topics (``WEBHOOK_TOPICS``: the registry's topics less the
internal ones and the dead-letter topic), an http(s) URL (https only in production;
no user name or password in it, no fragment) and a secret in the Standard Webhooks
form ``whsec_`` + base64 of 24-64 bytes (generated when none is given).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from urllib.parse import urlsplit

from itm.runtime.topics import DEAD_LETTER, TOPICS

SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES, SECRET_MAX_BYTES = 24, 64
GENERATED_SECRET_BYTES = 32
MAX_TOPICS = len(TOPICS)
MAX_URL = 2000
MAX_DESCRIPTION = 500
MAX_ATTEMPTS_LIMIT = 100
DEFAULT_PREVIOUS_VALID_S = 24 * 3600
MAX_PREVIOUS_VALID_S = 7 * 24 * 3600

# what a subscription may name: every public topic (docs/events/topics.md) but the dead letters
WEBHOOK_TOPICS: tuple[str, ...] = tuple(n for n, t in TOPICS.items() if not t.internal and n != DEAD_LETTER)


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (the base64-decoded bytes after the prefix)."""
    body = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


def secret_hint(secret: str) -> str:
    return secret[: len(SECRET_PREFIX) + 4] + "…"


def check_secret(secret: str) -> str | None:
    if not secret.startswith(SECRET_PREFIX):
        return f"secret must start with {SECRET_PREFIX!r} followed by base64 (Standard Webhooks); leave it empty to get one"
    try:
        key = secret_key(secret)
    except (binascii.Error, ValueError):
        return f"secret: the part after {SECRET_PREFIX!r} is not base64"
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        return f"secret must encode {SECRET_MIN_BYTES}-{SECRET_MAX_BYTES} bytes, got {len(key)}"
    return None


def check_url(url: str, production: bool) -> str | None:
    if not url:
        return "url is required"
    if len(url) > MAX_URL:
        return f"url is longer than {MAX_URL} characters"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "url must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"url is not a valid URL ({exc})"
    schemes = ("https",) if production else ("http", "https")
    if parts.scheme not in schemes:
        return f"url must be {' or '.join(s + '://' for s in schemes)}" + (" in production" if production else "")
    if not parts.hostname:
        return "url has no host"
    if parts.username or parts.password:
        return "url must not carry a user name or password (the signature authenticates ITM)"
    if parts.fragment:
        return "url must not have a #fragment"
    if port == 0:
        return "url port must be 1-65535"
    return None


def check_topics(topics: list[str]) -> str | None:
    if not topics:
        return "topics: name at least one public topic, e.g. profile.skill-verified"
    seen: set[str] = set()
    for i, name in enumerate(topics):
        if name in seen:
            return f"topics[{i}]: {name[:100]!r} is listed twice"
        seen.add(name)
        if name not in WEBHOOK_TOPICS:
            spec = TOPICS.get(name)
            why = ("is internal" if spec is not None and spec.internal else
                   "is the dead-letter topic (not offered)" if name == DEAD_LETTER else "is not a topic")
            return f"topics[{i}]: {name[:100]!r} {why}; public topics are listed in docs/events/topics.md"
    return None


def check_subscription(topics: list[str], url: str, secret: str, description: str, max_attempts: int,
                       production: bool) -> str | None:
    """The first problem of a CreateSubscription request, or None."""
    return (check_topics(list(topics)) or check_url(url, production)
            or (check_secret(secret) if secret else None)
            or (f"description is longer than {MAX_DESCRIPTION} characters" if len(description) > MAX_DESCRIPTION
                else None)
            or (f"max_attempts must be 0 (the service default) to {MAX_ATTEMPTS_LIMIT}, got {max_attempts}"
                if not 0 <= max_attempts <= MAX_ATTEMPTS_LIMIT else None))


def check_rotation(secret: str, previous_valid_s: int) -> str | None:
    """The first problem of a RotateSecret request, or None."""
    if secret and (problem := check_secret(secret)):
        return problem
    if not 0 <= previous_valid_s <= MAX_PREVIOUS_VALID_S:
        return (f"previous_valid_s must be 0 (24 hours) to {MAX_PREVIOUS_VALID_S} (7 days), "
                f"got {previous_valid_s}")
    return None
