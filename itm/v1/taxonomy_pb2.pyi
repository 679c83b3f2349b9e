from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SkillMatchKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SKILL_MATCH_KIND_UNSPECIFIED: _ClassVar[SkillMatchKind]
    SKILL_MATCH_KIND_EXACT: _ClassVar[SkillMatchKind]
    SKILL_MATCH_KIND_PREFIX: _ClassVar[SkillMatchKind]
    SKILL_MATCH_KIND_WORD: _ClassVar[SkillMatchKind]
    SKILL_MATCH_KIND_FUZZY: _ClassVar[SkillMatchKind]
SKILL_MATCH_KIND_UNSPECIFIED: SkillMatchKind
SKILL_MATCH_KIND_EXACT: SkillMatchKind
SKILL_MATCH_KIND_PREFIX: SkillMatchKind
SKILL_MATCH_KIND_WORD: SkillMatchKind
SKILL_MATCH_KIND_FUZZY: SkillMatchKind

class RelatedSkill(_message.Message):
    __slots__ = ("skill_id", "name", "strength")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    name: str
    strength: float
    def __init__(self, skill_id: _Optional[str] = ..., name: _Optional[str] = ..., strength: _Optional[float] = ...) -> None: ...

class TaxonomySkill(_message.Message):
    __slots__ = ("skill_id", "name", "category", "aliases", "related", "description", "uri", "resolved_from")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    RELATED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FROM_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    name: str
    category: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    related: _containers.RepeatedCompositeFieldContainer[RelatedSkill]
    description: str
    uri: str
    resolved_from: str
    def __init__(self, skill_id: _Optional[str] = ..., name: _Optional[str] = ..., category: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., related: _Optional[_Iterable[_Union[RelatedSkill, _Mapping]]] = ..., description: _Optional[str] = ..., uri: _Optional[str] = ..., resolved_from: _Optional[str] = ...) -> None: ...

class ListSkillsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "category")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    category: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., category: _Optional[str] = ...) -> None: ...

class ListSkillsResponse(_message.Message):
    __slots__ = ("skills", "next_page_token", "total", "taxonomy_version")
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_VERSION_FIELD_NUMBER: _ClassVar[int]
    skills: _containers.RepeatedCompositeFieldContainer[TaxonomySkill]
    next_page_token: str
    total: int
    taxonomy_version: str
    def __init__(self, skills: _Optional[_Iterable[_Union[TaxonomySkill, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ..., taxonomy_version: _Optional[str] = ...) -> None: ...

class SearchSkillsRequest(_message.Message):
    __slots__ = ("query", "limit", "category", "include_related")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RELATED_FIELD_NUMBER: _ClassVar[int]
    query: str
    limit: int
    category: str
    include_related: bool
    def __init__(self, query: _Optional[str] = ..., limit: _Optional[int] = ..., category: _Optional[str] = ..., include_related: _Optional[bool] = ...) -> None: ...

class SkillSearchHit(_message.Message):
    __slots__ = ("skill", "matched", "kind", "distance")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    skill: TaxonomySkill
    matched: str
    kind: SkillMatchKind
    distance: int
    def __init__(self, skill: _Optional[_Union[TaxonomySkill, _Mapping]] = ..., matched: _Optional[str] = ..., kind: _Optional[_Union[SkillMatchKind, str]] = ..., distance: _Optional[int] = ...) -> None: ...

class SearchSkillsResponse(_message.Message):
    __slots__ = ("hits", "taxonomy_version")
    HITS_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_VERSION_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SkillSearchHit]
    taxonomy_version: str
    def __init__(self, hits: _Optional[_Iterable[_Union[SkillSearchHit, _Mapping]]] = ..., taxonomy_version: _Optional[str] = ...) -> None: ...

class GetSkillRequest(_message.Message):
    __slots__ = ("skill",)
    SKILL_FIELD_NUMBER: _ClassVar[int]
    skill: str
    def __init__(self, skill: _Optional[str] = ...) -> None: ...

class ListSkillCategoriesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SkillCategory(_message.Message):
    __slots__ = ("category", "skills")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    category: str
    skills: int
    def __init__(self, category: _Optional[str] = ..., skills: _Optional[int] = ...) -> None: ...

class ListSkillCategoriesResponse(_message.Message):
    __slots__ = ("categories", "taxonomy_version")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_VERSION_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[SkillCategory]
    taxonomy_version: str
    def __init__(self, categories: _Optional[_Iterable[_Union[SkillCategory, _Mapping]]] = ..., taxonomy_version: _Optional[str] = ...) -> None: ...
