"""KPIs the profile service's facts make true: skills validated, by how (issue 5)."""

from __future__ import annotations

from itm.runtime.envelope import decode_payload
from itm.runtime.kpi import KpiBook
from itm.v1 import common_pb2, envelope_pb2

# exported at 0 from the start: the ways a skill is validated
ZEROS = {"skills_validated": [{"source": s} for s in ("course", "gig", "manager", "assessment")]}


def record(book: KpiBook, pipe, env: envelope_pb2.EventEnvelope) -> None:
    if env.event_type != "profile.skill-verified":
        return
    skill = decode_payload(env).skill
    source = common_pb2.EvidenceSource.Name(skill.source).removeprefix("EVIDENCE_SOURCE_").lower()
    book.count(pipe, "skills_validated", {"source": source}, at=env.occurred_at.ToNanoseconds() / 1e9)
