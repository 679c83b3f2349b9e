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

class DeliveryMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_MODE_UNSPECIFIED: _ClassVar[DeliveryMode]
    DELIVERY_MODE_IMMEDIATE: _ClassVar[DeliveryMode]
    DELIVERY_MODE_DIGEST: _ClassVar[DeliveryMode]

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_IN_APP: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_SLACK: _ClassVar[Channel]
    CHANNEL_TEAMS: _ClassVar[Channel]

class NotificationCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_CATEGORY_UNSPECIFIED: _ClassVar[NotificationCategory]
    NOTIFICATION_CATEGORY_CROSSINGS: _ClassVar[NotificationCategory]
    NOTIFICATION_CATEGORY_APPROVALS: _ClassVar[NotificationCategory]
    NOTIFICATION_CATEGORY_APPLICATIONS: _ClassVar[NotificationCategory]
    NOTIFICATION_CATEGORY_RELEASES: _ClassVar[NotificationCategory]

class DigestFrequency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIGEST_FREQUENCY_UNSPECIFIED: _ClassVar[DigestFrequency]
    DIGEST_FREQUENCY_DAILY: _ClassVar[DigestFrequency]
    DIGEST_FREQUENCY_WEEKLY: _ClassVar[DigestFrequency]
DELIVERY_MODE_UNSPECIFIED: DeliveryMode
DELIVERY_MODE_IMMEDIATE: DeliveryMode
DELIVERY_MODE_DIGEST: DeliveryMode
CHANNEL_UNSPECIFIED: Channel
CHANNEL_IN_APP: Channel
CHANNEL_EMAIL: Channel
CHANNEL_SLACK: Channel
CHANNEL_TEAMS: Channel
NOTIFICATION_CATEGORY_UNSPECIFIED: NotificationCategory
NOTIFICATION_CATEGORY_CROSSINGS: NotificationCategory
NOTIFICATION_CATEGORY_APPROVALS: NotificationCategory
NOTIFICATION_CATEGORY_APPLICATIONS: NotificationCategory
NOTIFICATION_CATEGORY_RELEASES: NotificationCategory
DIGEST_FREQUENCY_UNSPECIFIED: DigestFrequency
DIGEST_FREQUENCY_DAILY: DigestFrequency
DIGEST_FREQUENCY_WEEKLY: DigestFrequency

class Notification(_message.Message):
    __slots__ = ("notification_id", "employee_id", "kind", "title", "body", "opportunity_id", "opportunity_link", "course_links", "match", "source_event_id", "created_at", "read", "items")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_LINK_FIELD_NUMBER: _ClassVar[int]
    COURSE_LINKS_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    employee_id: str
    kind: str
    title: str
    body: str
    opportunity_id: str
    opportunity_link: str
    course_links: _containers.RepeatedScalarFieldContainer[str]
    match: _events_pb2.ThresholdCrossed
    source_event_id: str
    created_at: _timestamp_pb2.Timestamp
    read: bool
    items: _containers.RepeatedCompositeFieldContainer[Notification]
    def __init__(self, notification_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., kind: _Optional[str] = ..., title: _Optional[str] = ..., body: _Optional[str] = ..., opportunity_id: _Optional[str] = ..., opportunity_link: _Optional[str] = ..., course_links: _Optional[_Iterable[str]] = ..., match: _Optional[_Union[_events_pb2.ThresholdCrossed, _Mapping]] = ..., source_event_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., read: _Optional[bool] = ..., items: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("employee_id", "after_id")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    after_id: str
    def __init__(self, employee_id: _Optional[str] = ..., after_id: _Optional[str] = ...) -> None: ...

class ListInboxRequest(_message.Message):
    __slots__ = ("employee_id", "page_size", "page_token", "unread_only")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNREAD_ONLY_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    page_size: int
    page_token: str
    unread_only: bool
    def __init__(self, employee_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., unread_only: _Optional[bool] = ...) -> None: ...

class ListInboxResponse(_message.Message):
    __slots__ = ("notifications", "next_page_token", "unread")
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNREAD_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    next_page_token: str
    unread: int
    def __init__(self, notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., unread: _Optional[int] = ...) -> None: ...

class MarkReadRequest(_message.Message):
    __slots__ = ("employee_id", "notification_ids")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_IDS_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    notification_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, employee_id: _Optional[str] = ..., notification_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class MarkReadResponse(_message.Message):
    __slots__ = ("marked",)
    MARKED_FIELD_NUMBER: _ClassVar[int]
    marked: int
    def __init__(self, marked: _Optional[int] = ...) -> None: ...

class Channels(_message.Message):
    __slots__ = ("in_app", "email", "slack", "teams")
    IN_APP_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    SLACK_FIELD_NUMBER: _ClassVar[int]
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    in_app: bool
    email: bool
    slack: bool
    teams: bool
    def __init__(self, in_app: _Optional[bool] = ..., email: _Optional[bool] = ..., slack: _Optional[bool] = ..., teams: _Optional[bool] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("category", "channels")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    category: NotificationCategory
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    def __init__(self, category: _Optional[_Union[NotificationCategory, str]] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ...) -> None: ...

class DigestSchedule(_message.Message):
    __slots__ = ("frequency", "hour", "minute", "weekday", "timezone", "channels")
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    HOUR_FIELD_NUMBER: _ClassVar[int]
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    WEEKDAY_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    frequency: DigestFrequency
    hour: int
    minute: int
    weekday: int
    timezone: str
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    def __init__(self, frequency: _Optional[_Union[DigestFrequency, str]] = ..., hour: _Optional[int] = ..., minute: _Optional[int] = ..., weekday: _Optional[int] = ..., timezone: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ...) -> None: ...

class QuietHours(_message.Message):
    __slots__ = ("enabled", "start_hour", "end_hour", "timezone")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    START_HOUR_FIELD_NUMBER: _ClassVar[int]
    END_HOUR_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    start_hour: int
    end_hour: int
    timezone: str
    def __init__(self, enabled: _Optional[bool] = ..., start_hour: _Optional[int] = ..., end_hour: _Optional[int] = ..., timezone: _Optional[str] = ...) -> None: ...

class NotificationPreferences(_message.Message):
    __slots__ = ("employee_id", "channels", "quiet_hours", "delivery", "digest_period_seconds", "muted_opportunity_types", "version", "updated_at", "routes", "email_address", "slack_webhook_url", "teams_webhook_url", "digest")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MUTED_OPPORTUNITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SLACK_WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    TEAMS_WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    channels: Channels
    quiet_hours: QuietHours
    delivery: DeliveryMode
    digest_period_seconds: int
    muted_opportunity_types: _containers.RepeatedScalarFieldContainer[_common_pb2.OpportunityType]
    version: int
    updated_at: _timestamp_pb2.Timestamp
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    email_address: str
    slack_webhook_url: str
    teams_webhook_url: str
    digest: DigestSchedule
    def __init__(self, employee_id: _Optional[str] = ..., channels: _Optional[_Union[Channels, _Mapping]] = ..., quiet_hours: _Optional[_Union[QuietHours, _Mapping]] = ..., delivery: _Optional[_Union[DeliveryMode, str]] = ..., digest_period_seconds: _Optional[int] = ..., muted_opportunity_types: _Optional[_Iterable[_Union[_common_pb2.OpportunityType, str]]] = ..., version: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., email_address: _Optional[str] = ..., slack_webhook_url: _Optional[str] = ..., teams_webhook_url: _Optional[str] = ..., digest: _Optional[_Union[DigestSchedule, _Mapping]] = ...) -> None: ...

class GetNotificationPreferencesRequest(_message.Message):
    __slots__ = ("employee_id",)
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    def __init__(self, employee_id: _Optional[str] = ...) -> None: ...

class SetNotificationPreferencesRequest(_message.Message):
    __slots__ = ("employee_id", "preferences", "expected_version")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    preferences: NotificationPreferences
    expected_version: int
    def __init__(self, employee_id: _Optional[str] = ..., preferences: _Optional[_Union[NotificationPreferences, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...
