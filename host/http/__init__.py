"""The host's HTTP face: an OpenAI-compatible endpoint for every agent and the router (`/v1`),
served by uvicorn on the host's event loop beside the gRPC servers (`agenthost serve --http`).

Nothing is imported here: `address` is read before the host starts, `server` (and with it
FastAPI and uvicorn) only when HTTP is on, so a host without it starts as fast as before.

Modules: `address` (`--http`), `server` (uvicorn in the host's loop), `app` (the FastAPI app),
`auth` (the API token), `errors` (OpenAI's error shape), `body_limit` (413), `openai_types`
(requests), `openai_shapes` (responses and chunks), `openai_routes` (the /v1 routes),
`openai_chat` (the chat completion and the plain route serving it), `openai_agent`
(completions by an agent's pipeline), `openai_router` (the router as a model, embeddings),
`transcript` (a run's events as a reply). REST routes and the web page mount beside /v1 in
`app`."""
