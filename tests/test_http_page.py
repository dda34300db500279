"""The web page at `/`, in a real headless Chromium (the system's, driven by Playwright) against
a real host: its plugins real processes, HTTP on a port of 0, a scripted router on a unix socket
that streams the agent's reply and books each call's cost in a ledger it reports as usage and
budgets. The page asks for the token, chats with a streamed reply and the action's result,
shows the run's providers and model calls, reloads a plugin, moves the spend and tails the log.

With AGENTHOST_SCREENSHOTS=DIR the tests also save a screenshot of each view there (the
README's are made so: `AGENTHOST_SCREENSHOTS=docs/screenshots pytest tests/test_http_page.py`)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
from agenthost.v1 import router_pb2
from playwright.async_api import Browser, Page, async_playwright, expect
from support import fixture_spec
from test_http_openai import ScriptedRouter

from host.host import Host

CHROMIUM = os.environ.get("AGENTHOST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or ""
SHOTS = os.environ.get("AGENTHOST_SCREENSHOTS", "")
GLOBAL_LIMIT, AGENT_LIMIT = 0.01, 0.004

pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="no chromium binary (apt-get install chromium; or set AGENTHOST_CHROMIUM)"
)


class LedgerRouter(ScriptedRouter):
    """ScriptedRouter whose calls are ledger rows: usage (per run, per agent, all), a global
    monthly and a per-agent budget spent by them, and one provider."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[router_pb2.LedgerRow] = []

    def _book(self, request: router_pb2.InvokeRequest, tokens_in: int, tokens_out: int) -> None:
        super()._book(request, tokens_in, tokens_out)
        self.rows.append(
            router_pb2.LedgerRow(
                request_id=f"r{len(self.rows)}", time_ms=int(time.time() * 1000), agent_name=request.meta.agent_name,
                task_id=request.meta.task_id, provider="scripted", model="m", tokens_in=tokens_in,
                tokens_out=tokens_out, cost=0.001, latency_ms=12, status="ok",
            )
        )  # fmt: skip

    async def GetUsage(self, request: router_pb2.GetUsageRequest, context: Any) -> router_pb2.GetUsageResponse:
        rows = [r for r in self.rows if request.task_id in ("", r.task_id) and request.agent_name in ("", r.agent_name)]
        return router_pb2.GetUsageResponse(
            rows=rows[::-1][: request.limit or 100],
            calls=len(rows),
            tokens_in=sum(r.tokens_in for r in rows),
            tokens_out=sum(r.tokens_out for r in rows),
            cost=sum(r.cost for r in rows),
        )

    async def GetBudget(self, request: router_pb2.GetBudgetRequest, context: Any) -> router_pb2.GetBudgetResponse:
        spent = sum(r.cost for r in self.rows)
        agents = sorted({r.agent_name for r in self.rows if r.agent_name})
        budgets = [router_pb2.BudgetStatus(scope="global", period="monthly", limit=GLOBAL_LIMIT, spent=spent)]
        for name in agents:
            mine = sum(r.cost for r in self.rows if r.agent_name == name)
            scope = f"agent:{name}"
            budgets.append(router_pb2.BudgetStatus(scope=scope, period="total", limit=AGENT_LIMIT, spent=mine))
        for b in budgets:
            b.left = max(0.0, b.limit - b.spent)
        return router_pb2.GetBudgetResponse(budgets=budgets)

    async def ListProviders(
        self, request: router_pb2.ListProvidersRequest, context: Any
    ) -> router_pb2.ListProvidersResponse:
        info = router_pb2.ProviderInfo(name="scripted", model="m", id="scripted:m", configured=True, breaker="closed")
        return router_pb2.ListProvidersResponse(providers=[info])


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[tuple[LedgerRouter, str]]:
    scripted, address = LedgerRouter(), f"unix://{tmp_path}/router.sock"
    await scripted.start(address)
    yield scripted, address
    await scripted.server.stop(0)


@pytest.fixture
async def host(start_host: Any, router: tuple[LedgerRouter, str]) -> Host:
    served: Host = await start_host(fixture_spec("fixture"), router_address=router[1], http="127.0.0.1:0")
    return served


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to run as root (CI containers).
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


async def opened(browser: Browser, host: Host) -> Page:
    """The page at `/`, signed in: a wrong token is refused, the host's is taken."""
    assert host.http is not None
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(host.http.url + "/")
    dialog = page.locator("#token-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("input").fill("not-the-token")
    await dialog.locator("button").click()
    await expect(dialog.locator(".error")).to_contain_text("refused")
    await dialog.locator("input").fill(host.api_token)
    await dialog.locator("button").click()
    await expect(dialog).to_be_hidden()
    return page


def fixture(host: Host) -> Any:
    """The fixture plugin's status (pid, restarts) as the host has it."""
    return host.plugins.plugins["fixture"].info()


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


async def say(page: Page, text: str) -> Any:
    """Send `text` in the chat view; the reply's bubble once its run has ended."""
    await page.locator(".composer textarea").fill(text)
    await page.locator(".composer textarea").press("Enter")
    reply = page.locator(".msg.agent").last
    await expect(reply.locator(".meta .badge")).to_be_visible(timeout=15000)
    return reply


async def test_chat_streams_the_reply_and_shows_the_action_and_the_run(browser: Browser, host: Host) -> None:
    page = await opened(browser, host)
    await expect(page.locator("select#agent option")).to_have_text([host.find_agent("").name])
    await page.reload()  # the token is kept for the tab (sessionStorage): not asked again
    await expect(page.locator("select#agent option")).to_have_count(1)
    await expect(page.locator("#token-dialog")).to_be_hidden()
    # Every text the reply bubble shows while it streams, as the page draws it.
    await page.evaluate(
        """() => {
            window.seen = [];
            new MutationObserver(() => {
                const el = document.querySelector('.msg.agent.streaming .text');
                if (el && el.textContent && window.seen.at(-1) !== el.textContent) window.seen.push(el.textContent);
            }).observe(document.querySelector('.messages'), {subtree: true, childList: true, characterData: true});
        }"""
    )
    reply = await say(page, "slow please tell me")
    final = "You said: slow please tell me"
    await expect(reply.locator(".text")).to_have_text(final)
    await expect(reply.locator(".meta .badge")).to_have_text("completed")
    seen: list[str] = await page.evaluate("window.seen")
    partial = [s for s in seen if s != final]
    assert len(partial) >= 3 and all(final.startswith(s) for s in partial), seen  # it came in pieces
    action = reply.locator("li.action")
    await expect(action).to_have_class("action ok")
    await expect(action).to_contain_text("FIXTURE_PICKY")
    await expect(action).to_contain_text("thank you")
    await shot(page, "chat")

    await reply.locator("a.run-link").click()  # the run, step by step
    await expect(page.locator(".run h2")).to_contain_text("completed")
    models = page.locator("tr.model-row")
    await expect(models).to_have_count(1)
    await expect(models.first).to_contain_text("scripted")
    await expect(models.first).to_contain_text("$0.00100")
    await expect(page.locator(".timings .step").first).to_be_visible()
    await shot(page, "run")
    providers = page.locator("tr.provider-row")
    assert await providers.count() >= 1
    await expect(providers.first.locator("td").nth(1)).to_contain_text("ms")
    await expect(providers.first.locator("td").nth(2)).to_contain_text("chars")

    # A message sent elsewhere (the REST API) shows in the list at once: the page follows /api/events.
    await expect(page.locator("tr.run-row")).to_have_count(1)
    assert host.http is not None
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {host.api_token}"}) as rest:
        agent = host.find_agent("").name
        sent = await rest.post(
            f"{host.http.url}/api/agents/{agent}/messages", json={"text": "from elsewhere"}, timeout=30
        )
    assert sent.status_code == 200, sent.text
    await expect(page.locator("tr.run-row")).to_have_count(2)
    await expect(page.locator(f'tr.run-row[data-run="{sent.json()["run_id"]}"]')).to_contain_text("completed")

    await page.goto(page.url.split("#")[0] + "#chat")
    await page.reload()  # a new page shows the room's history
    await expect(page.locator(".msg .text")).to_have_text(["slow please tell me", final, "thank you"])  # the action's
    await expect(page.locator(".msg.user")).to_have_count(1)


async def test_a_plugin_reloads_and_the_spend_moves_after_a_message(
    browser: Browser, host: Host, router: tuple[LedgerRouter, str]
) -> None:
    page = await opened(browser, host)
    await page.goto(page.url.split("#")[0] + "#plugins")
    row = page.locator('tr.plugin-row[data-plugin="fixture"]')
    pid = await row.locator(".pid").text_content()
    assert pid and int(pid) == fixture(host).pid
    await row.locator("button.reload").click()
    await expect(row.locator(".pid")).not_to_have_text(pid, timeout=15000)
    assert int(await row.locator(".pid").text_content() or 0) == fixture(host).pid
    await expect(row.locator(".restarts")).to_have_text(str(fixture(host).restarts))
    await shot(page, "plugins")

    await page.goto(page.url.split("#")[0] + "#spend")
    overall = page.locator('g.budget[data-scope="global"]')
    before = float(await overall.get_attribute("data-spent") or "nan")  # the agent's warm-up is booked too
    assert before == pytest.approx(sum(r.cost for r in router[0].rows))
    await page.goto(page.url.split("#")[0] + "#chat")
    await say(page, "what does it cost")
    spent = sum(r.cost for r in router[0].rows)
    assert spent > before
    await page.goto(page.url.split("#")[0] + "#spend")
    await expect(overall).to_have_attribute("data-spent", str(spent))
    agent = host.find_agent("").name
    mine = sum(r.cost for r in router[0].rows if r.agent_name == agent)
    await expect(page.locator(f'g.budget[data-scope="agent:{agent}"]')).to_contain_text(f"${mine:.5f} / $0.00400")
    await expect(page.locator(".totals .cost")).to_contain_text(f"${spent:.5f}")
    await shot(page, "spend")

    await page.goto(page.url.split("#")[0] + "#logs")  # the tail shows the host's records
    await expect(page.locator(".loglines .line").first).to_be_visible(timeout=10000)
    await shot(page, "logs")
