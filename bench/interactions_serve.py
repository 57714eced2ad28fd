"""``snitch serve`` under load, next to a bare ASGI app on the same server stack.

Both servers run as their own processes on loopback with the same uvicorn options; the
load comes from this process. Each gets:

1. a paced run: ``--count`` signed requests at ``--rate`` per second, sent on schedule
   whether or not earlier ones have returned (an open loop, so a slow server cannot slow
   the load down and hide its own latency), half PING and half ``/snitch forget-me`` (a
   command that defers: the endpoint answers type 5 and its worker finishes the command
   through a local stand-in for Discord's webhook, in the same process);
2. a flat-out run: the same mix, ``--concurrency`` requests in flight, for throughput.

``snitch serve`` really verifies each Ed25519 signature, runs the bot's CommandTree and
queues the deferred half; the bare app answers PONG to anything. It prints p50/p99
latency of the paced run, throughput of the flat-out run, and the ratios. Targets: p99
under 50 ms at 200 requests per second, throughput at least half the bare app's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import SigningKey

from _serve_peers import APPLICATION_ID, free_port
from _shared import fail, require_positive, verdict
from snitch.tips import generate_key

BENCH_DIR = Path(__file__).resolve().parent
MAX_P99_MS = 50.0
MIN_THROUGHPUT_RATIO = 0.5
GUILD_ID = "100000000000000002"
CHANNEL_ID = "100000000000000010"
KEY = SigningKey(bytes(range(32)))


@dataclass(frozen=True)
class Load:
    """What one server did under the paced and the flat-out runs."""

    latencies_ms: list[float]
    throughput: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def forget_me(number: int) -> dict[str, Any]:
    """A /snitch forget-me interaction from member ``number`` (a new member each time, so
    no cooldown refuses it inline: every one is deferred)."""
    user = {
        "id": str(200_000_000_000_000_000 + number),
        "username": f"member{number}",
        "global_name": None,
        "discriminator": "0",
        "avatar": None,
    }
    return {
        "id": str(300_000_000_000_000_000 + number),
        "application_id": APPLICATION_ID,
        "type": 2,
        "token": f"bench-token-{number}",
        "version": 1,
        "guild_id": GUILD_ID,
        "channel_id": CHANNEL_ID,
        "channel": {
            "id": CHANNEL_ID,
            "type": 0,
            "name": "general",
            "guild_id": GUILD_ID,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "permissions": str((1 << 10) | (1 << 11)),
        },
        "member": {
            "user": user,
            "roles": [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str((1 << 10) | (1 << 11) | (1 << 31)),
        },
        "data": {
            "id": "100000000000005000",
            "name": "snitch",
            "type": 1,
            "options": [{"name": "forget-me", "type": 1, "options": []}],
        },
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": "0",
        "attachment_size_limit": 8 * 1024 * 1024,
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID},
        "context": 0,
    }


def signed(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    signature = KEY.sign(stamp.encode() + body).signature.hex()
    headers = {
        "X-Signature-Ed25519": signature,
        "X-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }
    return body, headers


def request_for(number: int, *, pings_only: bool = False) -> tuple[bytes, dict[str, str]]:
    """Even numbers PING, odd ones run a deferred command (unless ``pings_only``)."""
    return signed({"type": 1} if pings_only or number % 2 == 0 else forget_me(number))


class Connection:
    """One keep-alive HTTP/1.1 connection, written by hand: httpx in this same process
    topped out near 600 requests a second, which measured the client, not the servers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, raw_request: bytes) -> tuple[int, bytes]:
        self._writer.write(raw_request)
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length)
        return status, body

    def close(self) -> None:
        self._writer.close()


def raw_request(port: int, number: int, *, pings_only: bool = False) -> bytes:
    """The whole signed request, ready to write (signed just before the run)."""
    body, headers = request_for(number, pings_only=pings_only)
    lines = ["POST /interactions HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


async def _post(connection: Connection, raw: bytes, where: str) -> float:
    started = time.perf_counter()
    status, body = await connection.post(raw)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or json.loads(body).get("type") not in (1, 4, 5):
        fail(f"{where} answered {status}: {body[:200]!r}")
    return elapsed


async def load(
    port: int, *, count: int, rate: float, concurrency: int, first: int, pings_only: bool = False
) -> Load:
    """The paced run, then the flat-out run, against the server on ``port``."""
    where = f"port {port}"
    pool = [await Connection.open(port) for _ in range(concurrency)]
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in pool:
        idle.put_nowait(connection)

    async def one(raw: bytes) -> float:
        connection = await idle.get()
        try:
            return await _post(connection, raw, where)
        finally:
            idle.put_nowait(connection)

    try:
        warm = [raw_request(port, number) for number in range(first, first + 50)]
        for raw in warm:  # connections, imports, caches
            await one(raw)
        paced_requests = [
            raw_request(port, first + 100 + i, pings_only=pings_only) for i in range(count)
        ]
        start = time.perf_counter()
        tasks = []
        for index, raw in enumerate(paced_requests):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(raw)))
        latencies = list(await asyncio.gather(*tasks))

        flat_out = iter(
            [
                raw_request(port, first + 100 + count + i, pings_only=pings_only)
                for i in range(count)
            ]
        )

        async def worker(connection: Connection) -> None:
            for raw in flat_out:
                await _post(connection, raw, where)

        started = time.perf_counter()
        await asyncio.gather(*(worker(connection) for connection in pool))
        throughput = count / (time.perf_counter() - started)
    finally:
        for connection in pool:
            connection.close()
    return Load(latencies, throughput)


def median_load(loads: list[Load]) -> Load:
    """The run with the median throughput; its paced run's latencies come along with it,
    so the percentiles printed are those of one real run, not a blend."""
    ordered = sorted(loads, key=lambda run: run.throughput)
    return ordered[len(ordered) // 2]


async def wait_ready(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                fail(f"{what} exited with {process.returncode} before it was ready")
            try:
                body, headers = signed({"type": 1})
                response = await client.post(url, content=body, headers=headers)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    fail(f"{what} was not ready after 120 s")


@contextmanager
def process(command: list[str], env: dict[str, str] | None = None) -> Iterator[Any]:
    child = subprocess.Popen(
        command, cwd=BENCH_DIR.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def snitch_env(data_dir: Path, stub_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "SNITCH_DATA_DIR": str(data_dir),
        "SNITCH_DISCORD__TOKEN": "bench-token",
        "SNITCH_DISCORD__PUBLIC_KEY": KEY.verify_key.encode().hex(),
        "SNITCH_DISCORD__API_BASE": f"http://127.0.0.1:{stub_port}/api/v10",
        "SNITCH_TIPS__KEY": generate_key(),
        "SNITCH_LOG__LEVEL": "WARNING",
        "SNITCH_LOG__FORMAT": "json",
        "HF_HUB_OFFLINE": "1",
    }


async def run(args: argparse.Namespace) -> bool:
    python = sys.executable
    peers = str(BENCH_DIR / "_serve_peers.py")
    stub_port, bare_port, snitch_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="snitch-serve-bench-") as scratch:
        env = snitch_env(Path(scratch), stub_port)
        serve = [python, "-m", "snitch", "serve", "--port", str(snitch_port)]
        with (
            process([python, peers, "stub", "--port", str(stub_port)]),
            process([python, peers, "bare", "--port", str(bare_port)]) as bare,
            process(serve, env) as snitch,
        ):
            bare_url = f"http://127.0.0.1:{bare_port}/interactions"
            snitch_url = f"http://127.0.0.1:{snitch_port}/interactions"
            await wait_ready(bare_url, bare, "the bare app")
            await wait_ready(snitch_url, snitch, "snitch serve")
            options = {"count": args.count, "rate": args.rate, "concurrency": args.concurrency}
            runs: dict[str, list[Load]] = {"bare": [], "ours": [], "pings": []}
            for attempt in range(args.repeat):  # alternated, so load on the machine hits all
                offset = attempt * 10 * args.count  # every run: members new to the cooldowns
                runs["bare"].append(await load(bare_port, first=offset, **options))
                # The same endpoint without its in-process worker's share: PING only, first,
                # so that no deferred work left from a mixed run is still being finished.
                runs["pings"].append(
                    await load(snitch_port, first=offset + 2, pings_only=True, **options)
                )
                runs["ours"].append(await load(snitch_port, first=offset + 1, **options))
    baseline, ours, pings = (median_load(runs[name]) for name in ("bare", "ours", "pings"))

    print(f"median of {args.repeat} alternated runs, each:")
    print(f"{args.count} requests at {args.rate:g}/s (half PING, half a deferred command),")
    print(f"then {args.count} flat out with {args.concurrency} in flight; 2 processes on loopback")
    shown = (("bare ASGI app", baseline), ("snitch serve", ours), ("  PING only", pings))
    for name, result in shown:
        print(
            f"  {name:14} p50 {result.percentile(0.5):6.2f} ms  p99 {result.percentile(0.99):6.2f}"
            f" ms  mean {statistics.fmean(result.latencies_ms):6.2f} ms"
            f"  throughput {result.throughput:7.1f} req/s"
        )
    ratio = ours.throughput / baseline.throughput
    p99 = ours.percentile(0.99)
    print(f"  latency ratio (p99): {p99 / baseline.percentile(0.99):.2f}x of the bare app")
    print(f"  throughput ratio: {ratio:.2f} of the bare app", end="")
    print(f" ({pings.throughput / baseline.throughput:.2f} with PING only)")
    passed = verdict(
        p99 < MAX_P99_MS, f"p99 < {MAX_P99_MS:g} ms at {args.rate:g}/s", f"{p99:.1f} ms"
    )
    passed &= verdict(
        ratio >= MIN_THROUGHPUT_RATIO,
        f"throughput >= {MIN_THROUGHPUT_RATIO:g} of the bare app",
        f"{ratio:.2f}",
    )
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="requests per run")
    parser.add_argument("--rate", type=float, default=200.0, help="paced requests per second")
    parser.add_argument("--concurrency", type=int, default=16, help="in flight, flat out")
    parser.add_argument("--repeat", type=int, default=3, help="alternated runs per server")
    args = parser.parse_args()
    require_positive(parser, args, "count", "rate", "concurrency", "repeat")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
