"""The HR admin's pages (issue 11 item 5). HR admin accounts only.

* ``/hr/import``: upload an HRIS CSV, dry run first (the default) or for real, and
  read the per-line report: the same path as ``itm import employees``
  (``itm.hris_import.import_bytes``);
* ``/hr/kpis?since=&until=``: the marketplace KPIs for a period as charts (fill
  rate, time to fill, postings and fills per type, internal moves, skills
  validated per source, gig hours unlocked, manager talent export), the figures
  ``itm report`` computes (``itm.report.kpis_over_grpc``: each service's
  ReportService);
* ``/hr/fairness``: share of employees reaching their threshold per department and
  location with the adverse-impact ratio (``itm.report.fairness``);
* ``/hr/audit``: the audit stream as a JSON-lines download (``ListAuditRecords``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import grpc
from aiohttp import web

from itm import hris_import, report
from itm.v1 import reports_pb2, reports_pb2_grpc
from services.web.clients import _Stub, api
from services.web.keys import CHANNELS, SETTINGS
from services.web.render import add_nav, render
from services.web.session import require
from services.web.views.shared import install_filters

HR = ("hr_admin",)
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
SHOWN_LINES = 1000
TYPE_ORDER = ["gig", "project", "mentorship", "job_shadowing", "freelance", "role"]
TYPE_NAMES = {"gig": "Gig", "project": "Project", "mentorship": "Mentorship", "job_shadowing": "Shadowing",
              "freelance": "Freelance", "role": "Role"}


def reports_stub(request: web.Request, service: str) -> _Stub:
    """ReportService on one service's process, as the signed-in HR admin."""
    client = api(request)
    channels = request.app[CHANNELS]
    return _Stub(reports_pb2_grpc.ReportServiceStub(channels.channel(service)), client.metadata,
                 request.app[SETTINGS].web_call_timeout_s)


# --------------------------------------------------------------------------- HRIS import


async def import_page(request: web.Request) -> web.Response:
    require(request, *HR)
    return render(request, "hr_import.html", {"title": "Import employees", "summary": None,
                                              "form": {"dry_run": True}})


async def import_upload(request: web.Request) -> web.Response:
    require(request, *HR)
    form = await request.post()
    upload = form.get("file")
    dry_run = bool(form.get("dry_run"))
    ctx = {"title": "Import employees", "summary": None, "form": {"dry_run": dry_run}}
    if upload is None or not hasattr(upload, "file"):
        return render(request, "hr_import.html", {**ctx, "errors": {"file": "choose the HRIS export (a CSV file)"}},
                      status=400)
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    ctx["filename"] = upload.filename
    if len(data) > MAX_UPLOAD_BYTES:
        return render(request, "hr_import.html", {**ctx, "errors": {
            "file": f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB: use `itm import employees` "
                    "for files this size"}}, status=413)
    if not data.strip():
        return render(request, "hr_import.html", {**ctx, "errors": {"file": "the file is empty"}}, status=400)
    client = api(request)
    try:
        summary = await hris_import.import_bytes(client.profile, client.metadata, data, dry_run=dry_run,
                                                 max_results=SHOWN_LINES)
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        return render(request, "hr_import.html", {**ctx, "errors": {"file": err.details()}}, status=400)
    except hris_import.ImportIncomplete as exc:
        return render(request, "hr_import.html", {**ctx, "errors": {"file": str(exc)}}, status=502)
    except UnicodeDecodeError:
        return render(request, "hr_import.html", {**ctx, "errors": {
            "file": "the file is not UTF-8: export it as UTF-8 (or use `itm import employees --encoding`)"}},
            status=400)
    return render(request, "hr_import.html", {**ctx, "summary": summary})


# --------------------------------------------------------------------------- KPIs


def _period(request: web.Request) -> tuple[date, date, dict[str, str]]:
    today = datetime.now(UTC).date()
    errors = {}
    try:
        until = date.fromisoformat(request.query.get("until") or today.isoformat())
    except ValueError:
        errors["until"], until = "a date, YYYY-MM-DD", today
    try:
        since = date.fromisoformat(request.query.get("since") or (until - timedelta(days=29)).isoformat())
    except ValueError:
        errors["since"], since = "a date, YYYY-MM-DD", until - timedelta(days=29)
    if since > until:
        errors["since"] = "the first day must not be after the last"
    elif (until - since).days >= 366:
        errors["since"] = "a period is at most 366 days"
    return since, until, errors


def bar_chart(rows: list[tuple[str, float, float | None]], unit: str = "", series: tuple[str, str] = ("", ""),
              fmt=lambda v: f"{v:g}", width: int = 520, label_w: int = 110) -> dict:
    """Horizontal bars, as SVG geometry the template draws: one or two values per row."""
    peak = max([v for _, a, b in rows for v in (a, b) if v is not None] + [0]) or 1
    span = width - label_w - 70
    bar_h, gap = (14, 4) if any(b is not None for _, _, b in rows) else (22, 0)
    row_h = bar_h * (2 if bar_h == 14 else 1) + gap + 12
    out = []
    for i, (label, a, b) in enumerate(rows):
        y = 8 + i * row_h
        bars = [{"y": y, "w": max(1.0, span * a / peak) if a else 0, "v": fmt(a) + unit, "cls": "a"}]
        if b is not None:
            bars.append({"y": y + bar_h + gap, "w": max(1.0, span * b / peak) if b else 0, "v": fmt(b) + unit,
                         "cls": "b"})
        out.append({"label": label, "ly": y + (bar_h * len(bars) + gap * (len(bars) - 1)) / 2 + 5, "bars": bars})
    return {"rows": out, "height": 16 + len(rows) * row_h, "width": width, "x0": label_w, "bar_h": bar_h,
            "series": series}


def charts_for(doc: dict) -> dict:
    by_type = doc["by_type"]
    types = [t for t in TYPE_ORDER if t in by_type] + sorted(t for t in by_type if t not in TYPE_ORDER)
    posted_filled = bar_chart([(TYPE_NAMES.get(t, t), by_type[t]["posted"], by_type[t]["filled"]) for t in types],
                              series=("posted", "filled"))
    fill_rate = bar_chart([(TYPE_NAMES.get(t, t), (by_type[t]["fill_rate"] or 0) * 100, None) for t in types],
                          unit=" %", fmt=lambda v: f"{v:.0f}")
    ttf = bar_chart([(TYPE_NAMES.get(t, t), by_type[t]["mean_time_to_fill_days"] or 0, None) for t in types
                     if by_type[t]["mean_time_to_fill_days"] is not None], unit=" d", fmt=lambda v: f"{v:.1f}")
    validated = bar_chart([(k.replace("_", " ").capitalize() or "Other", v, None)
                           for k, v in sorted(doc["skills_validated"].items(), key=lambda kv: -kv[1])])
    export = doc.get("manager_talent_export", {})
    return {"posted_filled": posted_filled, "fill_rate": fill_rate, "ttf": ttf, "validated": validated,
            "export": bar_chart([(f"Manager {i + 1}", n, None) for i, n in enumerate(export.get("per_manager", [])[:8])])}


async def kpis(request: web.Request) -> web.Response:
    require(request, *HR)
    since, until, errors = _period(request)
    ctx = {"title": "Marketplace KPIs", "since": since, "until": until, "errors": errors, "doc": None}
    if errors:
        return render(request, "hr_kpis.html", ctx, status=400)
    stubs = {name: reports_stub(request, name) for name in report.KPI_SERVICES}
    doc = await report.kpis_over_grpc(stubs, api(request).metadata, since, until)
    totals = {"posted": sum(r["posted"] for r in doc["by_type"].values()),
              "filled": sum(r["filled"] for r in doc["by_type"].values()),
              "applications": sum(r["applications"] for r in doc["by_type"].values()),
              "validated": sum(doc["skills_validated"].values())}
    totals["fill_rate"] = totals["filled"] / totals["posted"] if totals["posted"] else None
    ttf = [(r["mean_time_to_fill_days"], r["filled"]) for r in doc["by_type"].values()
           if r["mean_time_to_fill_days"] is not None and r["filled"]]
    totals["time_to_fill_days"] = (sum(d * n for d, n in ttf) / sum(n for _, n in ttf)) if ttf else None
    return render(request, "hr_kpis.html", {**ctx, "doc": doc, "totals": totals, "charts": charts_for(doc)})


# --------------------------------------------------------------------------- fairness and audit


async def fairness(request: web.Request) -> web.Response:
    require(request, *HR)
    try:
        min_group = min(max(int(request.query.get("min_group") or 5), 1), 1000)
    except ValueError:
        min_group = 5
    rows, opted_out = await report.fairness(api(request), min_group)
    return render(request, "hr_fairness.html", {"title": "Fairness", "rows": rows, "opted_out": opted_out,
                                                "min_group": min_group})


async def audit_page(request: web.Request) -> web.Response:
    require(request, *HR)
    stub = reports_stub(request, "profile")
    latest = await stub.ListAuditRecords(reports_pb2.ListAuditRecordsRequest(
        since=(datetime.now(UTC) - timedelta(days=1)).timestamp(), page_size=20))
    recent = []
    for r in latest.records:
        fields = dict(r.fields)
        try:
            fields["when"] = datetime.fromtimestamp(float(fields.get("at", "0")), UTC).strftime("%d %b %H:%M:%S")
        except ValueError:
            fields["when"] = fields.get("at", "")
        recent.append(fields)
    return render(request, "hr_audit.html", {"title": "Audit export", "recent": recent,
                                             "today": datetime.now(UTC).date()})


async def audit_export(request: web.Request) -> web.StreamResponse:
    require(request, *HR)
    try:
        since_day = date.fromisoformat(request.query.get("since") or "1970-01-01")
    except ValueError:
        raise web.HTTPBadRequest(reason="since must be a date, YYYY-MM-DD") from None
    since = datetime(since_day.year, since_day.month, since_day.day, tzinfo=UTC).timestamp()
    stub = reports_stub(request, "profile")
    first = await stub.ListAuditRecords(reports_pb2.ListAuditRecordsRequest(since=max(since, 0), page_size=2000))
    name = f"itm-audit-{since_day.isoformat()}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson; charset=utf-8",
                                           "Content-Disposition": f'attachment; filename="{name}"',
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    page = first
    while True:
        if page.records:
            await response.write("".join(json.dumps({"id": r.id, **dict(sorted(r.fields.items()))}) + "\n"
                                         for r in page.records).encode())
        if not page.next_after:
            break
        page = await stub.ListAuditRecords(reports_pb2.ListAuditRecordsRequest(after=page.next_after, page_size=2000))
    await response.write_eof()
    return response


def routes(app: web.Application) -> None:
    install_filters(app)
    app.router.add_get("/hr/import", import_page, name="hr-hris")
    app.router.add_post("/hr/import", import_upload)
    app.router.add_get("/hr/kpis", kpis, name="hr-kpis")
    app.router.add_get("/hr/fairness", fairness, name="hr-fairness")
    app.router.add_get("/hr/audit", audit_page, name="hr-audit")
    app.router.add_get("/hr/audit/export", audit_export, name="hr-audit-export")
    add_nav(app, "KPIs", "/hr/kpis", HR, order=70)
    add_nav(app, "Import", "/hr/import", HR, order=71)
    add_nav(app, "Fairness", "/hr/fairness", HR, order=72)
    add_nav(app, "Audit", "/hr/audit", HR, order=73)
