"""Python rows/s for a large export from the simulator: into dicts and into Arrow.

    cargo build --release -p iterable-sim
    python python/bench/bench_read.py [--scale large] [--stream email_send] [--repeat 1]

Starts `iterable-sim --scale large --exit-on-stdin-eof` (release build preferred; ITERABLE_SIM
overrides), reads one export stream over loopback HTTP three ways and prints a
Markdown table:
  - batches: the core's batches only (HTTP + Rust parsing; the floor),
  - dicts:   iterating the reader as Python dicts,
  - arrow:   Reader.to_arrow() (Arrow built in Rust, handed over via PyCapsule).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from iterable_connector import IterableSource

REPO = Path(__file__).resolve().parents[2]
NOW = "2025-06-01T00:00:00Z"


def sim_binary() -> str:
    if "ITERABLE_SIM" in os.environ:
        return os.environ["ITERABLE_SIM"]
    for profile in ("release", "debug"):
        p = REPO / "target" / profile / "iterable-sim"
        if p.exists():
            return str(p)
    sys.exit("build the simulator first: cargo build --release -p iterable-sim")


def start(binary: str, scale: str, seed: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        # --exit-on-stdin-eof: the simulator goes when this script does (pipe closed).
        [
            binary,
            "--port",
            "0",
            "--seed",
            str(seed),
            "--scale",
            scale,
            "--now",
            NOW,
            "--exit-on-stdin-eof",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def source(url: str, window_days: int | None) -> IterableSource:
    start_date = dt.datetime.fromisoformat(NOW.replace("Z", "+00:00")) - dt.timedelta(days=120)
    extra: dict[str, Any] = {"window_days": window_days} if window_days else {}
    return IterableSource(
        api_key="bench",
        base_url=url,
        start_date=start_date,
        end_date=NOW,
        time_scale=10000,  # the simulator does not rate-limit here: pace 10000x faster
        **extra,
    )


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(mode: str, url: str, stream: str, window_days: int | None) -> tuple[int, float, float]:
    """Rows, wall seconds, and CPU seconds of this (client) process."""
    reader = source(url, window_days).read(stream)
    c0 = cpu()
    t0 = time.perf_counter()
    if mode == "batches":
        n = sum(len(b) for b in reader.iter_batches())
    elif mode == "dicts":
        n = sum(1 for _ in reader)
    elif mode == "arrow":
        n = reader.to_arrow().num_rows
    else:
        raise ValueError(mode)
    return n, time.perf_counter() - t0, cpu() - c0


def worker(mode: str, url: str, stream: str, window_days: int | None, repeat: int) -> None:
    """One mode in its own process, so that its peak RSS is its own."""
    import pyarrow  # noqa: F401  (imported up front: not part of the timing)

    best: tuple[int, float, float] | None = None
    for _ in range(repeat):
        n, secs, cpu_s = run(mode, url, stream, window_days)
        if best is None or secs < best[1]:
            best = (n, secs, cpu_s)
    assert best is not None
    n, secs, cpu_s = best
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "mode": mode,
                "rows": n,
                "seconds": round(secs, 3),
                "rows_per_s": round(n / secs) if secs else None,
                "client_cpu_s": round(cpu_s, 3),
                "rows_per_client_cpu_s": round(n / cpu_s) if cpu_s else None,
                "peak_rss_mb": round(rss_mb),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", default="large")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stream", default="email_send")
    ap.add_argument("--window-days", type=int, default=None)
    ap.add_argument("--modes", default="batches,dicts,arrow")
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode; the fastest is kept")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.stream, args.window_days, args.repeat)
        return

    binary = sim_binary()
    proc, url = start(binary, args.scale, args.seed)
    results = []
    try:
        for mode in args.modes.split(","):
            cmd = [sys.executable, __file__, "--worker", mode, "--url", url]
            cmd += ["--stream", args.stream, "--repeat", str(args.repeat)]
            if args.window_days:
                cmd += ["--window-days", str(args.window_days)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            print(
                f"{mode:8s} {r['rows']:>9,} rows  {r['seconds']:7.2f} s  "
                f"{r['rows_per_s']:>10,} rows/s  client CPU {r['client_cpu_s']:.2f} s "
                f"({r['rows_per_client_cpu_s']:,} rows/CPU-s)  peak RSS {r['peak_rss_mb']} MB",
                flush=True,
            )
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "simulator": binary,
    }
    print()
    print(f"({args.stream}, scale {args.scale})")
    print("| mode | rows | wall s | rows/s | client CPU s | rows per client CPU-s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['mode']} | {r['rows']:,} | {r['seconds']} | {r['rows_per_s']:,} "
            f"| {r['client_cpu_s']} | {r['rows_per_client_cpu_s']:,} | {r['peak_rss_mb']} |"
        )
    print(json.dumps(machine))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "machine": machine}, indent=2))


if __name__ == "__main__":
    main()
