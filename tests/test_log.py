"""Logging: JSON lines when nobody is watching, so log shippers can parse them."""

from __future__ import annotations

import json

import pytest

from snitch.log import configure_logging, get_logger


def test_json_lines_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    get_logger("test").info("edition written", persona="noir", messages=3)
    get_logger("test").debug("not shown at INFO")
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "edition written"
    assert record["persona"] == "noir"
    assert record["level"] == "info"
    assert "timestamp" in record


def test_console_format_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", "console")
    get_logger("test").debug("threading", conversations=12)
    err = capsys.readouterr().err
    assert "threading" in err
    assert "conversations" in err
    assert not err.lstrip().startswith("{")
