"""SearchOpportunities over the real stack: filters and orders at 10,000 open
postings, pages, the caller's own match percent from the matcher (and search
without it), postings searchable the moment they are made and gone when closed.

The 10,000 postings are laid out in Redis in the service's own layout
(services/opportunity/store.py, as PostOpportunity stores them), so the test
spends its time searching rather than posting; the service picks them up from
the search log on its next search, like writes of another replica.
"""

from __future__ import annotations

import asyncio
import random
import time

import grpc
import pytest
import redis.asyncio as aioredis

from _stack import ModuleStack, all_topics, expect_error, uid
from itm.runtime.settings import Settings
from itm.taxonomy import Taxonomy
from itm.v1 import common_pb2, matcher_pb2, opportunity_pb2 as O, profile_pb2 as P
from services.opportunity.search import fold, words
from services.opportunity.store import OpportunityKeys

Code = grpc.StatusCode
N = 10_000
OPEN = common_pb2.OPPORTUNITY_STATUS_OPEN
TYPES = list(range(1, 7))
SKILLS = ["sql", "python", "excel", "negotiation", "kubernetes", "docker", "data-analysis", "r", "postgresql",
          "tableau", "java", "figma"]
DEPTS = ["Data", "Marketing", "Sales", "Engineering", "Finance", "People"]
PLACES = ["Lisbon", "Lagos", "Prague", "Dubai", "Singapore"]
WORDS = ["analyst", "reporting", "dashboard", "migration", "pricing", "forecast", "customer", "platform", "audit",
         "onboarding", "churn", "quarterly", "roadmap", "survey", "pipeline", "cohort"]
NEWEST, DEADLINE, MATCH = O.OPPORTUNITY_SORT_NEWEST, O.OPPORTUNITY_SORT_DEADLINE, O.OPPORTUNITY_SORT_MATCH


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("search"))
    every = {"rate_limit_burst": 100000}
    await s.start({"profile": every, "opportunity": every, "matcher": every}, all_topics("opportunity.gig-"))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


def generated(n: int, seed: int = 16) -> list[O.Opportunity]:
    rng = random.Random(seed)
    base = time.time() - 30 * 86400
    out = []
    for i in range(n):
        opp = O.Opportunity(
            opportunity_id=f"bulk-{i:05d}", title=" ".join(rng.sample(WORDS, 2)).title(),
            description=" ".join(rng.sample(WORDS, 4)), type=rng.choice(TYPES), status=OPEN,
            department=rng.choice(DEPTS), location=rng.choice(PLACES), remote=rng.random() < 0.15,
            hours_per_week=rng.choice([2, 4, 6, 8, 10, 16, 20, 40]), seats=1, owner_id=f"owner-{rng.randrange(20)}",
            version=1,
            requirements=[common_pb2.Requirement(skill_id=s, min_level=rng.randrange(1, 6), weight=1.0)
                          for s in rng.sample(SKILLS, rng.randrange(1, 4))])
        opp.created_at.FromSeconds(int(base + i * 60 + rng.randrange(30)))
        if rng.random() < 0.6:
            opp.apply_by.FromSeconds(int(time.time() + 86400 * rng.randrange(30, 300)))
        out.append(opp)
    return out


@pytest.fixture(scope="module")
async def bulk(stack):
    """10,000 open postings, stored as the service stores them (one pipeline per thousand)."""
    opps = generated(N)
    keys = OpportunityKeys(Settings(topic_prefix=stack.prefix))
    client = aioredis.from_url(stack.infra.redis_url)
    try:
        for i in range(0, N, 1000):
            async with client.pipeline(transaction=True) as pipe:
                for opp in opps[i:i + 1000]:
                    keys.store(pipe, opp)
                await pipe.execute()
    finally:
        await client.aclose()
    return {o.opportunity_id: o for o in opps}


def expected(bulk: dict, *, types=(), skills=(), related=False, department="", location="", remote=False,
             low=0.0, high=0.0, text="", owner="", sort=NEWEST) -> list[str]:
    tax = Taxonomy.load_default()
    groups = [{s, *(tax.related(s) if related else ())} for s in skills]

    def ok(o):
        have = {r.skill_id for r in o.requirements}
        vocab = set(words(o.title) + words(o.description))
        return ((not types or o.type in types) and all(have & g for g in groups)
                and (not department or fold(o.department) == fold(department))
                and (not location or fold(o.location) == fold(location) or (remote and o.remote))
                and o.hours_per_week >= low and (not high or o.hours_per_week <= high)
                and (not owner or o.owner_id == owner)
                and all(any(w.startswith(t) for w in vocab) for t in words(text)))

    def key(o):
        created = o.created_at.seconds
        if sort == DEADLINE:
            return (o.apply_by.seconds if o.HasField("apply_by") else float("inf"), -created, o.opportunity_id)
        return (-created, o.opportunity_id)

    return [o.opportunity_id for o in sorted((o for o in bulk.values() if ok(o)), key=key)]


async def search_all(c, request: O.SearchOpportunitiesRequest, pages: int = 3):
    """The first ``pages`` pages: ids in order, the total, the responses."""
    ids, token, answers = [], "", []
    for _ in range(pages):
        request.page_token = token
        answer = await c.opportunity.SearchOpportunities(request, metadata=c.metadata, timeout=30)
        answers.append(answer)
        ids += [r.opportunity.opportunity_id for r in answer.results]
        token = answer.next_page_token
        if not token:
            break
    return ids, answers[0].total, answers


CASES = [
    ("type and department", dict(types=[2, 6], department="engineering"), {"types": [2, 6], "department": "Engineering"}),
    ("skill", dict(skills=["SQL"]), {"skills": ["sql"]}),
    ("skill with related skills", dict(skills=["sql"], include_related_skills=True),
     {"skills": ["sql"], "related": True}),
    ("two skills", dict(skills=["python", "excel"]), {"skills": ["python", "excel"]}),
    ("location with remote", dict(location="LISBON", include_remote=True), {"location": "lisbon", "remote": True}),
    ("hours range", dict(min_hours_per_week=6, max_hours_per_week=10), {"low": 6, "high": 10}),
    ("free text prefixes", dict(text="Dash quart"), {"text": "dash quart"}),
    ("owner", dict(owner_id="owner-7"), {"owner": "owner-7"}),
    ("everything at once", dict(types=[1, 2, 3], skills=["data analysis"], include_related_skills=True,
                                location="Prague", include_remote=True, max_hours_per_week=20, text="an"),
     {"types": [1, 2, 3], "skills": ["data-analysis"], "related": True, "location": "prague", "remote": True,
      "high": 20, "text": "an"}),
]


@pytest.mark.parametrize("sort", [NEWEST, DEADLINE], ids=["newest", "deadline"])
@pytest.mark.parametrize(("name", "request_fields", "want"), CASES, ids=[c[0] for c in CASES])
async def test_filters_and_orders_at_ten_thousand_postings(stack, bulk, sort, name, request_fields, want):
    c = stack.as_(uid("E"))
    size = 40
    ids, total, answers = await search_all(c, O.SearchOpportunitiesRequest(sort=sort, page_size=size,
                                                                            **request_fields))
    wanted = expected(bulk, sort=sort, **want)
    assert total == len(wanted) and total > 0, name
    assert ids == wanted[:3 * size], name
    assert answers[0].sorted_by == sort
    for r in answers[0].results:  # whole opportunities come back
        assert r.opportunity == bulk[r.opportunity.opportunity_id]


async def test_every_page_of_a_search_once_and_in_order(stack, bulk):
    c = stack.as_(uid("E"))
    request = O.SearchOpportunitiesRequest(department="Data", sort=DEADLINE, page_size=500)
    ids, total, answers = await search_all(c, request, pages=100)
    assert ids == expected(bulk, department="data", sort=DEADLINE) and len(ids) == total
    unfiltered = await c.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(page_size=3), metadata=c.metadata)
    assert unfiltered.total >= N


async def test_a_posting_is_searchable_at_once_and_gone_when_closed(stack, bulk):
    owner = uid("O")
    c = stack.as_(owner)
    word = f"zq{uid('')[1:].lower()}"
    posted = await c.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title=f"Pricing {word} study", type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=4, department="Data",
        requirements=[O.RequirementInput(skill="sql", min_level=2)]), metadata=c.metadata)
    found = await c.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(text=word), metadata=c.metadata)
    assert [r.opportunity.opportunity_id for r in found.results] == [posted.opportunity_id]
    newest = await c.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(page_size=1), metadata=c.metadata)
    assert newest.results[0].opportunity.opportunity_id == posted.opportunity_id
    await c.opportunity.ChangeRequirements(O.ChangeRequirementsRequest(
        opportunity_id=posted.opportunity_id, requirements=[O.RequirementInput(skill="figma", min_level=1)]),
        metadata=c.metadata)
    by_skill = await c.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(text=word, skills=["figma"]),
                                                       metadata=c.metadata)
    assert by_skill.total == 1
    await c.opportunity.CloseOpportunity(O.CloseOpportunityRequest(opportunity_id=posted.opportunity_id),
                                         metadata=c.metadata)
    gone = await c.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(text=word), metadata=c.metadata)
    assert gone.total == 0 and not gone.results


async def test_bad_searches_are_refused_naming_the_field(stack):
    c = stack.as_(uid("E"))
    s, md = c.opportunity.SearchOpportunities, c.metadata
    for request, field in [
        (O.SearchOpportunitiesRequest(types=[0]), "types[0]"),
        (O.SearchOpportunitiesRequest(skills=["sql", "no such skill at all"]), "skills[1]"),
        (O.SearchOpportunitiesRequest(min_hours_per_week=-1), "min_hours_per_week"),
        (O.SearchOpportunitiesRequest(min_hours_per_week=10, max_hours_per_week=5), "min_hours_per_week"),
        (O.SearchOpportunitiesRequest(max_hours_per_week=1000), "max_hours_per_week"),
        (O.SearchOpportunitiesRequest(text="x" * 300), "text"),
        (O.SearchOpportunitiesRequest(page_size=-1), "page_size"),
        (O.SearchOpportunitiesRequest(page_token="garbage"), "page_token"),
        (O.SearchOpportunitiesRequest(sort=99), "sort"),
    ]:
        await expect_error(s(request, metadata=md), Code.INVALID_ARGUMENT, field)
    first = await s(O.SearchOpportunitiesRequest(page_size=2), metadata=md)
    await expect_error(s(O.SearchOpportunitiesRequest(page_size=2, department="Data", page_token=first.next_page_token),
                         metadata=md), Code.INVALID_ARGUMENT, "another search")
    await expect_error(s(O.SearchOpportunitiesRequest()), Code.UNAUTHENTICATED)


# ------------------------------------------------------------------ the caller's match (matcher last: it stops)

async def wait_scored(c, employee: str, opp_ids: list[str], timeout_s: float = 60) -> dict[str, int]:
    """Until the matcher scores the employee on all of them."""
    last = ""
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                got = await c.matcher.ScoreOpportunities(matcher_pb2.ScoreOpportunitiesRequest(
                    employee_id=employee, opportunity_ids=opp_ids), metadata=c.metadata, timeout=5)
                scores = {m.opportunity_id: m.score_percent for m in got.matches}
                if set(scores) == set(opp_ids):
                    return scores
                last = f"scored {sorted(scores)}"
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (Code.NOT_FOUND, Code.UNAVAILABLE):
                    raise
                last = exc.details()
            await asyncio.sleep(0.3)
    raise AssertionError(last)


async def test_the_caller_sees_their_own_match_percent_and_can_sort_by_it(stack, bulk):
    emp, owner = uid("E"), uid("O")
    hr = stack.clients
    await hr.profile.CreateEmployee(P.CreateEmployeeRequest(employee_id=emp, name="Searcher"), metadata=hr.metadata)
    me = stack.as_(emp)
    for skill, level in (("sql", 3), ("excel", 2)):
        await me.profile.UpsertSkill(P.UpsertSkillRequest(employee_id=emp, skill=skill, level=level), metadata=me.metadata)
    word = f"zm{uid('')[1:].lower()}"
    own = stack.as_(owner)
    posted = []
    for title, reqs in ((f"{word} sql gig", [("sql", 3)]), (f"{word} mixed gig", [("sql", 3), ("python", 3)]),
                        (f"{word} far gig", [("figma", 3)])):
        opp = await own.opportunity.PostOpportunity(O.PostOpportunityRequest(
            title=title, type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=2,
            requirements=[O.RequirementInput(skill=s, min_level=lv) for s, lv in reqs]), metadata=own.metadata)
        posted.append(opp.opportunity_id)
    mine = await me.opportunity.PostOpportunity(O.PostOpportunityRequest(
        title=f"{word} my own gig", type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=2,
        requirements=[O.RequirementInput(skill="sql", min_level=1)]), metadata=me.metadata)
    scores = await wait_scored(hr, emp, posted)
    assert scores[posted[0]] == 50 and scores[posted[1]] == 25 and scores[posted[2]] == 0  # claimed: 0.5 credit

    by_match = await me.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(text=word, sort=MATCH),
                                                        metadata=me.metadata)
    assert by_match.match_available and by_match.sorted_by == MATCH
    got = [(r.opportunity.opportunity_id, r.match_percent if r.HasField("match_percent") else None)
           for r in by_match.results]
    assert got == [(posted[0], 50), (posted[1], 25), (posted[2], 0), (mine.opportunity_id, None)]  # own: no score
    newest = await me.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(text=word), metadata=me.metadata)
    assert [r.match_percent for r in newest.results if r.HasField("match_percent")] == [0, 25, 50]
    # another employee sees their own percent (the matcher does not know them: none), never the first one's
    other = stack.as_(uid("E"))
    theirs = await other.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(text=word), metadata=other.metadata)
    assert not theirs.match_available and not any(r.HasField("match_percent") for r in theirs.results)

    # the matcher gone: no percents, MATCH falls back to NEWEST and says so
    stack.procs["matcher"].stop(timeout=15)
    down = await me.opportunity.SearchOpportunities(O.SearchOpportunitiesRequest(text=word, sort=MATCH),
                                                    metadata=me.metadata)
    assert not down.match_available and down.sorted_by == NEWEST
    assert [r.opportunity.opportunity_id for r in down.results] == [mine.opportunity_id, *reversed(posted)]
    assert not any(r.HasField("match_percent") for r in down.results)
