"""A hand-written stdio MCP server that misbehaves, for tests/test_mcp_servers.py:
`mute` never answers initialize; `malformed` answers a tool call with a result that is no
CallToolResult (content is not a list). JSON-RPC lines on stdin and stdout, no SDK."""

from __future__ import annotations

import json
import sys
import time


def answer(request_id: object, result: object) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}) + "\n")
    sys.stdout.flush()


def main() -> None:
    mode = sys.argv[1]
    for line in sys.stdin:
        if mode == "mute":
            continue  # reads, never answers
        request = json.loads(line)
        method, request_id = request.get("method"), request.get("id")
        if request_id is None:
            continue  # a notification
        if method == "initialize":
            answer(
                request_id,
                {
                    "protocolVersion": request["params"]["protocolVersion"],
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "raw", "version": "0.1"},
                },
            )
        elif method == "tools/list":
            schema = {"type": "object", "properties": {}}
            answer(request_id, {"tools": [{"name": "broken", "description": "Answers badly.", "inputSchema": schema}]})
        elif method == "tools/call":
            answer(request_id, {"content": 5})
        elif method == "ping":
            answer(request_id, {})
        else:
            error = {"code": -32601, "message": f"no method {method}"}
            sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}) + "\n")
            sys.stdout.flush()
    time.sleep(0)


if __name__ == "__main__":
    main()
