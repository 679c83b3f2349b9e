"""What an opportunity's owner judges an application by (issue 16 item 2), pure.

``assessment`` puts together, for one application, the applicant's current
score for the opportunity and the credit per requirement (from the matcher's
``ScoreOpportunities`` with explanations) and the applicant's own skills that
the opportunity requires (from their profile), under the applicant's choices:

* **Aspirational skills are never shown to owners.** A skill the applicant only
  aspires to counts as not held, in the skills and in the credits (where the
  matcher gives it no credit anyway).
* **Opted out of matching** (or deactivated by the identity provider): no score
  is shown; the skills they hold still are, since the application is theirs.
* **Hidden from opportunity owners** governs being *found* (``BestCandidates``);
  applying is the applicant showing themselves to this owner, so the score is
  shown (docs/authorization.md).

No evidence detail (references, notes, who endorsed) is shown: for each skill
the level, the status, the source of the best evidence and how many distinct
peers endorsed it.
"""

from __future__ import annotations

from itm.v1 import common_pb2, events_pb2, matcher_pb2, opportunity_pb2, profile_pb2

Status = common_pb2.SkillStatus
ASPIRATIONAL = Status.SKILL_STATUS_ASPIRATIONAL

NO_PROFILE = "the applicant has no profile any more"
OPTED_OUT = "the applicant opted out of matching: no score is shown"
NOT_OPEN = "the opportunity is {status}: scores are for open opportunities"
MATCHER_DOWN = "the matcher did not answer; the score shows again when it does"
NOT_SCORED = "the matcher has not scored this applicant for the opportunity yet"


def held_skills(employee: profile_pb2.Employee | None) -> dict[str, profile_pb2.SkillRecord]:
    """skill id -> record, for the skills an owner may see (never aspirational ones)."""
    if employee is None:
        return {}
    return {rec.skill.skill_id: rec for rec in employee.skills if rec.skill.status != ASPIRATIONAL}


def required_skills(opp: opportunity_pb2.Opportunity,
                    employee: profile_pb2.Employee | None) -> list[opportunity_pb2.ApplicantSkill]:
    """One entry per requirement, in the opportunity's order, with what the applicant has of it."""
    held = held_skills(employee)
    out = []
    for r in opp.requirements:
        skill = opportunity_pb2.ApplicantSkill(skill_id=r.skill_id, required_level=r.min_level,
                                               must_have=r.must_have, weight=r.weight)
        if (rec := held.get(r.skill_id)) is not None:
            skill.level, skill.status, skill.source = rec.skill.level, rec.skill.status, rec.skill.source
            skill.endorsements = rec.endorsements
        out.append(skill)
    return out


def owner_credits(opp: opportunity_pb2.Opportunity,
                  credits) -> list[events_pb2.RequirementCredit]:
    """The matcher's credits in the opportunity's requirement order, aspirational evidence
    shown as none (it earns nothing: the owner learns nothing of the aspiration)."""
    by_skill = {c.skill_id: c for c in credits}
    out = []
    for r in opp.requirements:
        if (c := by_skill.get(r.skill_id)) is None:
            continue  # the matcher has not seen this requirement yet (requirements just changed)
        shown = events_pb2.RequirementCredit()
        shown.CopyFrom(c)
        if shown.status == ASPIRATIONAL:
            shown.employee_level, shown.status = 0, Status.SKILL_STATUS_UNSPECIFIED
        if shown.credit <= 0:
            shown.via_related_skill = ""
        out.append(shown)
    return out


def may_score(opp: opportunity_pb2.Opportunity, employee: profile_pb2.Employee | None) -> str:
    """Why no score is asked for ("" when one may be): decided before the matcher is asked."""
    if employee is None:
        return NO_PROFILE
    if employee.preferences.opted_out or employee.deactivated:
        return OPTED_OUT
    if opp.status != common_pb2.OPPORTUNITY_STATUS_OPEN:
        return NOT_OPEN.format(status=common_pb2.OpportunityStatus.Name(opp.status).removeprefix(
            "OPPORTUNITY_STATUS_").lower().replace("_", " "))
    return ""


def assessment(app: common_pb2.Application, opp: opportunity_pb2.Opportunity,
               employee: profile_pb2.Employee | None, scores: dict[str, matcher_pb2.Match] | None,
               profile_problem: str = "") -> opportunity_pb2.ApplicantAssessment:
    """The owner's view of one application. ``employee`` is the applicant's whole profile
    (None: none, or ``profile_problem`` says why it could not be read); ``scores`` the
    matcher's answer for the applicant (None: not asked, or it did not answer)."""
    answer = opportunity_pb2.ApplicantAssessment(application_id=app.application_id, employee_id=app.employee_id,
                                                 skills=required_skills(opp, employee))
    reason = profile_problem or may_score(opp, employee)
    match = scores.get(opp.opportunity_id) if scores is not None and not reason else None
    if match is not None:
        answer.score_available, answer.score_percent, answer.qualified = True, match.score_percent, match.qualified
        answer.credits.extend(owner_credits(opp, match.explanation.credits))
    else:
        answer.unavailable_reason = reason or (MATCHER_DOWN if scores is None else NOT_SCORED)
    return answer
