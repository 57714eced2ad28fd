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
queues the deferred half; the bare app answers PONG to anything. A second bare app checks
the signature before its PONG, as Discord requires of every interactions endpoint: its
ratio to the first is the most any conforming endpoint can reach on this machine.

It prints p50/p99 latency of the paced run, throughput of the flat-out run, the CPU each
request cost the server and the load generator, the ratios, and how long after its burst
every deferred command had answered through the webhook. Targets: p99 under 50 ms at 200
requests per second, throughput at least half the bare app's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
DRAIN_LIMIT = 120.0  # seconds; Discord's interaction token lives 15 minutes
GUILD_ID = "100000000000000002"
CHANNEL_ID = "100000000000000010"
KEY = SigningKey(bytes(range(32)))


@dataclass(frozen=True)
class Load:
    """What one server did under the paced and the flat-out runs."""

    latencies_ms: list[float]
    throughput: float
    server_cpu_us: float  # per request of the flat-out run, every thread of the server
    client_cpu_us: float  # the same, for this process (the load generator)
    deferred: int  # type-5 answers: commands its worker still has to finish

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


async def _post(connection: Connection, raw: bytes, where: str) -> tuple[float, int]:
    """Latency in ms, and the interaction response type."""
    started = time.perf_counter()
    status, body = await connection.post(raw)
    elapsed = (time.perf_counter() - started) * 1000
    kind = json.loads(body).get("type") if status == 200 else None
    if kind not in (1, 4, 5):
        fail(f"{where} answered {status}: {body[:200]!r}")
    return elapsed, kind


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process so far, all its threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    port: int,
    pid: int,
    *,
    count: int,
    rate: float,
    concurrency: int,
    first: int,
    pings_only: bool = False,
) -> Load:
    """The paced run, then the flat-out run, against the server on ``port`` (process
    ``pid``)."""
    where = f"port {port}"
    pool = [await Connection.open(port) for _ in range(concurrency)]
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in pool:
        idle.put_nowait(connection)
    deferred = 0

    async def one(raw: bytes) -> float:
        nonlocal deferred
        connection = await idle.get()
        try:
            elapsed, kind = await _post(connection, raw, where)
        finally:
            idle.put_nowait(connection)
        deferred += kind == 5
        return elapsed

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
            nonlocal deferred
            for raw in flat_out:
                _, kind = await _post(connection, raw, where)
                deferred += kind == 5  # not `+= await ...`: that reads the total before it

        server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker(connection) for connection in pool))
        throughput = count / (time.perf_counter() - started)
        server_cpu = cpu_seconds(pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        for connection in pool:
            connection.close()
    per_request = 1e6 / count
    return Load(latencies, throughput, server_cpu * per_request, client_cpu * per_request, deferred)


def median_load(loads: list[Load]) -> Load:
    """The run with the median throughput; its paced run's latencies come along with it,
    so the percentiles printed are those of one real run, not a blend."""
    ordered = sorted(loads, key=lambda run: run.throughput)
    return ordered[len(ordered) // 2]


async def answered(stub_port: int) -> int:
    """How many deferred commands the worker has answered (each edits its original
    response once) through the webhook stand-in."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{stub_port}/bench/answered")
        counts: dict[str, int] = response.json()
        if counts["followed_up"]:
            fail(f"{counts['followed_up']} deferred commands answered twice, not once")
        return counts["edited"]


async def finish_deferred(stub_port: int, expected: int) -> float:
    """Seconds until every deferred command had answered; fails past DRAIN_LIMIT."""
    started = time.perf_counter()
    while (done := await answered(stub_port)) < expected:
        if time.perf_counter() - started > DRAIN_LIMIT:
            fail(f"only {done} of {expected} deferred commands answered in {DRAIN_LIMIT:g} s")
        await asyncio.sleep(0.05)
    if done > expected:
        fail(f"{done} original responses edited for {expected} deferred commands")
    return time.perf_counter() - started


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
    stub_port, bare_port, floor_port, snitch_port = (free_port() for _ in range(4))
    public_key = KEY.verify_key.encode().hex()
    with tempfile.TemporaryDirectory(prefix="snitch-serve-bench-") as scratch:
        env = snitch_env(Path(scratch), stub_port)
        serve = [python, "-m", "snitch", "serve", "--port", str(snitch_port)]
        floor = [python, peers, "bare", "--port", str(floor_port), "--verify", public_key]
        with (
            process([python, peers, "stub", "--port", str(stub_port)]),
            process([python, peers, "bare", "--port", str(bare_port)]) as bare,
            process(floor) as verifying,
            process(serve, env) as snitch,
        ):
            servers = {
                "bare": (bare_port, bare),
                "floor": (floor_port, verifying),
                "ours": (snitch_port, snitch),
            }
            for name, (port, child) in servers.items():
                await wait_ready(f"http://127.0.0.1:{port}/interactions", child, name)
            options = {"count": args.count, "rate": args.rate, "concurrency": args.concurrency}
            runs: dict[str, list[Load]] = {"bare": [], "floor": [], "ours": [], "pings": []}
            deferred, drain_seconds = 0, []
            for attempt in range(args.repeat):  # alternated, so load on the machine hits all
                offset = attempt * 10 * args.count  # every run: members new to the cooldowns
                for name in ("bare", "floor"):
                    port, child = servers[name]
                    runs[name].append(await load(port, child.pid, first=offset, **options))
                # The same endpoint without its in-process worker's share: PING only, first,
                # so that no deferred work left from a mixed run is still being finished.
                for name, pings_only, first in (("pings", True, 2), ("ours", False, 1)):
                    result = await load(
                        snitch_port,
                        snitch.pid,
                        first=offset + first,
                        pings_only=pings_only,
                        **options,
                    )
                    runs[name].append(result)
                    deferred += result.deferred
                    # Every deferred command must really finish before the next run starts.
                    drain_seconds.append(await finish_deferred(stub_port, deferred))
    baseline, floor_load, ours, pings = (
        median_load(runs[name]) for name in ("bare", "floor", "ours", "pings")
    )
    return report(args, baseline, floor_load, ours, pings, deferred, max(drain_seconds))


def report(
    args: argparse.Namespace,
    baseline: Load,
    floor: Load,
    ours: Load,
    pings: Load,
    deferred: int,
    drain_seconds: float,
) -> bool:
    """Print the figures and the verdicts."""
    print(f"median of {args.repeat} alternated runs, each:")
    print(f"{args.count} requests at {args.rate:g}/s (half PING, half a deferred command),")
    print(f"then {args.count} flat out with {args.concurrency} in flight; all on loopback")
    shown = (
        ("bare ASGI app", baseline),
        ("  + signatures", floor),
        ("snitch serve", ours),
        ("  PING only", pings),
    )
    for name, result in shown:
        print(
            f"  {name:14} p50 {result.percentile(0.5):6.2f} ms  p99 {result.percentile(0.99):6.2f}"
            f" ms  throughput {result.throughput:7.1f} req/s  CPU per request: server"
            f" {result.server_cpu_us:5.0f} us, load {result.client_cpu_us:4.0f} us"
        )
    ratio = ours.throughput / baseline.throughput
    p99 = ours.percentile(0.99)
    print(f"  latency ratio (p99): {p99 / baseline.percentile(0.99):.2f}x of the bare app")
    print(
        f"  throughput ratio: {ratio:.2f} of the bare app"
        f" ({pings.throughput / baseline.throughput:.2f} with PING only);"
        f" {floor.throughput / baseline.throughput:.2f} for the bare app checking signatures,"
        f" the most a conforming endpoint reaches here; snitch serve is"
        f" {ours.throughput / floor.throughput:.2f} of that"
    )
    print(
        f"  deferred commands: all {deferred} answered through the webhook; the slowest run's"
        f" last answer came {drain_seconds:.1f} s after its final request"
    )
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
