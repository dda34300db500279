"""Regenerate the Python code for proto/agenthost/v1, or with --check fail if it would change."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE = PROTO_ROOT / "agenthost" / "v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out: Path) -> list[Path]:
    protos = sorted(PACKAGE.glob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *map(str, protos),
        ],
        check=True,
    )
    return sorted(p for p in (out / "agenthost" / "v1").iterdir() if p.name.endswith(SUFFIXES))


def main() -> int:
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        committed = sorted(p for p in PACKAGE.iterdir() if p.name.endswith(SUFFIXES))
        stale = [
            p.name
            for p in fresh
            if not (PACKAGE / p.name).exists() or not filecmp.cmp(p, PACKAGE / p.name, shallow=False)
        ]
        extra = sorted({p.name for p in committed} - {p.name for p in fresh})
        if check:
            if stale or extra:
                print(f"generated code is out of date: {', '.join(stale + extra)}; run `make proto`", file=sys.stderr)
                return 1
            print(f"generated code matches the protos ({len(fresh)} files)")
            return 0
        for name in extra:
            (PACKAGE / name).unlink()
        for path in fresh:
            shutil.copy(path, PACKAGE / path.name)
        print(f"regenerated {len(fresh)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
