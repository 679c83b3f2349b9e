"""itm.v1.TaxonomyService over gRPC, served by the profile service: autocomplete,
browsing by page and category, resolving typed text, and bad input refused."""

from __future__ import annotations

import grpc
import pytest

from _stack import ModuleStack, expect_error
from itm.taxonomy import Taxonomy
from itm.v1 import taxonomy_pb2 as T

Code = grpc.StatusCode


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("taxonomy"))
    await s.start({"profile": {}}, [])
    yield s
    await s.close(failed=request.session.testsfailed > 0)


async def test_autocomplete_ranks_prefixes_aliases_and_typos_for_any_employee(stack):
    me = stack.as_("E-tax", "employee")
    tax = Taxonomy.load_default()

    async def search(query, **kw):
        return await me.taxonomy.SearchSkills(T.SearchSkillsRequest(query=query, **kw), metadata=me.metadata)

    answer = await search("postgres", include_related=True)
    first = answer.hits[0]
    assert (first.skill.skill_id, first.skill.name, first.matched, first.kind) == (
        "postgresql", "PostgreSQL", "postgres", T.SKILL_MATCH_KIND_EXACT)
    assert first.skill.category == "databases" and "psql" in first.skill.aliases
    assert ("sql", 0.8) in [(r.skill_id, r.strength) for r in first.skill.related]
    assert answer.taxonomy_version == tax.version

    typo = await search("pyhton", limit=3)
    assert typo.hits[0].skill.skill_id == "python" and typo.hits[0].kind == T.SKILL_MATCH_KIND_FUZZY
    assert not typo.hits[0].skill.related  # only with include_related
    stake = await search("stakeholder man")
    assert [h.skill.skill_id for h in stake.hits][:1] == ["stakeholder-management"]
    word = await search("management", limit=50)
    assert "stakeholder-management" in [h.skill.skill_id for h in word.hits if h.kind == T.SKILL_MATCH_KIND_WORD]
    only_db = await search("s", limit=50, category="databases")
    assert only_db.hits and {h.skill.category for h in only_db.hits} == {"databases"}
    assert len((await search("s", limit=7)).hits) == 7 and not (await search("")).hits


async def test_pages_and_categories_cover_the_taxonomy(stack):
    c = stack.as_("E-tax", "employee")
    tax = Taxonomy.load_default()
    seen, token = [], ""
    while True:
        page = await c.taxonomy.ListSkills(T.ListSkillsRequest(page_size=100, page_token=token), metadata=c.metadata)
        assert page.total == len(tax)
        seen += [s.skill_id for s in page.skills]
        token = page.next_page_token
        if not token:
            break
    assert seen == tax.ids()
    cats = await c.taxonomy.ListSkillCategories(T.ListSkillCategoriesRequest(), metadata=c.metadata)
    assert sum(x.skills for x in cats.categories) == len(tax)
    db = await c.taxonomy.ListSkills(T.ListSkillsRequest(category="databases", page_size=500), metadata=c.metadata)
    assert {s.category for s in db.skills} == {"databases"} and db.total == len(db.skills) and not db.next_page_token
    got = await c.taxonomy.GetSkill(T.GetSkillRequest(skill="Postgres"), metadata=c.metadata)
    assert (got.skill_id, got.resolved_from) == ("postgresql", "Postgres")
    assert (await c.taxonomy.GetSkill(T.GetSkillRequest(skill="sql"), metadata=c.metadata)).resolved_from == ""


async def test_bad_input_is_refused_naming_the_field(stack):
    c = stack.as_("E-tax", "employee")
    t, md = c.taxonomy, c.metadata
    await expect_error(t.SearchSkills(T.SearchSkillsRequest(query="x" * 5000), metadata=md), Code.INVALID_ARGUMENT, "query")
    await expect_error(t.SearchSkills(T.SearchSkillsRequest(query="sql", limit=101), metadata=md),
                       Code.INVALID_ARGUMENT, "limit")
    await expect_error(t.SearchSkills(T.SearchSkillsRequest(query="sql", category="nope"), metadata=md),
                       Code.INVALID_ARGUMENT, "category")
    await expect_error(t.ListSkills(T.ListSkillsRequest(page_token="not a token"), metadata=md),
                       Code.INVALID_ARGUMENT, "page_token")
    await expect_error(t.ListSkills(T.ListSkillsRequest(page_size=-1), metadata=md), Code.INVALID_ARGUMENT, "page_size")
    await expect_error(t.GetSkill(T.GetSkillRequest(skill="pythn"), metadata=md), Code.NOT_FOUND, "python")
    await expect_error(t.GetSkill(T.GetSkillRequest(), metadata=md), Code.INVALID_ARGUMENT, "skill")
    await expect_error(t.SearchSkills(T.SearchSkillsRequest(query="sql")), Code.UNAUTHENTICATED)
