import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from itm.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    __slots__ = ("page_size", "page_token", "open_only", "status", "approver_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    APPROVER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    open_only: bool
    status: _common_pb2.OpportunityStatus
    approver_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., open_only: _Optional[bool] = ..., status: _Optional[_Union[_common_pb2.OpportunityStatus, str]] = ..., approver_id: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("applications", "next_page_token")
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    applications: _containers.RepeatedCompositeFieldContainer[_common_pb2.Application]
    next_page_token: str
    def __init__(self, applications: _Optional[_Iterable[_Union[_common_pb2.Application, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
