from agenthost.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LifecycleState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIFECYCLE_STATE_UNSPECIFIED: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_CREATED: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_INITIALIZING: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_LOADING_CHARACTER: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_LOADING_PLUGINS: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_STARTING_SERVICES: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_READY: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_DEGRADED: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_STOPPING: _ClassVar[LifecycleState]
    LIFECYCLE_STATE_STOPPED: _ClassVar[LifecycleState]

class PluginState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLUGIN_STATE_UNSPECIFIED: _ClassVar[PluginState]
    PLUGIN_STATE_STARTING: _ClassVar[PluginState]
    PLUGIN_STATE_READY: _ClassVar[PluginState]
    PLUGIN_STATE_RESTARTING: _ClassVar[PluginState]
    PLUGIN_STATE_FAILED: _ClassVar[PluginState]
    PLUGIN_STATE_STOPPED: _ClassVar[PluginState]
    PLUGIN_STATE_AVAILABLE: _ClassVar[PluginState]
LIFECYCLE_STATE_UNSPECIFIED: LifecycleState
LIFECYCLE_STATE_CREATED: LifecycleState
LIFECYCLE_STATE_INITIALIZING: LifecycleState
LIFECYCLE_STATE_LOADING_CHARACTER: LifecycleState
LIFECYCLE_STATE_LOADING_PLUGINS: LifecycleState
LIFECYCLE_STATE_STARTING_SERVICES: LifecycleState
LIFECYCLE_STATE_READY: LifecycleState
LIFECYCLE_STATE_DEGRADED: LifecycleState
LIFECYCLE_STATE_STOPPING: LifecycleState
LIFECYCLE_STATE_STOPPED: LifecycleState
PLUGIN_STATE_UNSPECIFIED: PluginState
PLUGIN_STATE_STARTING: PluginState
PLUGIN_STATE_READY: PluginState
PLUGIN_STATE_RESTARTING: PluginState
PLUGIN_STATE_FAILED: PluginState
PLUGIN_STATE_STOPPED: PluginState
PLUGIN_STATE_AVAILABLE: PluginState

class SendMessageRequest(_message.Message):
    __slots__ = ("room_id", "entity_id", "content")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    entity_id: str
    content: _types_pb2.Content
    def __init__(self, room_id: _Optional[str] = ..., entity_id: _Optional[str] = ..., content: _Optional[_Union[_types_pb2.Content, _Mapping]] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("run_id", "event_type", "content")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    event_type: str
    content: _types_pb2.Content
    def __init__(self, run_id: _Optional[str] = ..., event_type: _Optional[str] = ..., content: _Optional[_Union[_types_pb2.Content, _Mapping]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ComponentCounts(_message.Message):
    __slots__ = ("actions", "providers", "evaluators", "services", "model_handlers")
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    EVALUATORS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    MODEL_HANDLERS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedScalarFieldContainer[str]
    providers: _containers.RepeatedScalarFieldContainer[str]
    evaluators: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedScalarFieldContainer[str]
    model_handlers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, actions: _Optional[_Iterable[str]] = ..., providers: _Optional[_Iterable[str]] = ..., evaluators: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[str]] = ..., model_handlers: _Optional[_Iterable[str]] = ...) -> None: ...

class PluginStatus(_message.Message):
    __slots__ = ("name", "version", "state", "pid", "restarts", "components", "reason", "transport", "address")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    state: PluginState
    pid: int
    restarts: int
    components: ComponentCounts
    reason: str
    transport: str
    address: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., state: _Optional[_Union[PluginState, str]] = ..., pid: _Optional[int] = ..., restarts: _Optional[int] = ..., components: _Optional[_Union[ComponentCounts, _Mapping]] = ..., reason: _Optional[str] = ..., transport: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("agent_id", "agent_name", "state", "plugins", "uptime_ms", "version", "router")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_MS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTER_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    agent_name: str
    state: LifecycleState
    plugins: _containers.RepeatedCompositeFieldContainer[PluginStatus]
    uptime_ms: int
    version: str
    router: PluginStatus
    def __init__(self, agent_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., state: _Optional[_Union[LifecycleState, str]] = ..., plugins: _Optional[_Iterable[_Union[PluginStatus, _Mapping]]] = ..., uptime_ms: _Optional[int] = ..., version: _Optional[str] = ..., router: _Optional[_Union[PluginStatus, _Mapping]] = ...) -> None: ...

class GetLogsRequest(_message.Message):
    __slots__ = ("tail", "level", "plugin", "follow")
    TAIL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    tail: int
    level: str
    plugin: str
    follow: bool
    def __init__(self, tail: _Optional[int] = ..., level: _Optional[str] = ..., plugin: _Optional[str] = ..., follow: _Optional[bool] = ...) -> None: ...

class GetLogsResponse(_message.Message):
    __slots__ = ("time_ms", "level", "message", "plugin", "agent_id", "logger")
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LOGGER_FIELD_NUMBER: _ClassVar[int]
    time_ms: int
    level: str
    message: str
    plugin: str
    agent_id: str
    logger: str
    def __init__(self, time_ms: _Optional[int] = ..., level: _Optional[str] = ..., message: _Optional[str] = ..., plugin: _Optional[str] = ..., agent_id: _Optional[str] = ..., logger: _Optional[str] = ...) -> None: ...

class ListPluginsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPluginsResponse(_message.Message):
    __slots__ = ("plugins",)
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    plugins: _containers.RepeatedCompositeFieldContainer[PluginStatus]
    def __init__(self, plugins: _Optional[_Iterable[_Union[PluginStatus, _Mapping]]] = ...) -> None: ...

class LoadPluginRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class LoadPluginResponse(_message.Message):
    __slots__ = ("plugin",)
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    plugin: PluginStatus
    def __init__(self, plugin: _Optional[_Union[PluginStatus, _Mapping]] = ...) -> None: ...

class UnloadPluginRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UnloadPluginResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadPluginRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ReloadPluginResponse(_message.Message):
    __slots__ = ("plugin", "duration_ms")
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    plugin: PluginStatus
    duration_ms: int
    def __init__(self, plugin: _Optional[_Union[PluginStatus, _Mapping]] = ..., duration_ms: _Optional[int] = ...) -> None: ...
