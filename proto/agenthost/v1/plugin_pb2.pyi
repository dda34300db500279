from agenthost.v1 import types_pb2 as _types_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActionExample(_message.Message):
    __slots__ = ("speaker", "text", "actions")
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    speaker: str
    text: str
    actions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, speaker: _Optional[str] = ..., text: _Optional[str] = ..., actions: _Optional[_Iterable[str]] = ...) -> None: ...

class ActionExampleConversation(_message.Message):
    __slots__ = ("turns",)
    TURNS_FIELD_NUMBER: _ClassVar[int]
    turns: _containers.RepeatedCompositeFieldContainer[ActionExample]
    def __init__(self, turns: _Optional[_Iterable[_Union[ActionExample, _Mapping]]] = ...) -> None: ...

class ActionSpec(_message.Message):
    __slots__ = ("name", "description", "similes", "examples")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SIMILES_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    similes: _containers.RepeatedScalarFieldContainer[str]
    examples: _containers.RepeatedCompositeFieldContainer[ActionExampleConversation]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., similes: _Optional[_Iterable[str]] = ..., examples: _Optional[_Iterable[_Union[ActionExampleConversation, _Mapping]]] = ...) -> None: ...

class ProviderSpec(_message.Message):
    __slots__ = ("name", "description", "position", "dynamic", "private")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    position: int
    dynamic: bool
    private: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., position: _Optional[int] = ..., dynamic: _Optional[bool] = ..., private: _Optional[bool] = ...) -> None: ...

class EvaluatorSpec(_message.Message):
    __slots__ = ("name", "description", "always_run", "similes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ALWAYS_RUN_FIELD_NUMBER: _ClassVar[int]
    SIMILES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    always_run: bool
    similes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., always_run: _Optional[bool] = ..., similes: _Optional[_Iterable[str]] = ...) -> None: ...

class ServiceSpec(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ModelHandlerSpec(_message.Message):
    __slots__ = ("model_type", "priority")
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    model_type: str
    priority: int
    def __init__(self, model_type: _Optional[str] = ..., priority: _Optional[int] = ...) -> None: ...

class PluginManifest(_message.Message):
    __slots__ = ("name", "version", "description", "actions", "providers", "evaluators", "services", "model_handlers", "events", "dependencies", "priority")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    EVALUATORS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    MODEL_HANDLERS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    description: str
    actions: _containers.RepeatedCompositeFieldContainer[ActionSpec]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderSpec]
    evaluators: _containers.RepeatedCompositeFieldContainer[EvaluatorSpec]
    services: _containers.RepeatedCompositeFieldContainer[ServiceSpec]
    model_handlers: _containers.RepeatedCompositeFieldContainer[ModelHandlerSpec]
    events: _containers.RepeatedScalarFieldContainer[str]
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    priority: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[ActionSpec, _Mapping]]] = ..., providers: _Optional[_Iterable[_Union[ProviderSpec, _Mapping]]] = ..., evaluators: _Optional[_Iterable[_Union[EvaluatorSpec, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[ServiceSpec, _Mapping]]] = ..., model_handlers: _Optional[_Iterable[_Union[ModelHandlerSpec, _Mapping]]] = ..., events: _Optional[_Iterable[str]] = ..., dependencies: _Optional[_Iterable[str]] = ..., priority: _Optional[int] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("manifest",)
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    manifest: PluginManifest
    def __init__(self, manifest: _Optional[_Union[PluginManifest, _Mapping]] = ...) -> None: ...

class InitRequest(_message.Message):
    __slots__ = ("agent_id", "agent_name", "config", "runtime_address", "runtime_token", "runtime_tls")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_TLS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    agent_name: str
    config: _containers.ScalarMap[str, str]
    runtime_address: str
    runtime_token: str
    runtime_tls: bool
    def __init__(self, agent_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., config: _Optional[_Mapping[str, str]] = ..., runtime_address: _Optional[str] = ..., runtime_token: _Optional[str] = ..., runtime_tls: _Optional[bool] = ...) -> None: ...

class InitResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetProvidersRequest(_message.Message):
    __slots__ = ("names", "message", "state")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    message: _types_pb2.Memory
    state: _types_pb2.State
    def __init__(self, names: _Optional[_Iterable[str]] = ..., message: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.State, _Mapping]] = ...) -> None: ...

class ProviderResult(_message.Message):
    __slots__ = ("name", "text", "values", "data", "error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    text: str
    values: _struct_pb2.Struct
    data: _struct_pb2.Struct
    error: str
    def __init__(self, name: _Optional[str] = ..., text: _Optional[str] = ..., values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class GetProvidersResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ProviderResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ProviderResult, _Mapping]]] = ...) -> None: ...

class ValidateActionsRequest(_message.Message):
    __slots__ = ("names", "message", "state")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    message: _types_pb2.Memory
    state: _types_pb2.State
    def __init__(self, names: _Optional[_Iterable[str]] = ..., message: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.State, _Mapping]] = ...) -> None: ...

class Validation(_message.Message):
    __slots__ = ("name", "valid", "error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    valid: bool
    error: str
    def __init__(self, name: _Optional[str] = ..., valid: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class ValidateActionsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Validation]
    def __init__(self, results: _Optional[_Iterable[_Union[Validation, _Mapping]]] = ...) -> None: ...

class InvokeActionRequest(_message.Message):
    __slots__ = ("name", "message", "state", "options")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    message: _types_pb2.Memory
    state: _types_pb2.State
    options: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., message: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.State, _Mapping]] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class InvokeActionResponse(_message.Message):
    __slots__ = ("callback", "result")
    CALLBACK_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    callback: _types_pb2.Content
    result: _types_pb2.ActionResult
    def __init__(self, callback: _Optional[_Union[_types_pb2.Content, _Mapping]] = ..., result: _Optional[_Union[_types_pb2.ActionResult, _Mapping]] = ...) -> None: ...

class ValidateEvaluatorsRequest(_message.Message):
    __slots__ = ("names", "message", "state")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    message: _types_pb2.Memory
    state: _types_pb2.State
    def __init__(self, names: _Optional[_Iterable[str]] = ..., message: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.State, _Mapping]] = ...) -> None: ...

class ValidateEvaluatorsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Validation]
    def __init__(self, results: _Optional[_Iterable[_Union[Validation, _Mapping]]] = ...) -> None: ...

class RunEvaluatorRequest(_message.Message):
    __slots__ = ("name", "message", "state", "responses")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    name: str
    message: _types_pb2.Memory
    state: _types_pb2.State
    responses: _containers.RepeatedCompositeFieldContainer[_types_pb2.Memory]
    def __init__(self, name: _Optional[str] = ..., message: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.State, _Mapping]] = ..., responses: _Optional[_Iterable[_Union[_types_pb2.Memory, _Mapping]]] = ...) -> None: ...

class RunEvaluatorResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _types_pb2.ActionResult
    def __init__(self, result: _Optional[_Union[_types_pb2.ActionResult, _Mapping]] = ...) -> None: ...

class StartServiceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class StartServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopServiceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class StopServiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HandleEventRequest(_message.Message):
    __slots__ = ("event_type", "payload")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    event_type: str
    payload: _struct_pb2.Struct
    def __init__(self, event_type: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class HandleEventResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UseModelRequest(_message.Message):
    __slots__ = ("model_type", "params")
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    model_type: str
    params: _struct_pb2.Struct
    def __init__(self, model_type: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class UseModelResponse(_message.Message):
    __slots__ = ("text", "embedding", "data")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    text: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    data: _struct_pb2.Struct
    def __init__(self, text: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("names", "message", "state", "responses")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    message: _types_pb2.Memory
    state: _types_pb2.State
    responses: _containers.RepeatedCompositeFieldContainer[_types_pb2.Memory]
    def __init__(self, names: _Optional[_Iterable[str]] = ..., message: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.State, _Mapping]] = ..., responses: _Optional[_Iterable[_Union[_types_pb2.Memory, _Mapping]]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Evaluation]
    def __init__(self, results: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("name", "valid", "error", "result")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    valid: bool
    error: str
    result: _types_pb2.ActionResult
    def __init__(self, name: _Optional[str] = ..., valid: _Optional[bool] = ..., error: _Optional[str] = ..., result: _Optional[_Union[_types_pb2.ActionResult, _Mapping]] = ...) -> None: ...

class ComposeRequest(_message.Message):
    __slots__ = ("provider_names", "action_names", "message", "state")
    PROVIDER_NAMES_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    provider_names: _containers.RepeatedScalarFieldContainer[str]
    action_names: _containers.RepeatedScalarFieldContainer[str]
    message: _types_pb2.Memory
    state: _types_pb2.State
    def __init__(self, provider_names: _Optional[_Iterable[str]] = ..., action_names: _Optional[_Iterable[str]] = ..., message: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ..., state: _Optional[_Union[_types_pb2.State, _Mapping]] = ...) -> None: ...

class ComposeResponse(_message.Message):
    __slots__ = ("providers", "actions")
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderResult]
    actions: _containers.RepeatedCompositeFieldContainer[Validation]
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderResult, _Mapping]]] = ..., actions: _Optional[_Iterable[_Union[Validation, _Mapping]]] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("id", "timeout_ms", "get_providers", "validate_actions", "validate_evaluators", "run_evaluator", "handle_event", "use_model", "cancel", "evaluate", "compose", "invoke_action", "batch", "traceparent", "run_id", "agent_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    GET_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_EVALUATORS_FIELD_NUMBER: _ClassVar[int]
    RUN_EVALUATOR_FIELD_NUMBER: _ClassVar[int]
    HANDLE_EVENT_FIELD_NUMBER: _ClassVar[int]
    USE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_FIELD_NUMBER: _ClassVar[int]
    COMPOSE_FIELD_NUMBER: _ClassVar[int]
    INVOKE_ACTION_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    timeout_ms: int
    get_providers: GetProvidersRequest
    validate_actions: ValidateActionsRequest
    validate_evaluators: ValidateEvaluatorsRequest
    run_evaluator: RunEvaluatorRequest
    handle_event: HandleEventRequest
    use_model: UseModelRequest
    cancel: SessionCancel
    evaluate: EvaluateRequest
    compose: ComposeRequest
    invoke_action: InvokeActionRequest
    batch: _containers.RepeatedCompositeFieldContainer[SessionRequest]
    traceparent: str
    run_id: str
    agent_id: str
    def __init__(self, id: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., get_providers: _Optional[_Union[GetProvidersRequest, _Mapping]] = ..., validate_actions: _Optional[_Union[ValidateActionsRequest, _Mapping]] = ..., validate_evaluators: _Optional[_Union[ValidateEvaluatorsRequest, _Mapping]] = ..., run_evaluator: _Optional[_Union[RunEvaluatorRequest, _Mapping]] = ..., handle_event: _Optional[_Union[HandleEventRequest, _Mapping]] = ..., use_model: _Optional[_Union[UseModelRequest, _Mapping]] = ..., cancel: _Optional[_Union[SessionCancel, _Mapping]] = ..., evaluate: _Optional[_Union[EvaluateRequest, _Mapping]] = ..., compose: _Optional[_Union[ComposeRequest, _Mapping]] = ..., invoke_action: _Optional[_Union[InvokeActionRequest, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[SessionRequest, _Mapping]]] = ..., traceparent: _Optional[str] = ..., run_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class SessionCancel(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("id", "get_providers", "validate_actions", "validate_evaluators", "run_evaluator", "handle_event", "use_model", "error", "evaluate", "compose", "invoke_action", "batch", "batches", "actions")
    ID_FIELD_NUMBER: _ClassVar[int]
    GET_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_EVALUATORS_FIELD_NUMBER: _ClassVar[int]
    RUN_EVALUATOR_FIELD_NUMBER: _ClassVar[int]
    HANDLE_EVENT_FIELD_NUMBER: _ClassVar[int]
    USE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EVALUATE_FIELD_NUMBER: _ClassVar[int]
    COMPOSE_FIELD_NUMBER: _ClassVar[int]
    INVOKE_ACTION_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    id: int
    get_providers: GetProvidersResponse
    validate_actions: ValidateActionsResponse
    validate_evaluators: ValidateEvaluatorsResponse
    run_evaluator: RunEvaluatorResponse
    handle_event: HandleEventResponse
    use_model: UseModelResponse
    error: SessionError
    evaluate: EvaluateResponse
    compose: ComposeResponse
    invoke_action: InvokeActionResponse
    batch: _containers.RepeatedCompositeFieldContainer[SessionResponse]
    batches: bool
    actions: bool
    def __init__(self, id: _Optional[int] = ..., get_providers: _Optional[_Union[GetProvidersResponse, _Mapping]] = ..., validate_actions: _Optional[_Union[ValidateActionsResponse, _Mapping]] = ..., validate_evaluators: _Optional[_Union[ValidateEvaluatorsResponse, _Mapping]] = ..., run_evaluator: _Optional[_Union[RunEvaluatorResponse, _Mapping]] = ..., handle_event: _Optional[_Union[HandleEventResponse, _Mapping]] = ..., use_model: _Optional[_Union[UseModelResponse, _Mapping]] = ..., error: _Optional[_Union[SessionError, _Mapping]] = ..., evaluate: _Optional[_Union[EvaluateResponse, _Mapping]] = ..., compose: _Optional[_Union[ComposeResponse, _Mapping]] = ..., invoke_action: _Optional[_Union[InvokeActionResponse, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[SessionResponse, _Mapping]]] = ..., batches: _Optional[bool] = ..., actions: _Optional[bool] = ...) -> None: ...
