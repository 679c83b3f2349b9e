from itm.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmployeeRegistered(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: _common_pb2.EmployeeMatchProfile
    def __init__(self, profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ...) -> None: ...

class EmployeeUpdated(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: _common_pb2.EmployeeMatchProfile
    def __init__(self, profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ...) -> None: ...

class SkillAdded(_message.Message):
    __slots__ = ("skill", "profile")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    skill: _common_pb2.EmployeeSkill
    profile: _common_pb2.EmployeeMatchProfile
    def __init__(self, skill: _Optional[_Union[_common_pb2.EmployeeSkill, _Mapping]] = ..., profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ...) -> None: ...

class SkillRemoved(_message.Message):
    __slots__ = ("skill_id", "profile")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    profile: _common_pb2.EmployeeMatchProfile
    def __init__(self, skill_id: _Optional[str] = ..., profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ...) -> None: ...

class SkillVerified(_message.Message):
    __slots__ = ("skill", "verified_by", "course_id", "profile", "opportunity_id", "application_id")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_BY_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    skill: _common_pb2.EmployeeSkill
    verified_by: str
    course_id: str
    profile: _common_pb2.EmployeeMatchProfile
    opportunity_id: str
    application_id: str
    def __init__(self, skill: _Optional[_Union[_common_pb2.EmployeeSkill, _Mapping]] = ..., verified_by: _Optional[str] = ..., course_id: _Optional[str] = ..., profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ..., opportunity_id: _Optional[str] = ..., application_id: _Optional[str] = ...) -> None: ...

class SkillEndorsed(_message.Message):
    __slots__ = ("skill", "endorser_id", "level", "profile", "endorsements")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    ENDORSER_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    ENDORSEMENTS_FIELD_NUMBER: _ClassVar[int]
    skill: _common_pb2.EmployeeSkill
    endorser_id: str
    level: int
    profile: _common_pb2.EmployeeMatchProfile
    endorsements: int
    def __init__(self, skill: _Optional[_Union[_common_pb2.EmployeeSkill, _Mapping]] = ..., endorser_id: _Optional[str] = ..., level: _Optional[int] = ..., profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ..., endorsements: _Optional[int] = ...) -> None: ...

class VisibilityChanged(_message.Message):
    __slots__ = ("hide_aspirational_from_managers", "profile", "hidden_from_opportunity_owners")
    HIDE_ASPIRATIONAL_FROM_MANAGERS_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FROM_OPPORTUNITY_OWNERS_FIELD_NUMBER: _ClassVar[int]
    hide_aspirational_from_managers: bool
    profile: _common_pb2.EmployeeMatchProfile
    hidden_from_opportunity_owners: bool
    def __init__(self, hide_aspirational_from_managers: _Optional[bool] = ..., profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ..., hidden_from_opportunity_owners: _Optional[bool] = ...) -> None: ...

class PreferencesChanged(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: _common_pb2.EmployeeMatchProfile
    def __init__(self, profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ...) -> None: ...

class EmployeeErased(_message.Message):
    __slots__ = ("employee_id",)
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    def __init__(self, employee_id: _Optional[str] = ...) -> None: ...

class EmployeeDeactivated(_message.Message):
    __slots__ = ("profile", "reason")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    profile: _common_pb2.EmployeeMatchProfile
    reason: str
    def __init__(self, profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class EmployeeReactivated(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: _common_pb2.EmployeeMatchProfile
    def __init__(self, profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ...) -> None: ...

class EmployeeMoved(_message.Message):
    __slots__ = ("employee_id", "opportunity_id", "opportunity_title", "from_department", "to_department", "from_manager_id", "to_manager_id", "from_title", "to_title", "profile")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_TITLE_FIELD_NUMBER: _ClassVar[int]
    FROM_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    TO_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    FROM_MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    TO_MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TITLE_FIELD_NUMBER: _ClassVar[int]
    TO_TITLE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    opportunity_id: str
    opportunity_title: str
    from_department: str
    to_department: str
    from_manager_id: str
    to_manager_id: str
    from_title: str
    to_title: str
    profile: _common_pb2.EmployeeMatchProfile
    def __init__(self, employee_id: _Optional[str] = ..., opportunity_id: _Optional[str] = ..., opportunity_title: _Optional[str] = ..., from_department: _Optional[str] = ..., to_department: _Optional[str] = ..., from_manager_id: _Optional[str] = ..., to_manager_id: _Optional[str] = ..., from_title: _Optional[str] = ..., to_title: _Optional[str] = ..., profile: _Optional[_Union[_common_pb2.EmployeeMatchProfile, _Mapping]] = ...) -> None: ...

class GigPosted(_message.Message):
    __slots__ = ("opportunity", "approved_by")
    OPPORTUNITY_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    opportunity: _common_pb2.OpportunityMatchProfile
    approved_by: str
    def __init__(self, opportunity: _Optional[_Union[_common_pb2.OpportunityMatchProfile, _Mapping]] = ..., approved_by: _Optional[str] = ...) -> None: ...

class ApprovalRequested(_message.Message):
    __slots__ = ("opportunity", "approver_id", "threshold_hours")
    OPPORTUNITY_FIELD_NUMBER: _ClassVar[int]
    APPROVER_ID_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_HOURS_FIELD_NUMBER: _ClassVar[int]
    opportunity: _common_pb2.OpportunityMatchProfile
    approver_id: str
    threshold_hours: float
    def __init__(self, opportunity: _Optional[_Union[_common_pb2.OpportunityMatchProfile, _Mapping]] = ..., approver_id: _Optional[str] = ..., threshold_hours: _Optional[float] = ...) -> None: ...

class RequirementsChanged(_message.Message):
    __slots__ = ("opportunity",)
    OPPORTUNITY_FIELD_NUMBER: _ClassVar[int]
    opportunity: _common_pb2.OpportunityMatchProfile
    def __init__(self, opportunity: _Optional[_Union[_common_pb2.OpportunityMatchProfile, _Mapping]] = ...) -> None: ...

class GigClosed(_message.Message):
    __slots__ = ("opportunity", "outcome", "assigned_employee_ids")
    OPPORTUNITY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_EMPLOYEE_IDS_FIELD_NUMBER: _ClassVar[int]
    opportunity: _common_pb2.OpportunityMatchProfile
    outcome: str
    assigned_employee_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, opportunity: _Optional[_Union[_common_pb2.OpportunityMatchProfile, _Mapping]] = ..., outcome: _Optional[str] = ..., assigned_employee_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ApplicationSubmitted(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _common_pb2.Application
    def __init__(self, application: _Optional[_Union[_common_pb2.Application, _Mapping]] = ...) -> None: ...

class ApplicationWithdrawn(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _common_pb2.Application
    def __init__(self, application: _Optional[_Union[_common_pb2.Application, _Mapping]] = ...) -> None: ...

class ApplicationShortlisted(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _common_pb2.Application
    def __init__(self, application: _Optional[_Union[_common_pb2.Application, _Mapping]] = ...) -> None: ...

class ApplicationAccepted(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _common_pb2.Application
    def __init__(self, application: _Optional[_Union[_common_pb2.Application, _Mapping]] = ...) -> None: ...

class ApplicationDeclined(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _common_pb2.Application
    def __init__(self, application: _Optional[_Union[_common_pb2.Application, _Mapping]] = ...) -> None: ...

class TimeReleaseApproved(_message.Message):
    __slots__ = ("application", "committed_hours", "limit_hours")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_HOURS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_HOURS_FIELD_NUMBER: _ClassVar[int]
    application: _common_pb2.Application
    committed_hours: float
    limit_hours: float
    def __init__(self, application: _Optional[_Union[_common_pb2.Application, _Mapping]] = ..., committed_hours: _Optional[float] = ..., limit_hours: _Optional[float] = ...) -> None: ...

class TimeReleaseRefused(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: _common_pb2.Application
    def __init__(self, application: _Optional[_Union[_common_pb2.Application, _Mapping]] = ...) -> None: ...

class FeedbackGiven(_message.Message):
    __slots__ = ("application", "feedback", "opportunity_title")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_TITLE_FIELD_NUMBER: _ClassVar[int]
    application: _common_pb2.Application
    feedback: _containers.RepeatedCompositeFieldContainer[_common_pb2.SkillFeedback]
    opportunity_title: str
    def __init__(self, application: _Optional[_Union[_common_pb2.Application, _Mapping]] = ..., feedback: _Optional[_Iterable[_Union[_common_pb2.SkillFeedback, _Mapping]]] = ..., opportunity_title: _Optional[str] = ...) -> None: ...

class CoursePublished(_message.Message):
    __slots__ = ("course",)
    COURSE_FIELD_NUMBER: _ClassVar[int]
    course: _common_pb2.Course
    def __init__(self, course: _Optional[_Union[_common_pb2.Course, _Mapping]] = ...) -> None: ...

class CourseCompleted(_message.Message):
    __slots__ = ("employee_id", "course_id", "skills", "credential_id")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    course_id: str
    skills: _containers.RepeatedCompositeFieldContainer[_common_pb2.CourseSkill]
    credential_id: str
    def __init__(self, employee_id: _Optional[str] = ..., course_id: _Optional[str] = ..., skills: _Optional[_Iterable[_Union[_common_pb2.CourseSkill, _Mapping]]] = ..., credential_id: _Optional[str] = ...) -> None: ...

class CourseEnrolled(_message.Message):
    __slots__ = ("employee_id", "course_id", "enrollment_id")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    ENROLLMENT_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    course_id: str
    enrollment_id: str
    def __init__(self, employee_id: _Optional[str] = ..., course_id: _Optional[str] = ..., enrollment_id: _Optional[str] = ...) -> None: ...

class RequirementCredit(_message.Message):
    __slots__ = ("skill_id", "min_level", "weight", "must_have", "employee_level", "status", "credit", "via_related_skill")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MUST_HAVE_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    VIA_RELATED_SKILL_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    min_level: int
    weight: float
    must_have: bool
    employee_level: int
    status: _common_pb2.SkillStatus
    credit: float
    via_related_skill: str
    def __init__(self, skill_id: _Optional[str] = ..., min_level: _Optional[int] = ..., weight: _Optional[float] = ..., must_have: _Optional[bool] = ..., employee_level: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.SkillStatus, str]] = ..., credit: _Optional[float] = ..., via_related_skill: _Optional[str] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ("skill_id", "required_level", "current_level", "must_have", "current_status")
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CURRENT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MUST_HAVE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    skill_id: str
    required_level: int
    current_level: int
    must_have: bool
    current_status: _common_pb2.SkillStatus
    def __init__(self, skill_id: _Optional[str] = ..., required_level: _Optional[int] = ..., current_level: _Optional[int] = ..., must_have: _Optional[bool] = ..., current_status: _Optional[_Union[_common_pb2.SkillStatus, str]] = ...) -> None: ...

class LearningStep(_message.Message):
    __slots__ = ("course_id", "title", "hours", "closes_skill_ids")
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    CLOSES_SKILL_IDS_FIELD_NUMBER: _ClassVar[int]
    course_id: str
    title: str
    hours: float
    closes_skill_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, course_id: _Optional[str] = ..., title: _Optional[str] = ..., hours: _Optional[float] = ..., closes_skill_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Mentor(_message.Message):
    __slots__ = ("employee_id", "skill_id", "level")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    SKILL_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    skill_id: str
    level: int
    def __init__(self, employee_id: _Optional[str] = ..., skill_id: _Optional[str] = ..., level: _Optional[int] = ...) -> None: ...

class MatchExplanation(_message.Message):
    __slots__ = ("credits", "gaps", "learning_path", "learning_path_hours", "projected_score_percent", "uncovered_skill_ids", "mentors")
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_PATH_FIELD_NUMBER: _ClassVar[int]
    LEARNING_PATH_HOURS_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    UNCOVERED_SKILL_IDS_FIELD_NUMBER: _ClassVar[int]
    MENTORS_FIELD_NUMBER: _ClassVar[int]
    credits: _containers.RepeatedCompositeFieldContainer[RequirementCredit]
    gaps: _containers.RepeatedCompositeFieldContainer[Gap]
    learning_path: _containers.RepeatedCompositeFieldContainer[LearningStep]
    learning_path_hours: float
    projected_score_percent: int
    uncovered_skill_ids: _containers.RepeatedScalarFieldContainer[str]
    mentors: _containers.RepeatedCompositeFieldContainer[Mentor]
    def __init__(self, credits: _Optional[_Iterable[_Union[RequirementCredit, _Mapping]]] = ..., gaps: _Optional[_Iterable[_Union[Gap, _Mapping]]] = ..., learning_path: _Optional[_Iterable[_Union[LearningStep, _Mapping]]] = ..., learning_path_hours: _Optional[float] = ..., projected_score_percent: _Optional[int] = ..., uncovered_skill_ids: _Optional[_Iterable[str]] = ..., mentors: _Optional[_Iterable[_Union[Mentor, _Mapping]]] = ...) -> None: ...

class ThresholdCrossed(_message.Message):
    __slots__ = ("employee_id", "opportunity_id", "opportunity_title", "opportunity_type", "score_percent", "previous_score_percent", "threshold_percent", "fully_qualified", "explanation", "cause_event_id", "cause_event_type", "scoring_version")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_TITLE_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_PERCENT_FIELD_NUMBER: _ClassVar[int]
    FULLY_QUALIFIED_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    CAUSE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSE_EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SCORING_VERSION_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    opportunity_id: str
    opportunity_title: str
    opportunity_type: _common_pb2.OpportunityType
    score_percent: int
    previous_score_percent: int
    threshold_percent: int
    fully_qualified: bool
    explanation: MatchExplanation
    cause_event_id: str
    cause_event_type: str
    scoring_version: int
    def __init__(self, employee_id: _Optional[str] = ..., opportunity_id: _Optional[str] = ..., opportunity_title: _Optional[str] = ..., opportunity_type: _Optional[_Union[_common_pb2.OpportunityType, str]] = ..., score_percent: _Optional[int] = ..., previous_score_percent: _Optional[int] = ..., threshold_percent: _Optional[int] = ..., fully_qualified: _Optional[bool] = ..., explanation: _Optional[_Union[MatchExplanation, _Mapping]] = ..., cause_event_id: _Optional[str] = ..., cause_event_type: _Optional[str] = ..., scoring_version: _Optional[int] = ...) -> None: ...

class MatchUpdated(_message.Message):
    __slots__ = ("employee_id", "opportunity_id", "score_percent", "previous_score_percent", "qualified", "scoring_version")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_FIELD_NUMBER: _ClassVar[int]
    SCORING_VERSION_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    opportunity_id: str
    score_percent: int
    previous_score_percent: int
    qualified: bool
    scoring_version: int
    def __init__(self, employee_id: _Optional[str] = ..., opportunity_id: _Optional[str] = ..., score_percent: _Optional[int] = ..., previous_score_percent: _Optional[int] = ..., qualified: _Optional[bool] = ..., scoring_version: _Optional[int] = ...) -> None: ...

class PairScore(_message.Message):
    __slots__ = ("opportunity_id", "score_percent", "previous_score_percent", "qualified")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    score_percent: int
    previous_score_percent: int
    qualified: bool
    def __init__(self, opportunity_id: _Optional[str] = ..., score_percent: _Optional[int] = ..., previous_score_percent: _Optional[int] = ..., qualified: _Optional[bool] = ...) -> None: ...

class MatchesUpdated(_message.Message):
    __slots__ = ("employee_id", "pairs", "scoring_version", "cause_event_id", "cause_event_type")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    SCORING_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAUSE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSE_EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    pairs: _containers.RepeatedCompositeFieldContainer[PairScore]
    scoring_version: int
    cause_event_id: str
    cause_event_type: str
    def __init__(self, employee_id: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PairScore, _Mapping]]] = ..., scoring_version: _Optional[int] = ..., cause_event_id: _Optional[str] = ..., cause_event_type: _Optional[str] = ...) -> None: ...
