"""Exec an MCP server so that it dies with the bridge that started it.

Run by path, as `python -I -S die_with_parent.py PARENT_PID ARGV...`: asks Linux to SIGKILL this
process when its parent dies (PR_SET_PDEATHSIG, which survives exec), checks the parent is still
the one named (it may have died before the request), then execs the server's argv. The `mcp`
SDK's stdio client takes no preexec_fn, so this is the step between its spawn and the server.
Only the standard library: it runs with no site-packages, in a few milliseconds.
"""

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main() -> None:
    parent, argv = int(sys.argv[1]), sys.argv[2:]
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the bridge's own stop (stdin closed, then the tree killed) still ends it
    if os.getppid() != parent:
        sys.exit(1)  # the bridge died before the request: nothing would end this server
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"cannot start the MCP server {argv[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        sys.exit(127)


if __name__ == "__main__":
    main()
