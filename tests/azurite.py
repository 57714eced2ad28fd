"""A throwaway Azurite Blob server for tests: ``azurite-blob`` on 127.0.0.1, in memory, on a
port the server picks itself (``--blobPort 0``, read back from what it prints), stopped and
its working directory removed afterwards.

The binary comes from npm (``npm install --prefix .tools azurite@3.37.0``) and is looked for
in the repository's ``.tools`` first, then on PATH. Without it the Blob tests are skipped,
except under CI (``CI`` set), which must run them.
"""

from __future__ import annotations

import os
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
ACCOUNT: Final = "devstoreaccount1"
# The well-known development storage key, public in Microsoft's documentation.
ACCOUNT_KEY: Final = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
REPO: Final = Path(__file__).resolve().parent.parent
LOCAL_BIN: Final = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
INSTALL_HINT: Final = "npm install --prefix .tools azurite@3.37.0"
START_TIMEOUT_SECONDS: Final = 60
_LISTENING: Final = re.compile(r"successfully listens on https?://[^\s:]+:(\d+)")


def _unavailable(reason: str) -> NoReturn:
    unavailable("Azurite Blob", reason)


def find_azurite() -> Path | None:
    """``azurite-blob`` from the repository's ``.tools``, else the one on PATH."""
    if LOCAL_BIN.is_file() and os.access(LOCAL_BIN, os.X_OK):
        return LOCAL_BIN
    found = shutil.which("azurite-blob")
    return Path(found) if found else None


@dataclass(frozen=True)
class Azurite:
    """A running Blob endpoint for the development account."""

    host: str
    port: int
    log: Path

    @property
    def blob_endpoint(self) -> str:
        """The account's Blob URL (path-style, as Azurite serves it)."""
        return f"http://{self.host}:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """The well-known development connection string, pointed at this server."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )


def _start(binary: Path, workdir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server (in ``workdir``, where it may write its debug files) and wait for
    the line that says which port it bound."""
    command = [
        str(binary),
        "--blobHost",
        HOST,
        "--blobPort",
        "0",
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--skipApiVersionCheck",
    ]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
    return process, wait_for_port(process, log, _LISTENING, START_TIMEOUT_SECONDS)


@contextmanager
def azurite() -> Iterator[Azurite]:
    """Start Azurite Blob in a temporary directory; stop it and delete it on the way out."""
    binary = find_azurite()
    if binary is None:
        _unavailable(f"azurite-blob not found in {LOCAL_BIN.parent} or on PATH; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="snitch-azurite-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        log = root / "server.log"
        process, port = _start(binary, root, log)
        try:
            yield Azurite(host=HOST, port=port, log=log)
        finally:
            stop(process)
