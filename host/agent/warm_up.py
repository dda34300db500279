"""Reading an agent's reply prompt ahead of its first message.

Every reply prompt of an agent starts the same (`responses.prompt_prefix`: the character), and
on the router's local model reading it is most of a first reply's time (~350 of ~480 prompt
tokens for Ada; a cold prompt reads at 50-100 tokens per CPU-second here). When the agent is
ready, the router is asked to have the model its replies go to read that start now: a warm-up
call (`CallMeta.warm_up`), which a local provider answers by keeping the evaluated prompt in its
worker's prompt cache and which never reaches a paid provider. The first reply then reads only
what follows (the providers' context, the actions, the format, the message).
"""

from __future__ import annotations

import logging

import grpc

from ..plugins.connection import PluginUnavailable
from .character import Character
from .models import Models, router_request
from .responses import prompt_prefix

log = logging.getLogger("host.agent")

WARM_UP_TIMEOUT_S = 120.0  # the router may still be loading its models


async def warm_up(models: Models, character: Character, model_type: str) -> int:
    """Have the router's local model read how `character`'s reply prompts start, for calls of
    `model_type`. Returns the prompt tokens read (0: nothing was, as when the replies would go to a
    provider that is not local, or there is no router). Failures are logged, not raised: a warm-up
    only saves time."""
    prefix = prompt_prefix(character)
    if not prefix or not models.router.enabled:
        return 0
    params = {"messages": [{"role": "system", "content": prefix}], "temperature": 0.0}
    request = router_request(model_type, params, models.agent_name)
    request.meta.warm_up = True
    try:
        stub = models.router.stub()
        reply = await stub.Invoke(request, timeout=WARM_UP_TIMEOUT_S, metadata=models.router.metadata)
    except (PluginUnavailable, grpc.aio.AioRpcError) as exc:
        log.info("agent %s: the reply prompt was not read ahead: %s", character.name, exc)
        return 0
    log.debug("agent %s: %s read %d tokens of the reply prompt ahead", character.name, reply.provider, reply.tokens_in)
    return int(reply.tokens_in)
