"""`snitch import`: exports into the store, idempotent and all-or-nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snitch.cli import app
from snitch.config import load_settings
from snitch.store import open_store
from tests.helpers import FIXTURES, dce_export, raw_message, write_json

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("isolated_cli")


def stored() -> int:
    async def count() -> int:
        async with await open_store(load_settings()) as store:
            return await store.count_messages()

    return asyncio.run(count())


def test_import_twice_leaves_the_same_rows() -> None:
    first = runner.invoke(app, ["import", str(FIXTURES)])
    assert first.exit_code == 0, first.output
    assert "imported 17 messages from 4 file(s)" in first.output
    assert stored() == 12
    again = runner.invoke(app, ["import", str(FIXTURES)])
    assert again.exit_code == 0, again.output
    assert stored() == 12


def test_a_bad_message_rolls_back_the_whole_import(tmp_path: Path) -> None:
    good = write_json(tmp_path / "good.json", dce_export([raw_message("1", "fine")]))
    messages = [raw_message(str(i), "ok") for i in range(2, 5000)]
    messages.append({"id": "9999", "content": "no author, no time"})
    bad = write_json(tmp_path / "bad.json", dce_export(messages, channel={"id": "300"}))
    result = runner.invoke(app, ["import", str(good), str(bad)])
    assert result.exit_code == 1
    assert "bad.json: message #4999 (id 9999)" in " ".join(result.output.split())
    assert stored() == 0
