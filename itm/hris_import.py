"""Sending an HRIS file to the profile service in batches (``itm import employees``,
the web console's HR upload).

The file is read as bytes, line by line, never whole: each batch is the header
line and up to ``batch_lines`` lines (at most ``batch_bytes``), sent as one
``ImportEmployees`` call with the file's line number of its first line. Batches
go in file order under one ``import_id``; a failed call is retried with the
same batch number, which the service answers with its first answer, so a
retry applies nothing twice. The profile service reads and judges every line
(``services/profile/hris.py``); this module only cuts the file at line ends
and adds up the answers, checking that every line of the file got one result.

``encoding``: a file in another encoding (e.g. ``cp1252`` from a spreadsheet)
is re-encoded to UTF-8 line by line; a line that does not decode is sent as it
is, so the service rejects it with its number.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import grpc

from itm.v1 import profile_pb2
from services.profile.hris import MAX_LINE_BYTES  # the service rejects longer lines; more is never sent

Outcome = profile_pb2.ImportOutcome
BATCH_LINES = 1000
BATCH_BYTES = 512 * 1024
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
             grpc.StatusCode.RESOURCE_EXHAUSTED)
OUTCOME_NAMES = {Outcome.IMPORT_OUTCOME_CREATED: "created", Outcome.IMPORT_OUTCOME_UPDATED: "updated",
                 Outcome.IMPORT_OUTCOME_UNCHANGED: "unchanged", Outcome.IMPORT_OUTCOME_REJECTED: "rejected",
                 Outcome.IMPORT_OUTCOME_SKIPPED: "skipped"}


@dataclass(frozen=True)
class LineResult:
    """One line's answer as the console shows it (``outcome`` one of OUTCOME_NAMES' values)."""
    line: int
    employee_id: str
    outcome: str
    reasons: tuple[str, ...] = ()


class ImportIncomplete(RuntimeError):
    """The answers did not account for every line (a bug, never silently accepted)."""


@dataclass
class ImportSummary:
    dry_run: bool
    lines: int = 0          # lines of the file, header included
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOME_NAMES.values(), 0))
    batches: int = 0
    import_id: str = ""
    results: list[LineResult] = field(default_factory=list)  # filled by import_bytes (rejected lines always first kept)
    results_dropped: int = 0  # lines beyond import_bytes' max_results, counted above but not listed

    @property
    def answered(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        c = self.counts
        return (f"{self.lines} lines: 1 header, {c['created']} created, {c['updated']} updated, "
                f"{c['unchanged']} unchanged, {c['rejected']} rejected, {c['skipped']} blank"
                + (" (dry run: nothing written)" if self.dry_run else ""))


def batches(fh: BinaryIO, batch_lines: int = BATCH_LINES, batch_bytes: int = BATCH_BYTES,
            encoding: str = "utf-8") -> Iterator[tuple[bytes, int, bytes, int]]:
    """(header, first line number, lines, bytes read so far) per batch, cut at line ends."""
    header = _recode(fh.readline(), encoding)
    if not header:
        return
    read = len(header)
    chunk: list[bytes] = []
    size, first, number = 0, 2, 1
    for raw in fh:
        number += 1
        read += len(raw)
        line = _recode(raw, encoding)
        if len(line) > MAX_LINE_BYTES + 2:
            line = line[:MAX_LINE_BYTES + 1]  # still too long for the service, which says so
        if not line.endswith(b"\n"):
            line += b"\n"
        chunk.append(line)
        size += len(line)
        if len(chunk) >= batch_lines or size >= batch_bytes:
            yield header, first, b"".join(chunk), read
            chunk, size, first = [], 0, number + 1
    if chunk or first == 2:
        yield header, first, b"".join(chunk), read


def _recode(raw: bytes, encoding: str) -> bytes:
    if encoding.replace("-", "").lower() in ("utf8", "utf8sig") or not raw:
        return raw
    try:
        return raw.decode(encoding).encode("utf-8")
    except UnicodeDecodeError:
        return raw


async def import_file(profile, metadata, fh: BinaryIO, dry_run: bool = False, *,
                      on_batch: Callable[[profile_pb2.ImportEmployeesResponse, int], None] | None = None,
                      batch_lines: int = BATCH_LINES, batch_bytes: int = BATCH_BYTES, encoding: str = "utf-8",
                      import_id: str = "", attempts: int = 5, timeout_s: float = 120) -> ImportSummary:
    """Import an open binary file through ``profile`` (a ProfileService stub).

    ``on_batch(answer, bytes_read)`` is called after each batch (progress, and the
    rejected lines as they come). Raises grpc.aio.AioRpcError for a refused import
    (e.g. a bad header: INVALID_ARGUMENT naming line 1)."""
    summary = ImportSummary(dry_run, import_id=import_id or f"cli.{uuid.uuid4().hex}")
    it = batches(fh, batch_lines, batch_bytes, encoding)
    current = next(it, None)
    number = 0
    while current is not None:
        header, first, lines, read = current
        following = next(it, None)
        number += 1
        request = profile_pb2.ImportEmployeesRequest(
            data=header.rstrip(b"\r\n") + b"\n" + lines, import_id=summary.import_id, batch=number, first_line=first,
            last=following is None, dry_run=dry_run)
        answer = await _call(profile, request, metadata, attempts, timeout_s)
        summary.batches += 1
        summary.lines += answer.lines
        for r in answer.results:
            summary.counts[OUTCOME_NAMES.get(r.outcome, "rejected")] += 1
        if on_batch is not None:
            on_batch(answer, read)
        current = following
    if summary.lines and summary.answered != summary.lines - 1:
        raise ImportIncomplete(f"{summary.lines - 1} data lines but {summary.answered} results")
    return summary


async def import_bytes(profile, metadata, data: bytes, dry_run: bool = False, *, encoding: str = "utf-8",
                       import_id: str = "", max_results: int = 10_000, rejected_only: bool = False,
                       batch_lines: int = BATCH_LINES, timeout_s: float = 120) -> ImportSummary:
    """Import an uploaded file's bytes (the web console's HR upload): the same path,
    batches and rules as ``itm import employees`` (``import_file``), with the
    per-line results collected into ``summary.results`` in line order.

    ``profile`` is a ProfileService stub, ``metadata`` the signed-in HR admin's
    bearer metadata (the service decides who may import). ``dry_run=True`` judges
    every line exactly as the real run would and writes nothing. At most
    ``max_results`` lines are listed (rejected lines are listed first when the cap
    bites); ``results_dropped`` counts the rest, the counts cover every line.
    ``rejected_only`` lists only rejected lines. Raises grpc.aio.AioRpcError for a
    refused import (PERMISSION_DENIED, a bad header: INVALID_ARGUMENT naming line 1)
    and ImportIncomplete if the answers did not cover every line."""
    kept: list[LineResult] = []
    rejected: list[LineResult] = []
    total = 0

    def on_batch(answer, _read):
        nonlocal total
        for r in answer.results:
            outcome = OUTCOME_NAMES.get(r.outcome, "rejected")
            total += 1
            if outcome == "rejected":
                rejected.append(LineResult(r.row, r.employee_id, outcome, tuple(r.errors)))
            elif not rejected_only and len(kept) < max_results:
                kept.append(LineResult(r.row, r.employee_id, outcome, tuple(r.errors)))

    summary = await import_file(profile, metadata, io.BytesIO(data), dry_run, on_batch=on_batch,
                                batch_lines=batch_lines, encoding=encoding, import_id=import_id or
                                f"upload.{uuid.uuid4().hex}", timeout_s=timeout_s)
    listed = rejected[:max_results]
    listed += kept[:max_results - len(listed)]
    listed.sort(key=lambda r: r.line)
    summary.results = listed
    summary.results_dropped = total - len(listed) if not rejected_only else len(rejected) - len(listed)
    return summary


async def _call(profile, request, metadata, attempts: int, timeout_s: float):
    for attempt in range(attempts):
        try:
            return await profile.ImportEmployees(request, metadata=metadata, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRYABLE or attempt == attempts - 1:
                raise
            await asyncio.sleep(min(5.0, 0.2 * 2 ** attempt))
    raise AssertionError("unreachable")
