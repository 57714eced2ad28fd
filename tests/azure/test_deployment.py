"""The deployment files: requirements in step with pyproject, no secrets in the repository."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def requirement_lines() -> list[str]:
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_requirements_are_the_projects_dependencies_then_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert requirement_lines() == [*project["dependencies"], "."]


def test_host_json_is_a_functions_v4_host_with_the_extension_bundle() -> None:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"


def test_the_example_local_settings_hold_placeholders_not_secrets() -> None:
    values = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))[
        "Values"
    ]
    secret_names = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CONNECTION", re.IGNORECASE)
    for name, value in values.items():
        if name.endswith("_URL") or value == "UseDevelopmentStorage=true":
            continue  # where to find secrets, or the local storage emulator: no secret
        if secret_names.search(name):
            assert re.fullmatch(r"<[^<>]+>", value), name
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_function_app_exports_the_app() -> None:
    import function_app

    from snitch.azure.functions import app

    assert function_app.app is app
