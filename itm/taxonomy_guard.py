"""Every service runs on the taxonomy the matcher scores with, or does not start.

The matcher publishes the version of the taxonomy it loaded (``Taxonomy.version``:
a SHA-1 fingerprint of every skill, alias, relation and redirect, so two files
with the same content agree and any added, renamed, merged or re-related skill
differs) under ``<prefix>taxonomy:matcher`` in Redis, refreshed every 10 s with a
30 s lifetime (several workers write the same value). Every other service, when
it starts, compares the version of its own ITM_TAXONOMY_PATH with it and exits
with status 2 and a message naming both when they differ. When no matcher runs
(no record), or Redis does not answer yet, there is nothing to compare with: the
service starts and says so in its log. Rolling out a new taxonomy: the same file
everywhere, matcher workers first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time

import redis

from itm.taxonomy import Taxonomy

log = logging.getLogger(__name__)
LIFETIME_S = 30
REFRESH_S = 10


def key(settings) -> str:
    return settings.key("taxonomy:matcher")


def record(taxonomy: Taxonomy, source: str) -> str:
    return json.dumps({"version": taxonomy.version, "skills": len(taxonomy), "path": source, "at": time.time()})


def source() -> str:
    import os

    return os.environ.get("ITM_TAXONOMY_PATH", "").strip() or "the shipped taxonomy"


def mismatch(mine: Taxonomy, published: dict | None, service: str) -> str | None:
    """The message a service with ``mine`` prints and exits with, or None to start."""
    if not published or published.get("version") == mine.version:
        return None
    return (f"{service}: the taxonomy at {source()} (version {mine.version}, {len(mine)} skills) differs from the one "
            f"the matcher scores with (version {published.get('version')}, {published.get('skills')} skills, from "
            f"{published.get('path')}). Deploy the same ITM_TAXONOMY_PATH file to every service, matcher workers first.")


def enforce(settings, service: str, taxonomy: Taxonomy | None = None) -> None:
    """At start-up (synchronous): exit 2 when this service's taxonomy is not the matcher's."""
    taxonomy = taxonomy or Taxonomy.configured()
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            raw = client.get(key(settings))
        finally:
            client.close()
    except redis.RedisError as exc:
        log.warning("taxonomy not compared with the matcher's: Redis does not answer", extra={"error": str(exc)})
        return
    problem = mismatch(taxonomy, json.loads(raw) if raw else None, service)
    if problem:
        print(problem, file=sys.stderr)
        log.error(problem)
        raise SystemExit(2)
    log.info("taxonomy", extra={"version": taxonomy.version, "skills": len(taxonomy), "path": source(),
                                "matcher": "same" if raw else "none running"})


async def publish_forever(client, settings, taxonomy: Taxonomy) -> None:
    """The matcher's side: keep the record alive while this worker runs."""
    value = record(taxonomy, source())
    while True:
        await client.set(key(settings), value, ex=LIFETIME_S)
        await asyncio.sleep(REFRESH_S)
