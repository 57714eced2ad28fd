"""What the tests' local stand-ins for services share (Azurite, the Cosmos DB and Service Bus
look-alikes, a Chroma server): skip-or-fail when one is missing, and stopping one."""

from __future__ import annotations

import os
import subprocess
from typing import Final, NoReturn

import pytest

STOP_TIMEOUT_SECONDS: Final = 10


def in_ci() -> bool:
    """Whether this run is CI's, which must run every service-backed leg."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(tests: str, reason: str) -> NoReturn:
    """Skip locally; fail under CI, where a silently skipped leg would hide a missing install."""
    if in_ci():
        pytest.fail(f"CI must run the {tests} tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server we started (by its own handle), killing it if it lingers."""
    if process.stdin is not None:
        process.stdin.close()
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
