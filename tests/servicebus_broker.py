"""A throwaway Service Bus look-alike for tests: ``tests/servicebus_broker.js`` (an AMQP 1.0
broker on the npm package rhea) on 127.0.0.1, on a port it picks itself and prints, stopped
afterwards. The real azure-servicebus SDK talks to it with ``UseDevelopmentEmulator=true``
in the connection string (plain AMQP, no TLS); what the broker implements, and how it
differs from the service, is said at the top of the script.

rhea comes from npm (``npm install --prefix .tools rhea@3.0.5``) and is looked for in the
repository's ``.tools`` first, then wherever node finds it. Without node or rhea the
Service Bus tests are skipped, except under CI (``CI`` set), which must run them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

from tests.local_servers import stop, unavailable

HOST: Final = "127.0.0.1"
REPO: Final = Path(__file__).resolve().parent.parent
SCRIPT: Final = Path(__file__).resolve().parent / "servicebus_broker.js"
NODE_MODULES: Final = REPO / ".tools" / "node_modules"
INSTALL_HINT: Final = "npm install --prefix .tools rhea@3.0.5"
START_TIMEOUT_SECONDS: Final = 30
_LISTENING: Final = re.compile(r"^LISTENING (\d+)$", re.MULTILINE)


def _unavailable(reason: str) -> NoReturn:
    unavailable("Service Bus", reason)


def _node_env() -> dict[str, str]:
    """The environment node runs in: the repository's ``.tools`` modules first."""
    paths = [str(NODE_MODULES), *filter(None, os.environ.get("NODE_PATH", "").split(os.pathsep))]
    return {**os.environ, "NODE_PATH": os.pathsep.join(paths)}


def find_node() -> Path | None:
    """node, when it can load rhea."""
    node = shutil.which("node")
    if node is None:
        return None
    probe = subprocess.run(
        [node, "-e", "require('rhea')"],
        env=_node_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return Path(node) if probe.returncode == 0 else None


@dataclass(frozen=True)
class ServiceBusBroker:
    """A running broker; ``log`` has its output (set SERVICEBUS_BROKER_DEBUG for more)."""

    host: str
    port: int
    log: Path

    @property
    def connection_string(self) -> str:
        """What the SDK needs: the emulator switch turns TLS off and keeps the port."""
        return (
            f"Endpoint=sb://{self.host}:{self.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
        )


@contextmanager
def servicebus_broker(
    *, lock_duration_ms: int = 30_000, duplicate_window_ms: int = 600_000
) -> Iterator[ServiceBusBroker]:
    """Start the broker; stop it and delete its log on the way out."""
    node = find_node()
    if node is None:
        _unavailable(f"node with the rhea package not found; {INSTALL_HINT}")
    command = [
        str(node),
        str(SCRIPT),
        "--host",
        HOST,
        "--port",
        "0",
        "--lock-duration-ms",
        str(lock_duration_ms),
        "--duplicate-window-ms",
        str(duplicate_window_ms),
        "--exit-with-stdin",  # and its stdin is our pipe: it cannot outlive the tests
    ]
    with tempfile.TemporaryDirectory(
        prefix="snitch-servicebus-", ignore_cleanup_errors=True
    ) as tmp:
        log = Path(tmp) / "broker.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=_node_env(),
            )
        try:
            port = _wait_for_port(process, log)
            yield ServiceBusBroker(host=HOST, port=port, log=log)
        finally:
            stop(process)


def _wait_for_port(process: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if match := _LISTENING.search(log.read_text(errors="replace")):
            return int(match[1])
        if process.poll() is not None:
            break
        time.sleep(0.02)
    stop(process)
    raise RuntimeError(
        f"{SCRIPT.name} did not report a port within {START_TIMEOUT_SECONDS}s "
        f"(exit code {process.returncode})\n{log.read_text(errors='replace')}"
    )
