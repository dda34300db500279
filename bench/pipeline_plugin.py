"""The pipeline benchmark's plugin: one of each component a message meets, each instant,
so the benchmark measures the pipeline's own cost.

With AGENTHOST_BENCH_PART unset (the latency sections of bench/pipeline.py):

- provider BENCH_FACTS: a short text for the prompt;
- action BENCH_NEVER: its validate says no, so the model is offered REPLY only;
- evaluator BENCH_COUNT: always_run, counts the responses;
- TEXT_LARGE model handler: a fixed, valid reply at once (left out when the environment
  sets AGENTHOST_BENCH_NO_MODEL=1, for the run with the router and the local model).

With AGENTHOST_BENCH_PART=a or b (the load section, against elizaOS: 8 providers across 2
plugin processes), plugin "benchpipelinea" has providers BENCH_P1-4, BENCH_NEVER and
BENCH_COUNT; "benchpipelineb" has providers BENCH_P5-8 and the TEXT_LARGE handler.
"""

import os

from plugin_sdk import ActionResult, Plugin, ProviderResult, serve

REPLY = "<response>\n<thought>t</thought>\n<actions>REPLY</actions>\n<text>ok</text>\n</response>"
PART = os.environ.get("AGENTHOST_BENCH_PART", "")

plugin = Plugin(f"benchpipeline{PART}", version="1.0.0", description="Instant components for bench/pipeline.py.")


def fact_provider(i: int) -> None:
    text = f"Benchmark fact {i}: the room is quiet."

    @plugin.provider(f"BENCH_P{i}", description=f"Benchmark fact {i}.", position=i)
    async def fact(ctx, message, state):
        return ProviderResult(text=text)


if PART:
    for i in range(1, 5) if PART == "a" else range(5, 9):
        fact_provider(i)
else:

    @plugin.provider("BENCH_FACTS", description="A short fact for the prompt.")
    async def facts(ctx, message, state):
        return ProviderResult(text="The benchmark room is quiet.")


async def _never(ctx, message, state):
    return False


if PART in ("", "a"):

    @plugin.action("BENCH_NEVER", description="Never applies.", validate=_never)
    async def never(ctx, message, state, options, callback):
        return ActionResult(text="unreachable", success=False)

    @plugin.evaluator("BENCH_COUNT", description="Counts the responses.", always_run=True)
    async def count(ctx, message, state, responses):
        return ActionResult(values={"responses": len(responses)})


if PART in ("", "b") and os.environ.get("AGENTHOST_BENCH_NO_MODEL") != "1":

    @plugin.model("TEXT_LARGE")
    async def model(ctx, params):
        return REPLY


if __name__ == "__main__":
    serve(plugin)
