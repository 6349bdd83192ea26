"""Python rows/s for a large export from the simulator: into dicts and into Arrow.

    cargo build --release -p iterable-sim
    python python/bench/bench_read.py [--scale large] [--stream email_send] [--repeat 1]

Starts `iterable-sim --scale large` (release build preferred; ITERABLE_SIM
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
        [binary, "--port", "0", "--seed", str(seed), "--scale", scale, "--now", NOW],
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", default="large")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stream", default="email_send")
    ap.add_argument("--window-days", type=int, default=None)
    ap.add_argument("--modes", default="batches,dicts,arrow")
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode; the best is kept")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    import pyarrow  # noqa: F401  (imported up front: not part of the timing)

    binary = sim_binary()
    proc, url = start(binary, args.scale, args.seed)
    results = []
    try:
        for mode in args.modes.split(","):
            best: tuple[int, float] | None = None
            for _ in range(args.repeat):
                n, secs = run(mode, url, args.stream, args.window_days)
                if best is None or secs < best[1]:
                    best = (n, secs)
            assert best is not None
            n, secs = best
            results.append(
                {
                    "mode": mode,
                    "rows": n,
                    "seconds": round(secs, 3),
                    "rows_per_s": round(n / secs) if secs else None,
                }
            )
            print(f"{mode:8s} {n:>9,} rows  {secs:7.2f} s  {n / secs:>10,.0f} rows/s", flush=True)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak over all modes
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "simulator": binary,
        "peak_rss_mb": round(rss_mb),
    }
    print()
    print(f"({args.stream}, scale {args.scale})")
    print("| mode | rows | wall s | rows/s | client CPU s | rows per client CPU-s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['mode']} | {r['rows']:,} | {r['seconds']} | {r['rows_per_s']:,} "
            f"| {r['client_cpu_s']} | {r['rows_per_client_cpu_s']:,} |"
        )
    print(json.dumps(machine))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "machine": machine}, indent=2))


if __name__ == "__main__":
    main()
