from itm.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CourseSkillInput(_message.Message):
    __slots__ = ("skill", "level")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    skill: str
    level: int
    def __init__(self, skill: _Optional[str] = ..., level: _Optional[int] = ...) -> None: ...

class PublishCourseRequest(_message.Message):
    __slots__ = ("request_id", "course_id", "title", "hours", "format", "provider", "teaches")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TEACHES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    course_id: str
    title: str
    hours: float
    format: str
    provider: str
    teaches: _containers.RepeatedCompositeFieldContainer[CourseSkillInput]
    def __init__(self, request_id: _Optional[str] = ..., course_id: _Optional[str] = ..., title: _Optional[str] = ..., hours: _Optional[float] = ..., format: _Optional[str] = ..., provider: _Optional[str] = ..., teaches: _Optional[_Iterable[_Union[CourseSkillInput, _Mapping]]] = ...) -> None: ...

class GetCourseRequest(_message.Message):
    __slots__ = ("course_id",)
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    course_id: str
    def __init__(self, course_id: _Optional[str] = ...) -> None: ...

class FindCoursesRequest(_message.Message):
    __slots__ = ("skill", "min_level", "page_size", "page_token")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    skill: str
    min_level: int
    page_size: int
    page_token: str
    def __init__(self, skill: _Optional[str] = ..., min_level: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class FindCoursesResponse(_message.Message):
    __slots__ = ("courses", "next_page_token")
    COURSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    courses: _containers.RepeatedCompositeFieldContainer[_common_pb2.Course]
    next_page_token: str
    def __init__(self, courses: _Optional[_Iterable[_Union[_common_pb2.Course, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Enrollment(_message.Message):
    __slots__ = ("enrollment_id", "employee_id", "course_id", "status", "credential_id", "version")
    ENROLLMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    enrollment_id: str
    employee_id: str
    course_id: str
    status: str
    credential_id: str
    version: int
    def __init__(self, enrollment_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., course_id: _Optional[str] = ..., status: _Optional[str] = ..., credential_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("request_id", "employee_id", "course_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    employee_id: str
    course_id: str
    def __init__(self, request_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., course_id: _Optional[str] = ...) -> None: ...

class CompleteCourseRequest(_message.Message):
    __slots__ = ("request_id", "employee_id", "course_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    employee_id: str
    course_id: str
    def __init__(self, request_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., course_id: _Optional[str] = ...) -> None: ...
