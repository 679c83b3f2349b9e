"""ReportService on every ITM process: its KPI book for a period, and the audit stream.

What `itm report` and `itm audit export` read from Redis, served over gRPC so that
the web console's HR pages (which read no service's Redis) get the same figures.
HR admins and services only. Registered by ``itm.runtime.service.Service``.
"""

from __future__ import annotations

from datetime import date

import grpc

from itm.runtime.auth import current_identity
from itm.runtime.kpi import KpiBook
from itm.runtime.redisx import is_stream_id
from itm.v1 import reports_pb2, reports_pb2_grpc

MAX_PERIOD_DAYS = 366
DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE = 500, 5000
MAX_UNIX_S = 253402300799.0  # 9999-12-31T23:59:59Z


def parse_day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field} must be a day as YYYY-MM-DD" + (f", got {value!r}" if len(value) <= 20 else
                                                                    f", got {len(value)} characters")) from None


def period_of(since: str, until: str) -> tuple[date, date]:
    first, last = parse_day(since, "since"), parse_day(until, "until")
    if last < first:
        raise ValueError(f"until ({last}) is before since ({first})")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise ValueError(f"a period is at most {MAX_PERIOD_DAYS} days; {first}..{last} is {(last - first).days + 1}")
    return first, last


class ReportServicer(reports_pb2_grpc.ReportServiceServicer):
    def __init__(self, service: str, redis, book: KpiBook, tally_names, audit_stream: str):
        self.service = service
        self.redis = redis
        self.book = book
        self.tally_names = tally_names  # callable: the tallies this service exports (configured after start)
        self.audit_stream = audit_stream

    async def _privileged(self, context) -> None:
        ident = current_identity.get()
        if not ident.privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"{ident.role} {ident.subject} may not read reports (HR admins only)")

    async def GetKpiPeriod(self, request, context):
        await self._privileged(context)
        try:
            first, last = period_of(request.since, request.until)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        sums = await self.book.period(self.redis, first, last)
        tallies = await self.book.tallies(self.redis, list(self.tally_names()))
        return reports_pb2.KpiPeriod(
            service=self.service, since=first.isoformat(), until=last.isoformat(),
            values=[reports_pb2.KpiValue(name=name, labels=labels, value=value)
                    for (name, labels), value in sorted(sums.items())],
            tallies=[reports_pb2.KpiTally(name=name, counts=sorted(counts, reverse=True))
                     for name, counts in sorted(tallies.items())])

    async def ListAuditRecords(self, request, context):
        await self._privileged(context)
        if request.page_size < 0 or request.page_size > MAX_AUDIT_PAGE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size must be 0..{MAX_AUDIT_PAGE}")
        if not 0 <= request.since <= MAX_UNIX_S:  # (NaN fails it too)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"since must be a Unix time in seconds, 0..{MAX_UNIX_S:.0f} (year 9999)")
        if request.after and not is_stream_id(request.after):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "after must be the next_after of a previous page (<ms>-<seq>)")
        size = request.page_size or DEFAULT_AUDIT_PAGE
        start = f"({request.after}" if request.after else (f"{int(request.since * 1000)}-0" if request.since else "-")
        batch = await self.redis.xrange(self.audit_stream, start, "+", count=size)
        records = [reports_pb2.AuditRecord(id=_text(entry_id), fields={_text(k): _text(v) for k, v in fields.items()})
                   for entry_id, fields in batch]
        return reports_pb2.ListAuditRecordsResponse(
            records=records, next_after=records[-1].id if len(records) == size else "")


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def add_to(svc) -> ReportServicer:
    servicer = ReportServicer(svc.name, svc.redis, svc.kpi, lambda: svc.kpi_export.tally_buckets,
                              svc.settings.key("audit"))
    reports_pb2_grpc.add_ReportServiceServicer_to_server(servicer, svc.grpc)
    return servicer
