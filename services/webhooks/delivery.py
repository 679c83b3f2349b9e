"""The delivery rules, pure: what an attempt's answer means and when to try again.

* 2xx is delivered. Anything else (another status, a redirect, a timeout, a refused
  or broken connection) is a failed attempt.
* After a failed attempt ``n`` (1-based) the next one waits
  ``min(max, initial * 2**(n-1))`` seconds, less up to ``jitter`` of it (spreads the
  retries of many subscriptions after a shared outage).
* After ``max_attempts`` failed attempts the event goes to the dead letter and the
  subscription's next event is tried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outcome:
    delivered: bool
    dead: bool = False
    retry_in_s: float = 0.0


def delivered(status: int) -> bool:
    return 200 <= status < 300


def backoff_s(attempt: int, initial_s: float, max_s: float, jitter: float = 0.0, rng: random.Random | None = None) -> float:
    """Wait after failed attempt ``attempt`` (1 = the first attempt failed)."""
    base = min(max_s, initial_s * 2 ** min(max(attempt - 1, 0), 60))
    if jitter:
        base -= base * jitter * (rng or random).random()
    return base


def after_attempt(status: int, attempt: int, max_attempts: int, initial_s: float, max_s: float,
                  jitter: float = 0.0, rng: random.Random | None = None) -> Outcome:
    """What follows attempt ``attempt`` (1-based) that answered ``status`` (0: no answer)."""
    if delivered(status):
        return Outcome(True)
    if attempt >= max_attempts:
        return Outcome(False, dead=True)
    return Outcome(False, retry_in_s=backoff_s(attempt, initial_s, max_s, jitter, rng))


def describe(status: int, error: str = "") -> str:
    """The last_error people read: 'HTTP 503' or what went wrong without an answer."""
    if status:
        return f"HTTP {status}"
    return error[:300] or "no answer"
