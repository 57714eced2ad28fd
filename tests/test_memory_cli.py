"""`snitch import`, `fact-check`, `forget` and `expire`: the memory from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snitch.cli import app
from snitch.config import load_settings
from snitch.memory.vectors import VectorStore
from snitch.sources.synthetic import generate_server, write_dce_exports
from snitch.store import open_store
from tests.helpers import FIXTURES

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("isolated_cli")


def stored(author_id: str | None = None) -> int:
    """Messages in the configured store, all or one author's."""

    async def count() -> int:
        async with await open_store(load_settings()) as store:
            if author_id is None:
                return await store.count_messages()
            total = 0
            for guild in await store.guilds():
                messages = await store.messages(guild.id)
                total += sum(1 for m in messages if m.author.id == author_id)
            return total

    return asyncio.run(count())


def vectors_stored() -> int:
    with VectorStore.persistent(load_settings().vectors_dir) as vectors:
        return vectors.count()


def test_fact_check_against_exports_keeps_nothing(isolated_cli: Path) -> None:
    """With exports, the store and memory live in a scratch directory for one command."""
    result = runner.invoke(app, ["fact-check", "Alright, fixing that.", str(FIXTURES), "--json"])

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["claim"] == "Alright, fixing that."
    assert answer["verdict"] in {"supported", "contradicted", "not enough evidence"}
    assert answer["semantic"] is True
    assert answer["evidence"], answer
    for item in answer["evidence"]:
        assert item["jump_url"] == (
            f"https://discord.com/channels/{answer['guild_id']}/{item['channel_id']}/"
            f"{item['message_id']}"
        )
    assert not (isolated_cli / "data").exists()


def test_fact_check_the_store_after_an_import() -> None:
    assert runner.invoke(app, ["import", str(FIXTURES)]).exit_code == 0

    result = runner.invoke(app, ["fact-check", "fixing that"])

    assert result.exit_code == 0, result.output
    assert "Evidence" in result.stdout
    assert "https://discord.com/channels/" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["fact-check", "   "], "the claim is empty"),
        (["fact-check", "x" * 600], "keep it under 500"),
        (["fact-check", "did anyone say cake"], "the store is empty"),
        (["fact-check", "cake", "--guild", "42"], "no such guild"),
        (["forget", "123"], "the store is empty"),
    ],
)
def test_bad_requests_fail_clearly_and_write_nothing(
    arguments: list[str], complaint: str, isolated_cli: Path
) -> None:
    result = runner.invoke(app, arguments)

    assert result.exit_code == 1
    assert complaint in " ".join(result.output.split())
    assert not (isolated_cli / "data" / "vectors").exists()


def test_importing_twice_leaves_the_same_rows_and_vectors() -> None:
    assert runner.invoke(app, ["import", str(FIXTURES)]).exit_code == 0
    rows, vectors = stored(), vectors_stored()
    assert rows > 0
    assert vectors > 0

    again = runner.invoke(app, ["import", str(FIXTURES)])

    assert again.exit_code == 0, again.output
    assert (stored(), vectors_stored()) == (rows, vectors)


def test_expire_refuses_a_bad_duration() -> None:
    result = runner.invoke(app, ["expire", "--older-than", "soon"])
    assert result.exit_code == 2
    assert "'soon' is not a duration" in " ".join(result.output.split())


def test_forget_removes_rows_and_vectors() -> None:
    assert runner.invoke(app, ["import", str(FIXTURES)]).exit_code == 0
    vectors_before = vectors_stored()

    # The most prolific author in the fixtures.
    async def authors() -> dict[str, int]:
        async with await open_store(load_settings()) as store:
            counts: dict[str, int] = {}
            for guild in await store.guilds():
                for m in await store.messages(guild.id):
                    counts[m.author.id] = counts.get(m.author.id, 0) + 1
            return counts

    counts = asyncio.run(authors())
    target = max(counts, key=counts.__getitem__)

    result = runner.invoke(app, ["forget", target])

    assert result.exit_code == 0, result.output
    assert f"forgot user {target}" in result.output
    assert stored(target) == 0
    assert stored() == sum(counts.values()) - counts[target]
    assert 0 < vectors_before - vectors_stored() <= counts[target]


def test_expire_removes_old_rows_and_vectors() -> None:
    assert runner.invoke(app, ["import", str(FIXTURES)]).exit_code == 0
    assert stored() > 0

    result = runner.invoke(app, ["expire", "--older-than", "1d"])

    assert result.exit_code == 0, result.output
    # The fixtures are years old: everything goes.
    assert stored() == 0
    assert vectors_stored() == 0


def test_a_killed_import_finishes_when_run_again(isolated_cli: Path) -> None:
    """SIGKILL once the first batch is stored; the rerun leaves every message once."""
    server = generate_server(seed=3, channels=3, messages=1500, days=1.0, planted=2)
    exports = write_dce_exports(server, isolated_cli / "exports")
    database = isolated_cli / "data" / "snitch.db"
    command = [sys.executable, "-m", "snitch", "import", str(exports[0].parent)]
    environment = {**os.environ, "SNITCH_LOG__LEVEL": "WARNING"}

    process = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    rows = 0
    while rows == 0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        rows = _rows_in(database)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the import ended before it could be killed"
    assert 0 < _rows_in(database) < 1500

    again = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)

    assert again.returncode == 0, again.stderr
    assert stored() == 1500
    non_empty = sum(1 for m in server.messages if m.content.strip())
    assert vectors_stored() == non_empty


def _rows_in(database: Path) -> int:
    """Committed messages, read beside the writer (WAL lets a reader in)."""
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            (count,) = connection.execute("SELECT count(*) FROM messages").fetchone()
            return int(count)
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def test_stories_with_embeddings_still_partition_the_chat() -> None:
    """The same-topic pass only joins conversations: --all still covers every message once."""
    plain = runner.invoke(app, ["stories", str(FIXTURES), "--all", "--json"])
    joined = runner.invoke(app, ["stories", str(FIXTURES), "--all", "--json", "--embeddings"])

    assert plain.exit_code == 0, plain.output
    assert joined.exit_code == 0, joined.output
    plain_ids = [i for story in json.loads(plain.stdout) for i in story["message_ids"]]
    joined_stories = json.loads(joined.stdout)
    joined_ids = [i for story in joined_stories for i in story["message_ids"]]
    assert sorted(joined_ids) == sorted(plain_ids)
    assert len(joined_ids) == len(set(joined_ids))
    assert len(joined_stories) <= len(json.loads(plain.stdout))
