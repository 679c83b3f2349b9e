"""Which gRPC status an exception that escaped a handler becomes, and what it says.

A handler says what went wrong with ``context.abort``; anything else that
escapes it is either infrastructure (Redis down, loading its data, failing
over, no pooled connection free; another service not answering) or a bug. The
first is retryable and answers UNAVAILABLE (or ABORTED for a transaction that
lost too many races), the second answers INTERNAL with a reference that is
also in the log. The message is for people: it never names exception classes,
modules or file paths.
"""

from __future__ import annotations

import asyncio
import socket
import uuid

import grpc
from redis import exceptions as redis_errors

from itm.runtime.redisx import ContentionError

RETRY = "retry in a few seconds"
_REDIS_UNAVAILABLE_REPLIES = ("LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS")
_DOWNSTREAM_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                         grpc.StatusCode.RESOURCE_EXHAUSTED)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str, str | None]:
    """(code, message, reference): ``reference`` is set for INTERNAL (log it with the exception)."""
    if isinstance(exc, redis_errors.BusyLoadingError):
        return grpc.StatusCode.UNAVAILABLE, f"storage is loading its data after a restart; {RETRY}", None
    if isinstance(exc, redis_errors.ConnectionError) and "No connection available" in str(exc):
        return grpc.StatusCode.UNAVAILABLE, f"this instance is at its storage connection limit; {RETRY}", None
    if isinstance(exc, redis_errors.ReadOnlyError) or (
            isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(_REDIS_UNAVAILABLE_REPLIES)):
        return grpc.StatusCode.UNAVAILABLE, f"storage is failing over or recovering; {RETRY}", None
    if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError, ConnectionError)):
        return grpc.StatusCode.UNAVAILABLE, f"storage is unavailable; {RETRY}", None
    if isinstance(exc, ContentionError):
        return grpc.StatusCode.ABORTED, "too many concurrent changes to the same records; retry", None
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return grpc.StatusCode.UNAVAILABLE, f"a dependency did not answer in time; {RETRY}", None
    if isinstance(exc, grpc.aio.AioRpcError) and exc.code() in _DOWNSTREAM_TRANSIENT:
        return grpc.StatusCode.UNAVAILABLE, f"a service this call needs did not answer; {RETRY}", None
    if isinstance(exc, socket.gaierror):
        return grpc.StatusCode.UNAVAILABLE, f"a dependency is unreachable; {RETRY}", None
    reference = uuid.uuid4().hex[:12]
    return grpc.StatusCode.INTERNAL, f"internal error (reference {reference}); it was logged", reference
