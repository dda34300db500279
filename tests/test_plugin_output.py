"""How plugin output lines become host log records."""

import logging

import pytest

from host.plugins.process import _parse_line


@pytest.mark.parametrize(
    "line, level, message",
    [
        ('{"level": "warn", "msg": "disk low"}', logging.WARNING, "disk low"),
        ('{"level": "WARNING", "msg": "slog style"}', logging.WARNING, "slog style"),
        ('{"@level": "error", "@message": "hclog style"}', logging.ERROR, "hclog style"),
        ('{"level": "trace", "msg": "fine"}', 5, "fine"),
        ('{"level": "fatal", "msg": "bye", "exc": "Traceback..."}', logging.CRITICAL, "bye\nTraceback..."),
        ("plain text from print()", logging.INFO, "plain text from print()"),
        ("{not json", logging.INFO, "{not json"),
    ],
)
def test_plugin_lines_keep_their_level_and_message(line, level, message):
    assert _parse_line(line)[:2] == (level, message)
