"""A throwaway Cosmos DB-compatible server for tests: ``@vercel/cosmosdb-server`` (npm) on
127.0.0.1, over HTTPS with its self-signed certificate, in memory, on a port the OS picks
(read back from what ``cosmos_server.js`` prints), stopped afterwards.

The package comes from npm (``npm install --prefix .tools @vercel/cosmosdb-server@1.0.1``)
and is looked for in the repository's ``.tools``; ``node`` on PATH runs it. Without either
the Cosmos DB tests are skipped, except under CI (``CI`` set), which must run them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

from tests.local_servers import stop, unavailable, wait_for_port

HOST: Final = "127.0.0.1"
# The Azure Cosmos DB emulator's well-known key, public in Microsoft's documentation. The
# local server accepts any key; the SDK only needs valid base64 to sign requests.
ACCOUNT_KEY: Final = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
REPO: Final = Path(__file__).resolve().parents[2]
PACKAGE_DIR: Final = REPO / ".tools" / "node_modules" / "@vercel" / "cosmosdb-server"
SCRIPT: Final = Path(__file__).with_name("cosmos_server.js")
INSTALL_HINT: Final = "npm install --prefix .tools @vercel/cosmosdb-server@1.0.1"
START_TIMEOUT_SECONDS: Final = 30
_LISTENING: Final = re.compile(r"listening on port (\d+)")


def _unavailable(reason: str) -> NoReturn:
    unavailable("Cosmos DB", reason)


def find_node() -> Path | None:
    """The ``node`` on PATH."""
    found = shutil.which("node")
    return Path(found) if found else None


def find_package() -> Path | None:
    """The installed ``@vercel/cosmosdb-server`` package under ``.tools``."""
    return PACKAGE_DIR if (PACKAGE_DIR / "package.json").is_file() else None


@dataclass(frozen=True)
class CosmosServer:
    """A running Cosmos DB-compatible endpoint (any key works; TLS is self-signed)."""

    host: str
    port: int
    log: Path
    key: str = ACCOUNT_KEY

    @property
    def endpoint(self) -> str:
        """The account endpoint to give the SDK (with ``connection_verify=False``)."""
        return f"https://{self.host}:{self.port}/"


def _start(node: Path, package: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server and wait for the line that says which port it bound."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(node), str(SCRIPT), str(package)],
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return process, wait_for_port(process, log, _LISTENING, START_TIMEOUT_SECONDS)


@contextmanager
def cosmos_server() -> Iterator[CosmosServer]:
    """Start the server in a temporary directory (for its log); stop it and delete that
    directory on the way out."""
    node = find_node()
    if node is None:
        _unavailable("node not found on PATH (the local Cosmos DB server runs on Node.js)")
    package = find_package()
    if package is None:
        _unavailable(f"@vercel/cosmosdb-server not found in {PACKAGE_DIR.parent}; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="snitch-cosmos-", ignore_cleanup_errors=True) as tmp:
        log = Path(tmp) / "server.log"
        process, port = _start(node, package, log)
        try:
            yield CosmosServer(host=HOST, port=port, log=log)
        finally:
            stop(process)
