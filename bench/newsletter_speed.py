"""How long ``snitch newsletter`` takes on a big export, next to merely parsing that export.

``json.load`` of the same files is the floor any importer stands on: it reads every byte and
builds every object, and does nothing else. The export is, by default, what DCE writes for a
server: a folder with one file per channel (``--layout folder``); ``--layout single`` puts
every message in one file instead, which makes one very busy channel of ten channels' chat.
Measuring both in the same run, on the same files,
as separate processes, makes the ratio meaningful on any machine (a fast laptop and a busy
2-core runner both move the two figures together), where an absolute time would not be.

Each command runs as its own child process, reaped with ``os.wait4`` so that its peak
memory is its own, not the largest of all children so far.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _shared import (
    DEFAULT_CACHE,
    MIB,
    ServerSpec,
    add_server_options,
    fail,
    median,
    per_channel_exports,
    server_spec,
    single_file_export,
    verdict,
)

MAX_RATIO = 5.0
MAX_RSS_MIB = 1536  # 1.5 GiB


@dataclass(frozen=True)
class Run:
    """One child process: its wall time, CPU time and peak resident memory."""

    wall: float
    cpu: float
    max_rss: int  # bytes


def measure(command: list[str], cwd: Path) -> Run:
    """Run ``command`` once; fail loudly (with its stderr) if it does not exit 0."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace")[-2000:]
            fail(f"{shlex.join(command)} exited {child.returncode}:\n{tail}")
    # Linux reports ru_maxrss in KiB.
    return Run(wall=wall, cpu=usage.ru_utime + usage.ru_stime, max_rss=usage.ru_maxrss * 1024)


def check_edition(path: Path, messages: int) -> tuple[str, int]:
    """The output must be a real edition, so the benchmark never times a failure."""
    try:
        edition = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{path}: no JSON edition written: {exc}")
    headline = edition.get("headline") if isinstance(edition, dict) else None
    stories = edition.get("stories") if isinstance(edition, dict) else None
    if not isinstance(headline, str) or not headline.strip():
        fail(f"{path}: the edition has no headline")
    if not isinstance(stories, list) or not stories:
        fail(f"{path}: the edition has no stories")
    covered = edition.get("message_count")
    if covered != messages:
        fail(f"{path}: the edition covers {covered} messages, expected {messages}")
    return headline, len(stories)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Sizes are options, so the same script can be run small while iterating."""
    parser = argparse.ArgumentParser(
        description="Time `snitch newsletter` against json.load on one generated export.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_options(
        parser, ServerSpec(seed=7, channels=10, messages=100_000, days=7.0, planted=12)
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (median)")
    parser.add_argument(
        "--layout",
        choices=("folder", "single"),
        default="folder",
        help="one file per channel as DCE writes them, or every message in one file",
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="export cache")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the export, time both commands, print the table and verdicts."""
    args = parse_args(argv)
    spec = server_spec(args)
    started = time.perf_counter()
    make_export = per_channel_exports if args.layout == "folder" else single_file_export
    export, reused = make_export(spec, args.cache_dir)
    how = "reused" if reused else f"generated in {time.perf_counter() - started:.1f} s"
    files = sorted(export.glob("*.json")) if export.is_dir() else [export]
    size_mib = sum(path.stat().st_size for path in files) / MIB
    print(f"export: {export} ({how})")

    snitch = Path(sys.executable).with_name("snitch")
    if not snitch.is_file():
        fail(f"{snitch} not found: install the package into this venv (make install)")

    with tempfile.TemporaryDirectory(prefix="snitch-bench-") as scratch:
        workdir = Path(scratch)  # no stray .env or data/ folder of the caller's is picked up
        out = workdir / "edition.json"
        newsletter_cmd = [str(snitch), "newsletter", str(export), "--format", "json"]
        newsletter_cmd += ["--out", str(out)]
        baseline_cmd = [
            sys.executable,
            "-c",
            "import json,sys\nfor name in sys.argv[1:]: json.load(open(name))",
            *map(str, files),
        ]
        print("newsletter:", shlex.join(newsletter_cmd))
        print("baseline:  ", shlex.join(baseline_cmd))

        for path in files:  # warm the page cache so the first run does not pay for the disk
            path.read_bytes()
        ours: list[Run] = []
        base: list[Run] = []
        for attempt in range(1, args.repeat + 1):
            out.unlink(missing_ok=True)
            ours.append(measure(newsletter_cmd, workdir))
            headline, story_count = check_edition(out, spec.messages)
            base.append(measure(baseline_cmd, workdir))
            print(
                f"  run {attempt}/{args.repeat}: newsletter {ours[-1].wall:6.2f} s, "
                f"json.load {base[-1].wall:6.2f} s"
            )

    ours_wall = median([r.wall for r in ours])
    base_wall = median([r.wall for r in base])
    ours_cpu = median([r.cpu for r in ours])
    base_cpu = median([r.cpu for r in base])
    ours_rss = max(r.max_rss for r in ours) / MIB
    base_rss = max(r.max_rss for r in base) / MIB
    ratio = ours_wall / base_wall

    print()
    print(f"edition: {headline!r}, {story_count} stories")
    print()
    print(f"{'':24} {'wall (median)':>14} {'cpu (median)':>13} {'peak RSS':>11}")
    print(f"{'snitch newsletter':24} {ours_wall:12.2f} s {ours_cpu:11.2f} s {ours_rss:7.0f} MiB")
    print(f"{'json.load (baseline)':24} {base_wall:12.2f} s {base_cpu:11.2f} s {base_rss:7.0f} MiB")
    print(
        f"{'ratio newsletter/json':24} {ratio:12.2f} x {ours_cpu / base_cpu:11.2f} x "
        f"{ours_rss / base_rss:7.2f} x"
    )
    print(
        f"export: {len(files)} file(s), {size_mib:.1f} MiB, {spec.messages:,} messages, "
        f"{args.repeat} runs each"
    )
    print()
    verdict(ratio <= MAX_RATIO, f"wall ratio <= {MAX_RATIO:g}", f"{ratio:.2f}")
    verdict(
        ours_rss < MAX_RSS_MIB, f"newsletter peak RSS < {MAX_RSS_MIB} MiB", f"{ours_rss:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
