"""Rows/s of a Spark read (1 and 2 executor cores) next to the single-process
Python read of the same export, both through async export jobs.

    cargo build --release -p iterable-sim
    pip install "./python[spark]"
    python python/bench/bench_spark.py [--scale small] [--stream email_send]

Starts `iterable-sim` (release build preferred; ITERABLE_SIM overrides; no rate
limits, pacing sped up 10,000x), then reads the whole stream:
  - python:   IterableSource(export_mode="async").read(stream).to_arrow(), one process,
  - spark-N:  spark.read.format("iterable") on local[N], `df.count()` (planning on
              the driver and every partition read; timed), then an untimed second
              read that counts distinct `_key`s.
Each mode's rows are checked against the simulator's ground truth (`/_sim/truth`
count, and as many distinct `_key`s as rows: nothing lost, nothing duplicated).
Prints a Markdown table. Each mode runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOW = "2025-06-01T00:00:00Z"
START = "2025-01-01T00:00:00Z"


def sim_binary() -> str:
    if "ITERABLE_SIM" in os.environ:
        return os.environ["ITERABLE_SIM"]
    for profile in ("release", "debug"):
        p = REPO / "target" / profile / "iterable-sim"
        if p.exists():
            return str(p)
    sys.exit("build the simulator first: cargo build --release -p iterable-sim")


def worker(mode: str, url: str, stream: str, max_partitions: int) -> None:
    if mode == "python":
        from iterable_connector import IterableSource

        src = IterableSource(
            api_key="bench",
            base_url=url,
            start_date=START,
            end_date=NOW,
            time_scale=10000,
            export_mode="async",
        )
        t0 = time.perf_counter()
        table = src.read(stream).to_arrow()
        secs = time.perf_counter() - t0
        rows = table.num_rows
        import pyarrow.compute as pc

        distinct = pc.count_distinct(table.column("_key")).as_py()
    else:
        cores = int(mode.split("-")[1])
        os.environ["PYSPARK_PYTHON"] = sys.executable
        from pyspark.sql import SparkSession

        from iterable_connector.spark import register

        spark = (
            SparkSession.builder.master(f"local[{cores}]")
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        register(spark)
        df = (
            spark.read.format("iterable")
            .option("api_key", "bench")
            .option("base_url", url)
            .option("stream", stream)
            .option("start_date", START)
            .option("end_date", NOW)
            .option("time_scale", "10000")
            .option("max_partitions", str(max_partitions))
            .load()
        )
        # Warm the Python workers on a one-row stream first (not timed).
        spark.read.format("iterable").option("api_key", "bench").option("base_url", url).option(
            "stream", "channels"
        ).load().collect()
        t0 = time.perf_counter()
        rows = df.count()  # planning on the driver + every partition read
        secs = time.perf_counter() - t0
        from pyspark.sql import functions as F

        distinct = df.agg(F.countDistinct("_key")).collect()[0][0]  # untimed check
        spark.stop()
    out = {"mode": mode, "rows": rows, "distinct_keys": distinct, "seconds": round(secs, 2)}
    print(json.dumps(out))


def truth_count(url: str, stream: str) -> int:
    """Rows the simulator holds for ``stream`` over the read's window."""
    q = urllib.parse.urlencode({"stream": stream, "start": START, "end": NOW})
    with urllib.request.urlopen(f"{url}/_sim/truth?{q}", timeout=300) as resp:
        return int(json.loads(resp.read())["count"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stream", default="email_send")
    ap.add_argument("--modes", default="python,spark-1,spark-2")
    ap.add_argument("--max-partitions", type=int, default=64)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.stream, args.max_partitions)
        return
    binary = sim_binary()
    sim = [binary, "--port", "0", "--seed", str(args.seed), "--scale", args.scale, "--now", NOW]
    proc = subprocess.Popen(
        [*sim, "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    url = proc.stdout.readline().strip()
    results = []
    try:
        expected = truth_count(url, args.stream)
        for mode in args.modes.split(","):
            cmd = [sys.executable, __file__, "--worker", mode, "--url", url]
            cmd += ["--stream", args.stream, "--max-partitions", str(args.max_partitions)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            exact = r["rows"] == expected == r["distinct_keys"]
            print(
                f"{mode:8s} {r['rows']:>9,} rows  {r['seconds']:7.2f} s  "
                f"(truth {expected:,}, distinct _key {r['distinct_keys']:,}: "
                f"{'exact' if exact else 'MISMATCH'})",
                flush=True,
            )
            if not exact:
                sys.exit(f"{mode}: the read does not match the ground truth")
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    print()
    print(f"({args.stream}, scale {args.scale}, max_partitions {args.max_partitions})")
    print("| mode | rows | wall s | rows/s |")
    print("|---|---:|---:|---:|")
    for r in results:
        rate = round(r["rows"] / r["seconds"]) if r["seconds"] else 0
        print(f"| {r['mode']} | {r['rows']:,} | {r['seconds']} | {rate:,} |")
    print(json.dumps({"python": platform.python_version(), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
