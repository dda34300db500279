"""Character files through the command line: a broken one stops `serve` and `character check`
with one line naming the file and the field, exit status 2 and no traceback; a good one is
described, or written back as a current elizaOS file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).with_name("characters")


def agenthost(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTHOST_DATA_DIR": str((cwd or Path.cwd()) / "data")}
    command = [sys.executable, "-m", "host", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


def broken(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.character.json"
    path.write_text(text)
    return path


def nova_with(**changes: object) -> str:
    doc = json.loads((HERE / "nova.character.json").read_text())
    doc.pop("knowledge")  # its paths are relative to tests/characters
    return json.dumps({**doc, **changes})


BAD_TEXT = {"name": "b", "content": {"text": []}}
CASES = {
    "no name": (lambda: json.dumps({"bio": "x"}), "name is missing"),
    "bio a number": (lambda: nova_with(bio=5), "bio must be a string or a list of strings (got the number 5)"),
    "style a string": (lambda: nova_with(style="x"), 'style must be an object {"all"'),
    "examples not a list of lists": (lambda: nova_with(messageExamples=["hi"]), "messageExamples[0] must be a list"),
    "an example's text": (
        lambda: nova_with(messageExamples=[[{"name": "a", "content": {"text": "x"}}]] * 2 + [[BAD_TEXT]]),
        "messageExamples[2][0].content.text must be a string (got a list)",
    ),
    "a missing knowledge file": (lambda: nova_with(knowledge=[{"path": "gone.md"}]), "knowledge[0].path names "),
    "not JSON": (lambda: '{"name": "x",,}', "is not valid JSON: Expecting property name"),
    "not an object": (lambda: "[1, 2]", "the file must hold a JSON object (got a list)"),
}


def assert_one_line_error(result: subprocess.CompletedProcess[str], path: Path, expected: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith((f"agenthost: character file {path}", f"agenthost: character directory {path}"))
    assert expected in lines[0]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["serve", "check"])
def test_a_broken_character_is_one_line_and_exit_2(tmp_path: Path, case: str, command: str) -> None:
    make, expected = CASES[case]
    path = broken(tmp_path, make())
    args = ("serve", "--listen", f"unix://{tmp_path}/h.sock", "--character", path)
    result = agenthost(*(args if command == "serve" else ("character", "check", path)), cwd=tmp_path)
    assert_one_line_error(result, path, expected)
    assert not (tmp_path / "h.sock").exists()  # serve stopped before starting anything


@pytest.mark.parametrize("command", ["serve", "check"])
def test_a_character_file_that_is_not_there_or_a_folder(tmp_path: Path, command: str) -> None:
    # serve takes a directory of character files; this one has none
    folder = "has no .json files" if command == "serve" else "is a directory"
    for path, expected in ((tmp_path / "nope.json", "does not exist"), (tmp_path, folder)):
        args = ("serve", "--character", path) if command == "serve" else ("character", "check", path)
        assert_one_line_error(agenthost(*args, cwd=tmp_path), path, expected)


def test_check_describes_each_file_in_a_line(tmp_path: Path) -> None:
    files = (HERE / "nova.character.json", HERE / "captain.character.json")
    result = agenthost("character", "check", *files, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    nova, captain = result.stdout.strip().splitlines()
    assert "Nova (agent id 6f0c2a8e-3b1d-4c5e-9a7f-2d4b8e1c0f93)" in nova
    for part in (
        "2 example conversations",
        "3 knowledge sources",
        "3 secrets",
        "plugins: @elizaos/plugin-sql, skywatch",
    ):
        assert part in nova
    assert "templates: messageHandlerTemplate, shouldRespondTemplate" in nova
    assert "other fields kept: advancedMemory, links" in nova
    for part in ("4 lore lines", "clients: discord, direct", "model provider: anthropic"):
        assert part in captain
    assert "sk-" not in result.stdout  # secrets are counted, never shown


def test_check_json_writes_an_older_file_back_in_the_current_shape_without_secret_values(tmp_path: Path) -> None:
    result = agenthost("character", "check", "--json", HERE / "captain.character.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    first = {"name": "{{user1}}", "content": {"text": "Captain, will it storm tomorrow?"}}
    assert doc["messageExamples"][0][0] == first
    assert doc["lore"][0].startswith("Once rode out a typhoon")
    assert doc["people"] == ["First Mate Ortiz"]  # unknown fields kept
    assert doc["secrets"] == {"DISCORD_API_TOKEN": "<redacted>"}
    assert "discord-789" not in result.stdout


def test_check_into_a_reader_that_went_away_is_no_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "host", "character", "check", "--json", str(HERE / "nova.character.json")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head` does once it has what it wants: the write meets a closed pipe
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == ""
