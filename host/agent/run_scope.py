"""The run a model call belongs to, for the router's task scope.

The pipeline runs each message as a task of its own and marks it with the run's id here;
`AgentModels` gives model calls made in that task the run as their `task_id` (the router's
`task:<id>` budget scope) unless the caller named one.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from plugin_sdk.types import ModelOutput

from .models import Models

#: The id of the run the current task works for ("" outside a run).
CURRENT_RUN: ContextVar[str] = ContextVar("agenthost_current_run", default="")


class AgentModels(Models):
    """One agent's model calls: the agent's name is the router's agent scope (`agent:<name>`),
    the current run its task scope."""

    async def use(self, model_type: str, params: dict[str, Any], timeout: float | None = None) -> ModelOutput:
        run_id = CURRENT_RUN.get()
        if run_id and not params.get("task_id"):
            params = {**params, "task_id": run_id}
        return await super().use(model_type, params, timeout)
