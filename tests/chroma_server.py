"""A throwaway Chroma server for tests: ``chroma run`` on 127.0.0.1 on a free port, with its
data in a temporary directory, stopped and removed afterwards.

The ``chroma`` executable comes with the chromadb package, so it is looked for next to the
running Python first, then on PATH. Without it the server tests are skipped, except under CI
(``CI`` set), which must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

from tests.local_servers import stop, unavailable
from tests.pg_cluster import free_port

HOST: Final = "127.0.0.1"
START_TIMEOUT_SECONDS: Final = 60
HEARTBEAT: Final = "/api/v2/heartbeat"

# Loopback only: never send the heartbeat through a proxy from the environment.
_DIRECT: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _unavailable(reason: str) -> NoReturn:
    unavailable("Chroma server", reason)


def find_chroma() -> Path | None:
    """The ``chroma`` CLI of the running environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "chroma"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("chroma")
    return Path(found) if found else None


@dataclass(frozen=True)
class ChromaServer:
    """A running server; ``started_in`` is how long it took to answer its heartbeat."""

    host: str
    port: int
    path: Path
    log: Path
    started_in: float


def _answers(port: int) -> bool:
    try:
        with _DIRECT.open(f"http://{HOST}:{port}{HEARTBEAT}", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start(chroma: Path, data: Path, log: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start the server and wait for its heartbeat.

    Another process may grab the probed port before the server binds it, so a server that
    exits while starting is retried on a new port a couple of times.
    """
    environment = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
    for attempt in range(3):
        port = free_port()
        command = [str(chroma), "run", "--path", str(data), "--host", HOST, "--port", str(port)]
        began = time.monotonic()
        with log.open("ab") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        exited_by_itself = False
        try:
            deadline = began + START_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                if _answers(port):
                    return process, port, time.monotonic() - began
                if process.poll() is not None:
                    exited_by_itself = True
                    break
                time.sleep(0.05)
        except BaseException:
            stop(process)
            raise
        stop(process)
        if attempt == 2 or not exited_by_itself:
            output_text = log.read_text(errors="replace")
            raise RuntimeError(
                f"chroma run did not answer {HEARTBEAT} on {HOST}:{port} within "
                f"{START_TIMEOUT_SECONDS}s (exit code {process.returncode})\n{output_text}"
            )
    raise AssertionError("unreachable")


@contextmanager
def chroma_server() -> Iterator[ChromaServer]:
    """Start a server in a temporary directory; stop it and delete it on the way out."""
    chroma = find_chroma()
    if chroma is None:
        _unavailable(f"no chroma executable beside {sys.executable} or on PATH")
    with tempfile.TemporaryDirectory(prefix="snitch-chroma-", ignore_cleanup_errors=True) as tmp:
        data, log = Path(tmp) / "data", Path(tmp) / "server.log"
        process, port, started_in = _start(chroma, data, log)
        try:
            yield ChromaServer(host=HOST, port=port, path=data, log=log, started_in=started_in)
        finally:
            stop(process)
