"""A throwaway PostgreSQL cluster for tests: started from the installed server binaries in a
temporary directory, listening on 127.0.0.1 on a free port, and removed afterwards.

PostgreSQL refuses to run as root, so when the tests run as root the server binaries run
as the ``postgres`` system user. Without server binaries the PostgreSQL tests are skipped,
except under CI (``CI`` set), which must run them.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

import pytest

SEARCH_GLOB: Final = "/usr/lib/postgresql/*/bin"
SERVER_USER: Final = "postgres"
SUPERUSER: Final = "snitch"
START_TIMEOUT_SECONDS: Final = 60


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; fail under CI, where a silently skipped PostgreSQL leg is a bug."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI must run the PostgreSQL tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """Sort key of ``/usr/lib/postgresql/<version>/bin``, so the newest version wins."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: the newest Debian-style install,
    else wherever PATH finds them."""
    candidates = sorted(
        (path for path in Path("/").glob(SEARCH_GLOB.lstrip("/")) if (path / "initdb").exists()),
        key=_version_key,
        reverse=True,
    )
    for candidate in candidates:
        if (candidate / "pg_ctl").exists():
            return candidate
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class PgCluster:
    """A running cluster that trusts ``snitch`` on 127.0.0.1."""

    host: str
    port: int
    user: str
    bin_dir: Path

    def url(self, database: str) -> str:
        """The SQLAlchemy asyncpg URL of one database on this cluster."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database (a new random name unless given) and return its URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        self._client("createdb", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, even if a connection was left open on it."""
        self._client("dropdb", "--force", "--if-exists", name)

    def _client(self, program: str, *args: str) -> None:
        """Client tools talk TCP to the trusting server, so they can run as any user."""
        command = [str(self.bin_dir / program), "-h", self.host, "-p", str(self.port)]
        subprocess.run(
            [*command, "-U", self.user, *args], check=True, capture_output=True, timeout=30
        )


def _as_server_user(command: list[str]) -> list[str]:
    """Run as ``postgres`` when we are root, which the server refuses to be."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


def _text(stream: str | bytes | None) -> str:
    """Captured output as text (a timeout hands it over as bytes even with ``text=True``)."""
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    try:
        subprocess.run(
            _as_server_user(command),
            check=True,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        output = "".join(_text(stream) for stream in (exc.stdout, exc.stderr))
        if log is not None and log.exists():
            output += log.read_text(errors="replace")
        raise RuntimeError(f"{what} failed: {exc}\n{output}") from exc


def _start(bin_dir: Path, data: Path, log: Path, sockets: Path) -> int:
    """Start the server on a free port and wait until it accepts connections.

    Another process may grab the probed port before the server binds it, so a failed start
    is retried on a new port a couple of times.
    """
    for attempt in range(3):
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sockets} "
            # Durability is pointless for a cluster deleted after the tests.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
        try:
            _run([*pg_ctl, "-w", "-t", str(START_TIMEOUT_SECONDS), "start"], "pg_ctl start", log)
        except RuntimeError:
            if attempt == 2 or (data / "postmaster.pid").exists():
                raise
        else:
            return port
    raise AssertionError("unreachable")


@contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """Start a cluster in a temporary directory; stop it and delete it on the way out."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) under {SEARCH_GLOB}/")
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            _unavailable("running as root without runuser to drop to the postgres user")
        try:
            owner = pwd.getpwnam(SERVER_USER)
        except KeyError:
            _unavailable(f"running as root and there is no {SERVER_USER!r} user to run as")

    root = Path(tempfile.mkdtemp(prefix="snitch-pg-"))
    data, log, sockets = root / "data", root / "server.log", root / "sockets"
    try:
        sockets.mkdir()
        if owner is not None:
            for path in (root, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER]
        _run([*initdb, "--encoding=UTF8", "--locale=C", "--no-sync"], "initdb")
        port = _start(bin_dir, data, log, sockets)
        yield PgCluster(host="127.0.0.1", port=port, user=SUPERUSER, bin_dir=bin_dir)
    finally:
        try:
            # Whatever happened above, a server that wrote its pid file must be stopped.
            if (data / "postmaster.pid").exists():
                stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
                _run(stop, "pg_ctl stop", log)
        finally:
            shutil.rmtree(root, ignore_errors=True)
