"""The command line end to end: real exports in, editions and clear errors out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snitch.cli import app
from tests.fake_llm import FakeLLMServer, Recorded, Reply
from tests.helpers import FIXTURES, dce_export, raw_message, write_json

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_stories_all_partition_the_input() -> None:
    result = runner.invoke(app, ["stories", str(FIXTURES), "--all", "--json"])
    assert result.exit_code == 0, result.output
    stories = json.loads(result.stdout)
    ids = [mid for story in stories for mid in story["message_ids"]]
    assert len(ids) == len(set(ids)) == 12
    for story in stories:
        assert set(story) >= {
            "id", "title", "channel_id", "message_ids", "participants", "score", "start", "end"
        }  # fmt: skip
    scores = [story["score"] for story in stories]
    assert scores == sorted(scores, reverse=True)


def test_stories_table_without_json() -> None:
    result = runner.invoke(app, ["stories", str(FIXTURES)])
    assert result.exit_code == 0
    assert "stories in Example guild" in result.stdout


def test_newsletter_json_has_the_documented_shape() -> None:
    result = runner.invoke(app, ["newsletter", str(FIXTURES), "--format", "json", "-p", "noir"])
    assert result.exit_code == 0, result.output
    edition = json.loads(result.stdout)
    assert set(edition) >= {
        "persona", "engine", "headline", "window", "stories", "body_markdown", "usage"
    }  # fmt: skip
    assert edition["persona"] == "noir"
    assert edition["engine"] == "offline"
    assert edition["usage"] == {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    quote = edition["stories"][0]["quotes"][0]
    assert set(quote) == {"message_id", "author_id", "author_name", "text", "jump_url"}


def test_newsletter_html_to_file(tmp_path: Path) -> None:
    out = tmp_path / "edition.html"
    result = runner.invoke(
        app, ["newsletter", str(FIXTURES), "--format", "html", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.lower().startswith("<!doctype html>")
    assert "THE SNITCH" in page
    assert result.stdout == ""


def test_newsletter_markdown_window() -> None:
    result = runner.invoke(
        app,
        ["newsletter", str(FIXTURES), "--since", "2023-01-06T16:00", "--until", "2023-01-07"],
    )
    assert result.exit_code == 0, result.output
    assert "chill" in result.stdout
    assert "Thomas-is-Thomas" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--persona", "pirate"], "unknown persona 'pirate'"),
        (["--last", "24h"], "no messages between"),
        (["--last", "soon"], "not a duration"),
        (["--since", "yesterday"], "not an ISO date"),
        (["--since", "2023-01-07", "--until", "2023-01-06"], "must be before"),
        (["--since", "2023-01-01", "--last", "2h"], "either --since or --last"),
    ],
)
def test_bad_options_fail_clearly_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "never.md"
    result = runner.invoke(app, ["newsletter", str(FIXTURES), "--out", str(out), *args])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert not out.exists()
    assert list(tmp_path.glob(".never.md*")) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{ not json", "not valid JSON"),
        ('{"hello": "world"}', "not a DiscordChatExporter JSON export"),
        (json.dumps(dce_export([])), "empty export"),
        (json.dumps(dce_export([{"id": "1", "author": {"id": "2"}}])), "missing field"),
    ],
)
def test_bad_exports_fail_clearly_and_write_nothing(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "input.json"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["newsletter", str(path), "--format", "json", "-o", str(out)])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "input.json" in result.output
    assert not out.exists()


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNITCH_LLM__TEMPERATURE", "hot")
    result = runner.invoke(app, ["stories", str(FIXTURES)])
    assert result.exit_code == 1
    assert "SNITCH_LLM__TEMPERATURE" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_default_persona_comes_from_settings(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SNITCH_NEWSROOM__PERSONA=herald\n", encoding="utf-8")
    path = write_json(
        tmp_path / "e.json",
        dce_export(raw_message(str(i), f"pizza talk {i}", minutes=i) for i in range(4)),
    )
    result = runner.invoke(app, ["newsletter", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["persona"] == "herald"


def test_newsletter_through_an_openai_compatible_server() -> None:
    def answer(request: Recorded) -> Reply:
        system = request.body["messages"][0]["content"]
        if "News Desk" in system:
            return Reply(json.dumps({"stories": [{"candidate": "S1", "title": "Threads!"}]}))
        if "Editor" in system:
            return Reply(json.dumps({"headline": "S1", "supporting": [], "reason": "news"}))
        article = {"story": "S1", "title": "THREADS FOUND", "summary": "At last.", "quotes": []}
        return Reply(json.dumps({"articles": [article]}))

    with FakeLLMServer(responder=answer) as server:
        args = ["newsletter", str(FIXTURES), "--format", "json", "--llm", "openai"]
        args += ["--model", "local", "--base-url", server.openai_base_url]
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    edition = json.loads(result.stdout)
    assert edition["engine"] == "openai:local"
    assert edition["headline"] == "THREADS FOUND"
    assert edition["usage"]["calls"] == 3


def test_newsletter_with_the_server_down_still_prints_an_edition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SNITCH_LLM__MAX_RETRIES", "0")
    with FakeLLMServer() as server:
        down = server.openai_base_url  # nothing listens here once the server has stopped
    result = runner.invoke(
        app,
        ["newsletter", str(FIXTURES), "--format", "json", "--llm", "openai", "--base-url", down],
    )
    assert result.exit_code == 0, result.output
    edition = json.loads(result.stdout)
    assert edition["engine"] == "offline"
    assert edition["stories"][0]["quotes"]
    assert "warning:" in result.stderr
    assert "offline engine stood in" in result.stderr


def test_unknown_llm_provider_is_a_clear_error() -> None:
    result = runner.invoke(app, ["newsletter", str(FIXTURES), "--llm", "skynet"])
    assert result.exit_code == 2
    assert "--llm" in result.output
