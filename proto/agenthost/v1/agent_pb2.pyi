from agenthost.v1 import router_pb2 as _router_pb2
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
    __slots__ = ("room_id", "entity_id", "content", "agent_id", "room_type", "events", "message_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    entity_id: str
    content: _types_pb2.Content
    agent_id: str
    room_type: str
    events: _containers.RepeatedScalarFieldContainer[str]
    message_id: str
    def __init__(self, room_id: _Optional[str] = ..., entity_id: _Optional[str] = ..., content: _Optional[_Union[_types_pb2.Content, _Mapping]] = ..., agent_id: _Optional[str] = ..., room_type: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., message_id: _Optional[str] = ...) -> None: ...

class ConverseRequest(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: SendMessageRequest
    def __init__(self, message: _Optional[_Union[SendMessageRequest, _Mapping]] = ...) -> None: ...

class ConverseResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: SendMessageResponse
    def __init__(self, event: _Optional[_Union[SendMessageResponse, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("name", "version", "state", "pid", "restarts", "components", "reason", "transport", "address", "process", "breakers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    BREAKERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    state: PluginState
    pid: int
    restarts: int
    components: ComponentCounts
    reason: str
    transport: str
    address: str
    process: ProcessStats
    breakers: _containers.RepeatedCompositeFieldContainer[BreakerStatus]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., state: _Optional[_Union[PluginState, str]] = ..., pid: _Optional[int] = ..., restarts: _Optional[int] = ..., components: _Optional[_Union[ComponentCounts, _Mapping]] = ..., reason: _Optional[str] = ..., transport: _Optional[str] = ..., address: _Optional[str] = ..., process: _Optional[_Union[ProcessStats, _Mapping]] = ..., breakers: _Optional[_Iterable[_Union[BreakerStatus, _Mapping]]] = ...) -> None: ...

class BreakerStatus(_message.Message):
    __slots__ = ("kind", "name", "state", "failures", "retry_in_ms")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    RETRY_IN_MS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    state: str
    failures: int
    retry_in_ms: int
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., failures: _Optional[int] = ..., retry_in_ms: _Optional[int] = ...) -> None: ...

class ProcessStats(_message.Message):
    __slots__ = ("pid", "rss_bytes", "peak_rss_bytes", "cpu_percent", "cpu_seconds")
    PID_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    pid: int
    rss_bytes: int
    peak_rss_bytes: int
    cpu_percent: float
    cpu_seconds: float
    def __init__(self, pid: _Optional[int] = ..., rss_bytes: _Optional[int] = ..., peak_rss_bytes: _Optional[int] = ..., cpu_percent: _Optional[float] = ..., cpu_seconds: _Optional[float] = ...) -> None: ...

class RunFigures(_message.Message):
    __slots__ = ("active", "queued", "ended", "completed", "failed", "by_status", "avg_ms", "p95_ms", "error_rate", "throughput_per_s")
    class ByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    AVG_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_PER_S_FIELD_NUMBER: _ClassVar[int]
    active: int
    queued: int
    ended: int
    completed: int
    failed: int
    by_status: _containers.ScalarMap[str, int]
    avg_ms: float
    p95_ms: float
    error_rate: float
    throughput_per_s: float
    def __init__(self, active: _Optional[int] = ..., queued: _Optional[int] = ..., ended: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ..., by_status: _Optional[_Mapping[str, int]] = ..., avg_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., error_rate: _Optional[float] = ..., throughput_per_s: _Optional[float] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("agent_id", "agent_name", "state", "plugins", "uptime_ms", "version", "router", "agents", "process", "runs", "router_cache", "deployment")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_MS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTER_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    ROUTER_CACHE_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    agent_name: str
    state: LifecycleState
    plugins: _containers.RepeatedCompositeFieldContainer[PluginStatus]
    uptime_ms: int
    version: str
    router: PluginStatus
    agents: _containers.RepeatedCompositeFieldContainer[AgentStatus]
    process: ProcessStats
    runs: RunFigures
    router_cache: _router_pb2.ResponseCacheStats
    deployment: DeploymentStatus
    def __init__(self, agent_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., state: _Optional[_Union[LifecycleState, str]] = ..., plugins: _Optional[_Iterable[_Union[PluginStatus, _Mapping]]] = ..., uptime_ms: _Optional[int] = ..., version: _Optional[str] = ..., router: _Optional[_Union[PluginStatus, _Mapping]] = ..., agents: _Optional[_Iterable[_Union[AgentStatus, _Mapping]]] = ..., process: _Optional[_Union[ProcessStats, _Mapping]] = ..., runs: _Optional[_Union[RunFigures, _Mapping]] = ..., router_cache: _Optional[_Union[_router_pb2.ResponseCacheStats, _Mapping]] = ..., deployment: _Optional[_Union[DeploymentStatus, _Mapping]] = ...) -> None: ...

class DeploymentStatus(_message.Message):
    __slots__ = ("host_id", "partitions", "hosts", "waiting_messages", "lagging_runs")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    WAITING_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    LAGGING_RUNS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    partitions: int
    hosts: _containers.RepeatedCompositeFieldContainer[DeploymentHost]
    waiting_messages: int
    lagging_runs: int
    def __init__(self, host_id: _Optional[str] = ..., partitions: _Optional[int] = ..., hosts: _Optional[_Iterable[_Union[DeploymentHost, _Mapping]]] = ..., waiting_messages: _Optional[int] = ..., lagging_runs: _Optional[int] = ...) -> None: ...

class DeploymentHost(_message.Message):
    __slots__ = ("host_id", "address", "heartbeat_age_s", "stopping", "partitions", "running_runs", "active_rooms", "messages", "plugins")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_AGE_S_FIELD_NUMBER: _ClassVar[int]
    STOPPING_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_RUNS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ROOMS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    address: str
    heartbeat_age_s: float
    stopping: bool
    partitions: _containers.RepeatedScalarFieldContainer[int]
    running_runs: int
    active_rooms: int
    messages: int
    plugins: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, host_id: _Optional[str] = ..., address: _Optional[str] = ..., heartbeat_age_s: _Optional[float] = ..., stopping: _Optional[bool] = ..., partitions: _Optional[_Iterable[int]] = ..., running_runs: _Optional[int] = ..., active_rooms: _Optional[int] = ..., messages: _Optional[int] = ..., plugins: _Optional[_Iterable[str]] = ...) -> None: ...

class AgentStatus(_message.Message):
    __slots__ = ("id", "name", "state", "plugins", "reason", "source", "runs")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    state: LifecycleState
    plugins: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    source: str
    runs: RunFigures
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[LifecycleState, str]] = ..., plugins: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., source: _Optional[str] = ..., runs: _Optional[_Union[RunFigures, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[AgentStatus]
    def __init__(self, agents: _Optional[_Iterable[_Union[AgentStatus, _Mapping]]] = ...) -> None: ...

class AddAgentRequest(_message.Message):
    __slots__ = ("character_json", "path")
    CHARACTER_JSON_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    character_json: str
    path: str
    def __init__(self, character_json: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class AddAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: AgentStatus
    def __init__(self, agent: _Optional[_Union[AgentStatus, _Mapping]] = ...) -> None: ...

class RemoveAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: str
    def __init__(self, agent: _Optional[str] = ...) -> None: ...

class RemoveAgentResponse(_message.Message):
    __slots__ = ("agent", "interrupted_runs")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTED_RUNS_FIELD_NUMBER: _ClassVar[int]
    agent: AgentStatus
    interrupted_runs: int
    def __init__(self, agent: _Optional[_Union[AgentStatus, _Mapping]] = ..., interrupted_runs: _Optional[int] = ...) -> None: ...

class RunInfo(_message.Message):
    __slots__ = ("id", "agent_id", "room_id", "message_id", "status", "started_at_ms", "ended_at_ms", "error", "timings")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    room_id: str
    message_id: str
    status: str
    started_at_ms: int
    ended_at_ms: int
    error: str
    timings: _containers.ScalarMap[str, float]
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., message_id: _Optional[str] = ..., status: _Optional[str] = ..., started_at_ms: _Optional[int] = ..., ended_at_ms: _Optional[int] = ..., error: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("agent_id", "room_id", "limit")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    room_id: str
    limit: int
    def __init__(self, agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RunInfo]
    def __init__(self, runs: _Optional[_Iterable[_Union[RunInfo, _Mapping]]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id", "agent_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    agent_id: str
    def __init__(self, run_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run", "events")
    RUN_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    run: RunInfo
    events: _containers.RepeatedCompositeFieldContainer[SendMessageResponse]
    def __init__(self, run: _Optional[_Union[RunInfo, _Mapping]] = ..., events: _Optional[_Iterable[_Union[SendMessageResponse, _Mapping]]] = ...) -> None: ...

class GetLogsRequest(_message.Message):
    __slots__ = ("tail", "level", "plugin", "follow", "agent", "run_id", "since_ms", "until_ms")
    TAIL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    tail: int
    level: str
    plugin: str
    follow: bool
    agent: str
    run_id: str
    since_ms: int
    until_ms: int
    def __init__(self, tail: _Optional[int] = ..., level: _Optional[str] = ..., plugin: _Optional[str] = ..., follow: _Optional[bool] = ..., agent: _Optional[str] = ..., run_id: _Optional[str] = ..., since_ms: _Optional[int] = ..., until_ms: _Optional[int] = ...) -> None: ...

class GetLogsResponse(_message.Message):
    __slots__ = ("time_ms", "level", "message", "plugin", "agent_id", "logger", "run_id", "agent_name")
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LOGGER_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    time_ms: int
    level: str
    message: str
    plugin: str
    agent_id: str
    logger: str
    run_id: str
    agent_name: str
    def __init__(self, time_ms: _Optional[int] = ..., level: _Optional[str] = ..., message: _Optional[str] = ..., plugin: _Optional[str] = ..., agent_id: _Optional[str] = ..., logger: _Optional[str] = ..., run_id: _Optional[str] = ..., agent_name: _Optional[str] = ...) -> None: ...

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

class KnowledgeDocument(_message.Message):
    __slots__ = ("id", "source", "sha256", "size_bytes", "kind", "fragments", "pages", "added_at_ms", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FRAGMENTS_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    ADDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    sha256: str
    size_bytes: int
    kind: str
    fragments: int
    pages: int
    added_at_ms: int
    note: str
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., kind: _Optional[str] = ..., fragments: _Optional[int] = ..., pages: _Optional[int] = ..., added_at_ms: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class AddKnowledgeRequest(_message.Message):
    __slots__ = ("agent_id", "source", "content_type", "data")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    source: str
    content_type: str
    data: bytes
    def __init__(self, agent_id: _Optional[str] = ..., source: _Optional[str] = ..., content_type: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class AddKnowledgeResponse(_message.Message):
    __slots__ = ("document", "outcome")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    document: KnowledgeDocument
    outcome: str
    def __init__(self, document: _Optional[_Union[KnowledgeDocument, _Mapping]] = ..., outcome: _Optional[str] = ...) -> None: ...

class ListKnowledgeRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class ListKnowledgeResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[KnowledgeDocument]
    def __init__(self, documents: _Optional[_Iterable[_Union[KnowledgeDocument, _Mapping]]] = ...) -> None: ...

class RemoveKnowledgeRequest(_message.Message):
    __slots__ = ("agent_id", "document")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    document: str
    def __init__(self, agent_id: _Optional[str] = ..., document: _Optional[str] = ...) -> None: ...

class RemoveKnowledgeResponse(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: KnowledgeDocument
    def __init__(self, document: _Optional[_Union[KnowledgeDocument, _Mapping]] = ...) -> None: ...

class SearchKnowledgeRequest(_message.Message):
    __slots__ = ("agent_id", "query", "limit", "threshold")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    query: str
    limit: int
    threshold: float
    def __init__(self, agent_id: _Optional[str] = ..., query: _Optional[str] = ..., limit: _Optional[int] = ..., threshold: _Optional[float] = ...) -> None: ...

class KnowledgeFragment(_message.Message):
    __slots__ = ("fragment_id", "document_id", "source", "position", "text", "score")
    FRAGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    fragment_id: str
    document_id: str
    source: str
    position: int
    text: str
    score: float
    def __init__(self, fragment_id: _Optional[str] = ..., document_id: _Optional[str] = ..., source: _Optional[str] = ..., position: _Optional[int] = ..., text: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class SearchKnowledgeResponse(_message.Message):
    __slots__ = ("fragments", "model")
    FRAGMENTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    fragments: _containers.RepeatedCompositeFieldContainer[KnowledgeFragment]
    model: str
    def __init__(self, fragments: _Optional[_Iterable[_Union[KnowledgeFragment, _Mapping]]] = ..., model: _Optional[str] = ...) -> None: ...
