"""The config file's [attachments] table (host/agent/attachment_settings.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from host.agent.attachment_settings import AttachmentSettings, settings_from_table
from host.agent.fetch import FetchPolicy

BASE = Path("/etc/agenthost")


def test_an_empty_table_keeps_the_safe_defaults() -> None:
    settings = settings_from_table({}, BASE)
    assert settings == AttachmentSettings()
    assert (settings.fetch.allow_private, settings.fetch.file_roots) == (False, ())


def test_every_key_is_read_and_paths_are_relative_to_the_config_file() -> None:
    table = tomllib.loads(
        """
        max_bytes = 1048576
        timeout_s = 5
        max_redirects = 0
        allow_private = true
        file_roots = ["shared", "/srv/docs"]
        ca_file = "ca.pem"
        max_text_chars = 0
        prompt_chars = 2000
        max_media_bytes = 3145728
        max_pages = 10
        read_timeout_s = 2.5
        model_timeout_s = 30
        description_tokens = 100
        concurrency = 2
        image_prompt = "What is in it?"
        """
    )
    assert settings_from_table(table, BASE) == AttachmentSettings(
        fetch=FetchPolicy(
            max_bytes=1048576,
            timeout_s=5.0,
            max_redirects=0,
            allow_private=True,
            file_roots=(BASE / "shared", Path("/srv/docs")),
            ca_file=BASE / "ca.pem",
        ),
        max_text_chars=0,
        prompt_chars=2000,
        max_media_bytes=3145728,
        max_pages=10,
        read_timeout_s=2.5,
        model_timeout_s=30.0,
        description_tokens=100,
        concurrency=2,
        image_prompt="What is in it?",
    )


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ("[]", "[attachments] must be a table"),
        ({"max_byte": 1}, "unknown key(s) in [attachments]: max_byte"),
        ({"allow_private": "yes"}, "[attachments] allow_private must be true or false"),
        ({"file_roots": "shared"}, "[attachments] file_roots must be a list of directories"),
        ({"file_roots": [""]}, "[attachments] file_roots must be a list of directories"),
        ({"ca_file": 3}, "[attachments] ca_file must be a file name"),
        ({"timeout_s": 0}, "[attachments] timeout_s must be a number of seconds above 0; got 0"),
        ({"timeout_s": True}, "[attachments] timeout_s must be a number of seconds above 0; got True"),
        ({"max_bytes": 0}, "[attachments] max_bytes must be a whole number, at least 1; got 0"),
        ({"max_bytes": 1.5}, "[attachments] max_bytes must be a whole number, at least 1; got 1.5"),
        ({"max_redirects": -1}, "[attachments] max_redirects must be a whole number, at least 0; got -1"),
        ({"max_media_bytes": 4 << 20}, "[attachments] max_media_bytes can be at most 3145728"),
        ({"image_prompt": " "}, "[attachments] image_prompt must be a non-empty string"),
    ],
)
def test_a_wrong_value_names_its_key(table: object, error: str) -> None:
    with pytest.raises(ValueError) as caught:
        settings_from_table([] if table == "[]" else table, BASE)
    assert str(caught.value).startswith(error)
