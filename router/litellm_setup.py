"""The router's litellm settings, applied by one call when a router is built.

Importing a router module changes nothing in litellm (router/__init__.py says why the price-map
variable is the exception); `configure()` is where litellm's globals are set.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import litellm

from .local_provider import ServedModel, register_local_provider


def configure(local_models: Iterable[ServedModel] = ()) -> None:
    """Quiet litellm (no debug banner, no INFO line per call) and serve `local_models` through it
    as `agenthost-local/<name>`. Calling it again changes nothing more."""
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    for model in local_models:
        register_local_provider(model=model)
