"""What the tests' local stand-ins for services share (Azurite, the Cosmos DB and Service Bus
look-alikes, a Chroma server): skip-or-fail when one is missing, and stopping one."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
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


def wait_for_port(
    process: subprocess.Popen[bytes], log: Path, listening: re.Pattern[str], timeout: float
) -> int:
    """The port a server prints (``listening`` captures it) into ``log`` once it is bound;
    the server is stopped, and the log shown, if it dies or stays silent."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := listening.search(log.read_text(errors="replace")):
                return int(match[1])
            if process.poll() is not None:
                break
            time.sleep(0.05)
    except BaseException:
        stop(process)
        raise
    stop(process)
    raise RuntimeError(
        f"{process.args!r} did not report a listening port within {timeout}s "
        f"(exit code {process.returncode})\n{log.read_text(errors='replace')}"
    )
