import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SkillStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SKILL_STATUS_UNSPECIFIED: _ClassVar[SkillStatus]
    SKILL_STATUS_CLAIMED: _ClassVar[SkillStatus]
    SKILL_STATUS_ASPIRATIONAL: _ClassVar[SkillStatus]
    SKILL_STATUS_INFERRED: _ClassVar[SkillStatus]
    SKILL_STATUS_VERIFIED: _ClassVar[SkillStatus]

class EvidenceSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVIDENCE_SOURCE_UNSPECIFIED: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_SELF: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_MANAGER: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_ASSESSMENT: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_COURSE: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_GIG: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_PEER: _ClassVar[EvidenceSource]
    EVIDENCE_SOURCE_HRIS: _ClassVar[EvidenceSource]

class OpportunityType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPPORTUNITY_TYPE_UNSPECIFIED: _ClassVar[OpportunityType]
    OPPORTUNITY_TYPE_GIG: _ClassVar[OpportunityType]
    OPPORTUNITY_TYPE_PROJECT: _ClassVar[OpportunityType]
    OPPORTUNITY_TYPE_MENTORSHIP: _ClassVar[OpportunityType]
    OPPORTUNITY_TYPE_JOB_SHADOWING: _ClassVar[OpportunityType]
    OPPORTUNITY_TYPE_FREELANCE: _ClassVar[OpportunityType]
    OPPORTUNITY_TYPE_ROLE: _ClassVar[OpportunityType]

class OpportunityStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPPORTUNITY_STATUS_UNSPECIFIED: _ClassVar[OpportunityStatus]
    OPPORTUNITY_STATUS_PENDING_APPROVAL: _ClassVar[OpportunityStatus]
    OPPORTUNITY_STATUS_OPEN: _ClassVar[OpportunityStatus]
    OPPORTUNITY_STATUS_CLOSED: _ClassVar[OpportunityStatus]
    OPPORTUNITY_STATUS_FILLED: _ClassVar[OpportunityStatus]

class ApplicationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLICATION_STATUS_UNSPECIFIED: _ClassVar[ApplicationStatus]
    APPLICATION_STATUS_SUBMITTED: _ClassVar[ApplicationStatus]
    APPLICATION_STATUS_SHORTLISTED: _ClassVar[ApplicationStatus]
    APPLICATION_STATUS_ACCEPTED: _ClassVar[ApplicationStatus]
    APPLICATION_STATUS_DECLINED: _ClassVar[ApplicationStatus]
    APPLICATION_STATUS_WITHDRAWN: _ClassVar[ApplicationStatus]
    APPLICATION_STATUS_COMPLETED: _ClassVar[ApplicationStatus]

class TimeReleaseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_RELEASE_STATUS_UNSPECIFIED: _ClassVar[TimeReleaseStatus]
    TIME_RELEASE_STATUS_PENDING: _ClassVar[TimeReleaseStatus]
    TIME_RELEASE_STATUS_APPROVED: _ClassVar[TimeReleaseStatus]
    TIME_RELEASE_STATUS_REFUSED: _ClassVar[TimeReleaseStatus]
SKILL_STATUS_UNSPECIFIED: SkillStatus
SKILL_STATUS_CLAIMED: SkillStatus
SKILL_STATUS_ASPIRATIONAL: SkillStatus
SKILL_STATUS_INFERRED: SkillStatus
SKILL_STATUS_VERIFIED: SkillStatus
EVIDENCE_SOURCE_UNSPECIFIED: EvidenceSource
EVIDENCE_SOURCE_SELF: EvidenceSource
EVIDENCE_SOURCE_MANAGER: EvidenceSource
EVIDENCE_SOURCE_ASSESSMENT: EvidenceSource
EVIDENCE_SOURCE_COURSE: EvidenceSource
EVIDENCE_SOURCE_GIG: EvidenceSource
EVIDENCE_SOURCE_PEER: EvidenceSource
EVIDENCE_SOURCE_HRIS: EvidenceSource
OPPORTUNITY_TYPE_UNSPECIFIED: OpportunityType
OPPORTUNITY_TYPE_GIG: OpportunityType
OPPORTUNITY_TYPE_PROJECT: OpportunityType
OPPORTUNITY_TYPE_MENTORSHIP: OpportunityType
OPPORTUNITY_TYPE_JOB_SHADOWING: OpportunityType
OPPORTUNITY_TYPE_FREELANCE: OpportunityType
OPPORTUNITY_TYPE_ROLE: OpportunityType
OPPORTUNITY_STATUS_UNSPECIFIED: OpportunityStatus
OPPORTUNITY_STATUS_PENDING_APPROVAL: OpportunityStatus
OPPORTUNITY_STATUS_OPEN: OpportunityStatus
OPPORTUNITY_STATUS_CLOSED: OpportunityStatus
OPPORTUNITY_STATUS_FILLED: OpportunityStatus
APPLICATION_STATUS_UNSPECIFIED: ApplicationStatus
APPLICATION_STATUS_SUBMITTED: ApplicationStatus
APPLICATION_STATUS_SHORTLISTED: ApplicationStatus
APPLICATION_STATUS_ACCEPTED: ApplicationStatus
APPLICATION_STATUS_DECLINED: ApplicationStatus
APPLICATION_STATUS_WITHDRAWN: ApplicationStatus
APPLICATION_STATUS_COMPLETED: ApplicationStatus
TIME_RELEASE_STATUS_UNSPECIFIED: TimeReleaseStatus
TIME_RELEASE_STATUS_PENDING: TimeReleaseStatus
TIME_RELEASE_STATUS_APPROVED: TimeReleaseStatus
TIME_RELEASE_STATUS_REFUSED: TimeReleaseStatus

class EmployeeSkill(_message.Message):
    __slots__ = ("skill_id", "level", "status", "source")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    level: int
    status: SkillStatus
    source: EvidenceSource
    def __init__(self, skill_id: _Optional[str] = ..., level: _Optional[int] = ..., status: _Optional[_Union[SkillStatus, str]] = ..., source: _Optional[_Union[EvidenceSource, str]] = ...) -> None: ...

class Requirement(_message.Message):
    __slots__ = ("skill_id", "min_level", "weight", "must_have")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MUST_HAVE_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    min_level: int
    weight: float
    must_have: bool
    def __init__(self, skill_id: _Optional[str] = ..., min_level: _Optional[int] = ..., weight: _Optional[float] = ..., must_have: _Optional[bool] = ...) -> None: ...

class EmployeeMatchProfile(_message.Message):
    __slots__ = ("employee_id", "skills", "threshold_percent", "opted_out", "opportunity_types", "mentoring_opt_in", "department", "location", "hidden_from_opportunity_owners")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_PERCENT_FIELD_NUMBER: _ClassVar[int]
    OPTED_OUT_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    MENTORING_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FROM_OPPORTUNITY_OWNERS_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    skills: _containers.RepeatedCompositeFieldContainer[EmployeeSkill]
    threshold_percent: int
    opted_out: bool
    opportunity_types: _containers.RepeatedScalarFieldContainer[OpportunityType]
    mentoring_opt_in: bool
    department: str
    location: str
    hidden_from_opportunity_owners: bool
    def __init__(self, employee_id: _Optional[str] = ..., skills: _Optional[_Iterable[_Union[EmployeeSkill, _Mapping]]] = ..., threshold_percent: _Optional[int] = ..., opted_out: _Optional[bool] = ..., opportunity_types: _Optional[_Iterable[_Union[OpportunityType, str]]] = ..., mentoring_opt_in: _Optional[bool] = ..., department: _Optional[str] = ..., location: _Optional[str] = ..., hidden_from_opportunity_owners: _Optional[bool] = ...) -> None: ...

class OpportunityMatchProfile(_message.Message):
    __slots__ = ("opportunity_id", "title", "type", "status", "requirements", "department", "owner_id", "hours_per_week", "posted_at")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    POSTED_AT_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    title: str
    type: OpportunityType
    status: OpportunityStatus
    requirements: _containers.RepeatedCompositeFieldContainer[Requirement]
    department: str
    owner_id: str
    hours_per_week: float
    posted_at: _timestamp_pb2.Timestamp
    def __init__(self, opportunity_id: _Optional[str] = ..., title: _Optional[str] = ..., type: _Optional[_Union[OpportunityType, str]] = ..., status: _Optional[_Union[OpportunityStatus, str]] = ..., requirements: _Optional[_Iterable[_Union[Requirement, _Mapping]]] = ..., department: _Optional[str] = ..., owner_id: _Optional[str] = ..., hours_per_week: _Optional[float] = ..., posted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CourseSkill(_message.Message):
    __slots__ = ("skill_id", "level")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    level: int
    def __init__(self, skill_id: _Optional[str] = ..., level: _Optional[int] = ...) -> None: ...

class Course(_message.Message):
    __slots__ = ("course_id", "title", "hours", "format", "provider", "teaches", "retired", "version")
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TEACHES_FIELD_NUMBER: _ClassVar[int]
    RETIRED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    course_id: str
    title: str
    hours: float
    format: str
    provider: str
    teaches: _containers.RepeatedCompositeFieldContainer[CourseSkill]
    retired: bool
    version: int
    def __init__(self, course_id: _Optional[str] = ..., title: _Optional[str] = ..., hours: _Optional[float] = ..., format: _Optional[str] = ..., provider: _Optional[str] = ..., teaches: _Optional[_Iterable[_Union[CourseSkill, _Mapping]]] = ..., retired: _Optional[bool] = ..., version: _Optional[int] = ...) -> None: ...

class SkillFeedback(_message.Message):
    __slots__ = ("skill_id", "level", "comment")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    level: int
    comment: str
    def __init__(self, skill_id: _Optional[str] = ..., level: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class Application(_message.Message):
    __slots__ = ("application_id", "opportunity_id", "employee_id", "status", "note", "owner_id", "opportunity_type", "hours_per_week", "time_release", "release_approver_id", "decided_by", "reason", "feedback", "submitted_at", "updated_at", "version")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    HOURS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    TIME_RELEASE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_APPROVER_ID_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    opportunity_id: str
    employee_id: str
    status: ApplicationStatus
    note: str
    owner_id: str
    opportunity_type: OpportunityType
    hours_per_week: float
    time_release: TimeReleaseStatus
    release_approver_id: str
    decided_by: str
    reason: str
    feedback: _containers.RepeatedCompositeFieldContainer[SkillFeedback]
    submitted_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    version: int
    def __init__(self, application_id: _Optional[str] = ..., opportunity_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., status: _Optional[_Union[ApplicationStatus, str]] = ..., note: _Optional[str] = ..., owner_id: _Optional[str] = ..., opportunity_type: _Optional[_Union[OpportunityType, str]] = ..., hours_per_week: _Optional[float] = ..., time_release: _Optional[_Union[TimeReleaseStatus, str]] = ..., release_approver_id: _Optional[str] = ..., decided_by: _Optional[str] = ..., reason: _Optional[str] = ..., feedback: _Optional[_Iterable[_Union[SkillFeedback, _Mapping]]] = ..., submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class ReplayRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReplayResponse(_message.Message):
    __slots__ = ("events_emitted",)
    EVENTS_EMITTED_FIELD_NUMBER: _ClassVar[int]
    events_emitted: int
    def __init__(self, events_emitted: _Optional[int] = ...) -> None: ...
