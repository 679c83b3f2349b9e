"""``itm.v1.TaxonomyService``, served by the profile service: the skills taxonomy
for autocomplete, browsing and resolving typed text to canonical ids.

The gRPC glue only: search and paging are ``itm.taxonomy_search.SkillSearch``
(pure, built once when the service starts). Every authenticated caller may use
it; the answers carry the taxonomy's version.
"""

from __future__ import annotations

import grpc

from itm.runtime.domain import check_text, invalid, page_size_of
from itm.taxonomy import Skill, Taxonomy, UnknownSkill
from itm.taxonomy_search import EXACT, FUZZY, MAX_LIMIT, PREFIX, WORD
from itm.v1 import taxonomy_pb2, taxonomy_pb2_grpc

MAX_QUERY = 200
DEFAULT_LIMIT = 10
KINDS = {EXACT: taxonomy_pb2.SKILL_MATCH_KIND_EXACT, PREFIX: taxonomy_pb2.SKILL_MATCH_KIND_PREFIX,
         WORD: taxonomy_pb2.SKILL_MATCH_KIND_WORD, FUZZY: taxonomy_pb2.SKILL_MATCH_KIND_FUZZY}


class TaxonomyServicer(taxonomy_pb2_grpc.TaxonomyServiceServicer):
    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.index = taxonomy.search_index()  # built here, at start-up, not on the first search

    def skill(self, s: Skill, related: bool = True) -> taxonomy_pb2.TaxonomySkill:
        out = taxonomy_pb2.TaxonomySkill(skill_id=s.id, name=s.name, category=s.category, aliases=list(s.aliases),
                                         description=s.description, uri=s.uri)
        if related:
            out.related.extend(taxonomy_pb2.RelatedSkill(skill_id=r.id, name=r.name, strength=strength)
                               for r, strength in self.index.related(s))
        return out

    async def _category(self, context, category: str) -> str:
        if category and category not in self.index.categories():
            await invalid(context, f"category {category[:80]!r} is not in the taxonomy; ListSkillCategories lists "
                                   f"its {len(self.index.categories())} categories")
        return category

    async def ListSkills(self, request, context):
        size = await page_size_of(context, request.page_size)
        category = await self._category(context, request.category)
        if request.page_token and request.page_token not in self.taxonomy:
            await invalid(context, "page_token is not one this service issued; pass next_page_token from the previous page")
        skills, token = self.index.page(request.page_token, size, category)
        total = self.index.categories()[category] if category else len(self.taxonomy)
        return taxonomy_pb2.ListSkillsResponse(skills=[self.skill(s) for s in skills], next_page_token=token,
                                               total=total, taxonomy_version=self.taxonomy.version)

    async def SearchSkills(self, request, context):
        await check_text(context, request.query, "query", MAX_QUERY)
        if not 0 <= request.limit <= MAX_LIMIT:
            await invalid(context, f"limit must be between 0 and {MAX_LIMIT} (0 = {DEFAULT_LIMIT}), got {request.limit}")
        category = await self._category(context, request.category)
        hits = self.index.search(request.query, request.limit or DEFAULT_LIMIT, category)
        return taxonomy_pb2.SearchSkillsResponse(
            hits=[taxonomy_pb2.SkillSearchHit(skill=self.skill(h.skill, request.include_related), matched=h.matched,
                                              kind=KINDS[h.kind], distance=h.distance) for h in hits],
            taxonomy_version=self.taxonomy.version)

    async def GetSkill(self, request, context):
        if not request.skill.strip():
            await invalid(context, "skill is required (an id, display name or alias)")
        await check_text(context, request.skill, "skill", MAX_QUERY)
        try:
            skill = self.taxonomy.get(self.taxonomy.normalise(request.skill))
        except UnknownSkill as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc) if len(request.skill) <= 80
                                else f"unknown skill; did you mean: {', '.join(exc.suggestions) or 'nothing close'}?")
        out = self.skill(skill)
        if request.skill != skill.id:
            out.resolved_from = request.skill
        return out

    async def ListSkillCategories(self, request, context):
        return taxonomy_pb2.ListSkillCategoriesResponse(
            categories=[taxonomy_pb2.SkillCategory(category=c, skills=n) for c, n in self.index.categories().items()],
            taxonomy_version=self.taxonomy.version)


def add_to(server, taxonomy: Taxonomy | None = None) -> TaxonomyServicer:
    servicer = TaxonomyServicer(taxonomy or Taxonomy.configured())
    taxonomy_pb2_grpc.add_TaxonomyServiceServicer_to_server(servicer, server)
    return servicer
