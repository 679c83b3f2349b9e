"""ReportService (the HR console's KPIs and audit export, issue 11 item 5) over real processes: the KPI
document over gRPC equals `itm report`'s from Redis, the audit stream pages, and only HR may read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from itm import report
from itm.client import Clients
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, opportunity_pb2 as O, profile_pb2 as P, reports_pb2 as R, reports_pb2_grpc


async def test_kpis_over_grpc_equal_the_cli_report_and_the_audit_stream_pages(start_service, topic_prefix,
                                                                              redis_client):
    profile = start_service("profile", wait=False)
    opportunity = start_service("opportunity", wait=False, profile_target=profile.grpc_target)
    for p in (profile, opportunity):
        await p.wait_healthy_async(60)
    settings = Settings(topic_prefix=topic_prefix)
    hr = Clients.connect({"profile": profile.grpc_target, "opportunity": opportunity.grpc_target}, settings,
                         subject="hr-1", role="hr_admin")
    for emp, manager in [("O1", ""), ("M1", ""), ("E1", "M1")]:
        await hr.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=emp, name=emp, manager_id=manager,
                                                                hours_available_per_week=40), metadata=hr.metadata)
    owner, mgr, emp = (hr.as_(settings, s, r) for s, r in (("O1", "employee"), ("M1", "manager"), ("E1", "employee")))
    gig = await owner.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title="Dashboards", type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=6, seats=1,
        requirements=[O.RequirementInput(skill="sql", min_level=2)]), metadata=owner.metadata)
    app = await emp.opportunity.Apply(O.ApplyRequest(opportunity_id=gig.opportunity_id), metadata=emp.metadata)
    await owner.opportunity.AcceptApplication(O.AcceptApplicationRequest(application_id=app.application_id),
                                              metadata=owner.metadata)
    await mgr.opportunity.ApproveTimeRelease(O.ApproveTimeReleaseRequest(application_id=app.application_id),
                                             metadata=mgr.metadata)
    await owner.opportunity.CloseOpportunity(O.CloseOpportunityRequest(opportunity_id=gig.opportunity_id,
                                                                       outcome="filled"), metadata=owner.metadata)
    await mgr.profile.VerifySkill(P.VerifySkillRequest(employee_id="E1", skill="sql", level=3,
                                                       source=common_pb2.EVIDENCE_SOURCE_MANAGER), metadata=mgr.metadata)

    today = datetime.now(UTC).date()
    since, until = today - timedelta(days=6), today
    async with grpc.aio.insecure_channel(profile.grpc_target) as pc, \
            grpc.aio.insecure_channel(opportunity.grpc_target) as oc:
        stubs = {"profile": reports_pb2_grpc.ReportServiceStub(pc), "opportunity": reports_pb2_grpc.ReportServiceStub(oc)}
        over_grpc = await report.kpis_over_grpc(stubs, hr.metadata, since, until)
        from_redis = await report.kpis(redis_client, settings, since, until)
        assert over_grpc == from_redis
        assert over_grpc["by_type"]["gig"]["posted"] == 1 and over_grpc["by_type"]["gig"]["fill_rate"] == 1.0
        assert over_grpc["gig_hours_unlocked_per_week"] == 6
        assert over_grpc["skills_validated"] == {"manager": 1}
        # a period before any fact has none
        empty = await report.kpis_over_grpc(stubs, hr.metadata, since - timedelta(days=30), since - timedelta(days=20))
        assert empty["by_type"] == {} and empty["internal_moves"] == 0

        # only HR admins (and services) read reports; bad periods name the field
        for who in (emp, mgr):
            for call in (stubs["opportunity"].GetKpiPeriod(R.GetKpiPeriodRequest(since=str(since), until=str(until)),
                                                           metadata=who.metadata),
                         stubs["profile"].ListAuditRecords(R.ListAuditRecordsRequest(), metadata=who.metadata)):
                with pytest.raises(grpc.aio.AioRpcError) as denied:
                    await call
                assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        for since_s, until_s, fragment in (("2026-13-01", "2026-12-01", "since must be a day"),
                                           (str(until), str(since), "is before since"),
                                           ("2024-01-01", "2026-01-01", "at most 366 days")):
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await stubs["opportunity"].GetKpiPeriod(R.GetKpiPeriodRequest(since=since_s, until=until_s),
                                                        metadata=hr.metadata)
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and fragment in bad.value.details()

        # the audit stream: every service's state-changing calls, oldest first, paged
        everything, after = [], ""
        while True:
            page = await stubs["profile"].ListAuditRecords(R.ListAuditRecordsRequest(after=after, page_size=3),
                                                           metadata=hr.metadata)
            everything += page.records
            assert len(page.records) <= 3
            if not page.next_after:
                break
            after = page.next_after
        methods = [(r.fields["service"], r.fields["method"].rsplit("/", 1)[-1], r.fields["subject"]) for r in everything]
        assert ("opportunity", "PostOpportunity", "O1") in methods
        assert ("opportunity", "ApproveTimeRelease", "M1") in methods
        assert ("profile", "VerifySkill", "M1") in methods
        assert len({r.id for r in everything}) == len(everything), "no record twice across pages"
        raw = await redis_client.xlen(settings.key("audit"))
        assert len(everything) == raw
        later = await stubs["opportunity"].ListAuditRecords(R.ListAuditRecordsRequest(
            since=float(everything[-1].id.split("-")[0]) / 1000), metadata=hr.metadata)
        assert later.records and later.records[-1].id == everything[-1].id
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stubs["profile"].ListAuditRecords(R.ListAuditRecordsRequest(after="abc"), metadata=hr.metadata)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await hr.close()
