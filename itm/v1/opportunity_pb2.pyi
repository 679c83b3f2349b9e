import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from itm.v1 import common_pb2 as _common_pb2
from itm.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OpportunitySort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPPORTUNITY_SORT_UNSPECIFIED: _ClassVar[OpportunitySort]
    OPPORTUNITY_SORT_NEWEST: _ClassVar[OpportunitySort]
    OPPORTUNITY_SORT_DEADLINE: _ClassVar[OpportunitySort]
    OPPORTUNITY_SORT_MATCH: _ClassVar[OpportunitySort]
OPPORTUNITY_SORT_UNSPECIFIED: OpportunitySort
OPPORTUNITY_SORT_NEWEST: OpportunitySort
OPPORTUNITY_SORT_DEADLINE: OpportunitySort
OPPORTUNITY_SORT_MATCH: OpportunitySort

class RequirementInput(_message.Message):
    __slots__ = ("skill", "min_level", "weight", "must_have")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MUST_HAVE_FIELD_NUMBER: _ClassVar[int]
    skill: str
    min_level: int
    weight: float
    must_have: bool
    def __init__(self, skill: _Optional[str] = ..., min_level: _Optional[int] = ..., weight: _Optional[float] = ..., must_have: _Optional[bool] = ...) -> None: ...

class Opportunity(_message.Message):
    __slots__ = ("opportunity_id", "title", "type", "status", "requirements", "hours_per_week", "duration_weeks", "department", "location", "remote", "seats", "owner_id", "description", "outcome", "version", "approver_id", "decided_by", "assigned_employee_ids", "seats_taken", "created_at", "updated_at", "reason", "apply_by")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    DURATION_WEEKS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    REMOTE_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    APPROVER_ID_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_EMPLOYEE_IDS_FIELD_NUMBER: _ClassVar[int]
    SEATS_TAKEN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    APPLY_BY_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    title: str
    type: _common_pb2.OpportunityType
    status: _common_pb2.OpportunityStatus
    requirements: _containers.RepeatedCompositeFieldContainer[_common_pb2.Requirement]
    hours_per_week: float
    duration_weeks: int
    department: str
    location: str
    remote: bool
    seats: int
    owner_id: str
    description: str
    outcome: str
    version: int
    approver_id: str
    decided_by: str
    assigned_employee_ids: _containers.RepeatedScalarFieldContainer[str]
    seats_taken: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    reason: str
    apply_by: _timestamp_pb2.Timestamp
    def __init__(self, opportunity_id: _Optional[str] = ..., title: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.OpportunityType, str]] = ..., status: _Optional[_Union[_common_pb2.OpportunityStatus, str]] = ..., requirements: _Optional[_Iterable[_Union[_common_pb2.Requirement, _Mapping]]] = ..., hours_per_week: _Optional[float] = ..., duration_weeks: _Optional[int] = ..., department: _Optional[str] = ..., location: _Optional[str] = ..., remote: _Optional[bool] = ..., seats: _Optional[int] = ..., owner_id: _Optional[str] = ..., description: _Optional[str] = ..., outcome: _Optional[str] = ..., version: _Optional[int] = ..., approver_id: _Optional[str] = ..., decided_by: _Optional[str] = ..., assigned_employee_ids: _Optional[_Iterable[str]] = ..., seats_taken: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., apply_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PostOpportunityRequest(_message.Message):
    __slots__ = ("request_id", "title", "type", "requirements", "hours_per_week", "duration_weeks", "department", "location", "remote", "seats", "owner_id", "description", "apply_by")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    DURATION_WEEKS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    REMOTE_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    APPLY_BY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    title: str
    type: _common_pb2.OpportunityType
    requirements: _containers.RepeatedCompositeFieldContainer[RequirementInput]
    hours_per_week: float
    duration_weeks: int
    department: str
    location: str
    remote: bool
    seats: int
    owner_id: str
    description: str
    apply_by: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., title: _Optional[str] = ..., type: _Optional[_Union[_common_pb2.OpportunityType, str]] = ..., requirements: _Optional[_Iterable[_Union[RequirementInput, _Mapping]]] = ..., hours_per_week: _Optional[float] = ..., duration_weeks: _Optional[int] = ..., department: _Optional[str] = ..., location: _Optional[str] = ..., remote: _Optional[bool] = ..., seats: _Optional[int] = ..., owner_id: _Optional[str] = ..., description: _Optional[str] = ..., apply_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetOpportunityRequest(_message.Message):
    __slots__ = ("opportunity_id",)
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    def __init__(self, opportunity_id: _Optional[str] = ...) -> None: ...

class ChangeRequirementsRequest(_message.Message):
    __slots__ = ("opportunity_id", "expected_version", "requirements")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    expected_version: int
    requirements: _containers.RepeatedCompositeFieldContainer[RequirementInput]
    def __init__(self, opportunity_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., requirements: _Optional[_Iterable[_Union[RequirementInput, _Mapping]]] = ...) -> None: ...

class ApproveOpportunityRequest(_message.Message):
    __slots__ = ("opportunity_id", "expected_version")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    expected_version: int
    def __init__(self, opportunity_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class RejectOpportunityRequest(_message.Message):
    __slots__ = ("opportunity_id", "expected_version", "reason")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    expected_version: int
    reason: str
    def __init__(self, opportunity_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class CloseOpportunityRequest(_message.Message):
    __slots__ = ("opportunity_id", "expected_version", "outcome", "assigned_employee_ids", "reason")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_EMPLOYEE_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    expected_version: int
    outcome: str
    assigned_employee_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, opportunity_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., outcome: _Optional[str] = ..., assigned_employee_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListOpportunitiesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "open_only", "status", "approver_id", "owner_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    APPROVER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    open_only: bool
    status: _common_pb2.OpportunityStatus
    approver_id: str
    owner_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., open_only: _Optional[bool] = ..., status: _Optional[_Union[_common_pb2.OpportunityStatus, str]] = ..., approver_id: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class ListOpportunitiesResponse(_message.Message):
    __slots__ = ("opportunities", "next_page_token")
    OPPORTUNITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    opportunities: _containers.RepeatedCompositeFieldContainer[Opportunity]
    next_page_token: str
    def __init__(self, opportunities: _Optional[_Iterable[_Union[Opportunity, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApplyRequest(_message.Message):
    __slots__ = ("request_id", "opportunity_id", "employee_id", "note")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    opportunity_id: str
    employee_id: str
    note: str
    def __init__(self, request_id: _Optional[str] = ..., opportunity_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class GetApplicationRequest(_message.Message):
    __slots__ = ("application_id",)
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    def __init__(self, application_id: _Optional[str] = ...) -> None: ...

class WithdrawApplicationRequest(_message.Message):
    __slots__ = ("application_id", "expected_version", "reason")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    expected_version: int
    reason: str
    def __init__(self, application_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ShortlistApplicationRequest(_message.Message):
    __slots__ = ("application_id", "expected_version")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    expected_version: int
    def __init__(self, application_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class AcceptApplicationRequest(_message.Message):
    __slots__ = ("application_id", "expected_version")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    expected_version: int
    def __init__(self, application_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeclineApplicationRequest(_message.Message):
    __slots__ = ("application_id", "expected_version", "reason")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    expected_version: int
    reason: str
    def __init__(self, application_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ApproveTimeReleaseRequest(_message.Message):
    __slots__ = ("application_id", "expected_version")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    expected_version: int
    def __init__(self, application_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class RefuseTimeReleaseRequest(_message.Message):
    __slots__ = ("application_id", "expected_version", "reason")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    expected_version: int
    reason: str
    def __init__(self, application_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class SkillFeedbackInput(_message.Message):
    __slots__ = ("skill", "level", "comment")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    skill: str
    level: int
    comment: str
    def __init__(self, skill: _Optional[str] = ..., level: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class CompleteAssignmentRequest(_message.Message):
    __slots__ = ("application_id", "expected_version", "feedback")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    expected_version: int
    feedback: _containers.RepeatedCompositeFieldContainer[SkillFeedbackInput]
    def __init__(self, application_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., feedback: _Optional[_Iterable[_Union[SkillFeedbackInput, _Mapping]]] = ...) -> None: ...

class ListApplicationsRequest(_message.Message):
    __slots__ = ("opportunity_id", "employee_id", "release_approver_id", "page_size", "page_token")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASE_APPROVER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    employee_id: str
    release_approver_id: str
    page_size: int
    page_token: str
    def __init__(self, opportunity_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., release_approver_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListApplicationsResponse(_message.Message):
    __slots__ = ("applications", "next_page_token", "assessments", "release_budgets")
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ASSESSMENTS_FIELD_NUMBER: _ClassVar[int]
    RELEASE_BUDGETS_FIELD_NUMBER: _ClassVar[int]
    applications: _containers.RepeatedCompositeFieldContainer[_common_pb2.Application]
    next_page_token: str
    assessments: _containers.RepeatedCompositeFieldContainer[ApplicantAssessment]
    release_budgets: _containers.RepeatedCompositeFieldContainer[TimeReleaseBudget]
    def __init__(self, applications: _Optional[_Iterable[_Union[_common_pb2.Application, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., assessments: _Optional[_Iterable[_Union[ApplicantAssessment, _Mapping]]] = ..., release_budgets: _Optional[_Iterable[_Union[TimeReleaseBudget, _Mapping]]] = ...) -> None: ...

class GetTimeReleaseBudgetRequest(_message.Message):
    __slots__ = ("employee_id",)
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    def __init__(self, employee_id: _Optional[str] = ...) -> None: ...

class ReleasedAssignment(_message.Message):
    __slots__ = ("application_id", "hours_per_week")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    hours_per_week: float
    def __init__(self, application_id: _Optional[str] = ..., hours_per_week: _Optional[float] = ...) -> None: ...

class TimeReleaseBudget(_message.Message):
    __slots__ = ("employee_id", "manager_id", "released_hours_per_week", "limit_hours_per_week", "remaining_hours_per_week", "share_percent", "hours_available_per_week", "assignments", "unavailable_reason")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASED_HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    LIMIT_HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    REMAINING_HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    SHARE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    HOURS_AVAILABLE_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    manager_id: str
    released_hours_per_week: float
    limit_hours_per_week: float
    remaining_hours_per_week: float
    share_percent: float
    hours_available_per_week: float
    assignments: _containers.RepeatedCompositeFieldContainer[ReleasedAssignment]
    unavailable_reason: str
    def __init__(self, employee_id: _Optional[str] = ..., manager_id: _Optional[str] = ..., released_hours_per_week: _Optional[float] = ..., limit_hours_per_week: _Optional[float] = ..., remaining_hours_per_week: _Optional[float] = ..., share_percent: _Optional[float] = ..., hours_available_per_week: _Optional[float] = ..., assignments: _Optional[_Iterable[_Union[ReleasedAssignment, _Mapping]]] = ..., unavailable_reason: _Optional[str] = ...) -> None: ...

class ApplicantSkill(_message.Message):
    __slots__ = ("skill_id", "required_level", "must_have", "weight", "level", "status", "source", "endorsements")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MUST_HAVE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ENDORSEMENTS_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    required_level: int
    must_have: bool
    weight: float
    level: int
    status: _common_pb2.SkillStatus
    source: _common_pb2.EvidenceSource
    endorsements: int
    def __init__(self, skill_id: _Optional[str] = ..., required_level: _Optional[int] = ..., must_have: _Optional[bool] = ..., weight: _Optional[float] = ..., level: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.SkillStatus, str]] = ..., source: _Optional[_Union[_common_pb2.EvidenceSource, str]] = ..., endorsements: _Optional[int] = ...) -> None: ...

class GetApplicantAssessmentRequest(_message.Message):
    __slots__ = ("application_id",)
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    def __init__(self, application_id: _Optional[str] = ...) -> None: ...

class ApplicantAssessment(_message.Message):
    __slots__ = ("application_id", "employee_id", "score_available", "score_percent", "qualified", "credits", "skills", "unavailable_reason")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    employee_id: str
    score_available: bool
    score_percent: int
    qualified: bool
    credits: _containers.RepeatedCompositeFieldContainer[_events_pb2.RequirementCredit]
    skills: _containers.RepeatedCompositeFieldContainer[ApplicantSkill]
    unavailable_reason: str
    def __init__(self, application_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., score_available: _Optional[bool] = ..., score_percent: _Optional[int] = ..., qualified: _Optional[bool] = ..., credits: _Optional[_Iterable[_Union[_events_pb2.RequirementCredit, _Mapping]]] = ..., skills: _Optional[_Iterable[_Union[ApplicantSkill, _Mapping]]] = ..., unavailable_reason: _Optional[str] = ...) -> None: ...

class SearchOpportunitiesRequest(_message.Message):
    __slots__ = ("types", "skills", "include_related_skills", "department", "location", "include_remote", "min_hours_per_week", "max_hours_per_week", "text", "owner_id", "sort", "page_size", "page_token")
    TYPES_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RELATED_SKILLS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_REMOTE_FIELD_NUMBER: _ClassVar[int]
    MIN_HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    MAX_HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[_common_pb2.OpportunityType]
    skills: _containers.RepeatedScalarFieldContainer[str]
    include_related_skills: bool
    department: str
    location: str
    include_remote: bool
    min_hours_per_week: float
    max_hours_per_week: float
    text: str
    owner_id: str
    sort: OpportunitySort
    page_size: int
    page_token: str
    def __init__(self, types: _Optional[_Iterable[_Union[_common_pb2.OpportunityType, str]]] = ..., skills: _Optional[_Iterable[str]] = ..., include_related_skills: _Optional[bool] = ..., department: _Optional[str] = ..., location: _Optional[str] = ..., include_remote: _Optional[bool] = ..., min_hours_per_week: _Optional[float] = ..., max_hours_per_week: _Optional[float] = ..., text: _Optional[str] = ..., owner_id: _Optional[str] = ..., sort: _Optional[_Union[OpportunitySort, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class OpportunitySearchResult(_message.Message):
    __slots__ = ("opportunity", "match_percent", "qualified")
    OPPORTUNITY_FIELD_NUMBER: _ClassVar[int]
    MATCH_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_FIELD_NUMBER: _ClassVar[int]
    opportunity: Opportunity
    match_percent: int
    qualified: bool
    def __init__(self, opportunity: _Optional[_Union[Opportunity, _Mapping]] = ..., match_percent: _Optional[int] = ..., qualified: _Optional[bool] = ...) -> None: ...

class SearchOpportunitiesResponse(_message.Message):
    __slots__ = ("results", "next_page_token", "total", "sorted_by", "match_available")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SORTED_BY_FIELD_NUMBER: _ClassVar[int]
    MATCH_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[OpportunitySearchResult]
    next_page_token: str
    total: int
    sorted_by: OpportunitySort
    match_available: bool
    def __init__(self, results: _Optional[_Iterable[_Union[OpportunitySearchResult, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ..., sorted_by: _Optional[_Union[OpportunitySort, str]] = ..., match_available: _Optional[bool] = ...) -> None: ...
