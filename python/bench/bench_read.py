"""Python rows/s for a large export from the simulator: into dicts and into Arrow.

    cargo build --release -p iterable-sim
    python python/bench/bench_read.py [--scale large|xlarge] [--stream email_send] [--repeat 1]
        [--transport native|urllib3|requests|httpx] [--modes batches,dicts,arrow_batches,arrow]

Starts `iterable-sim --scale large --exit-on-stdin-eof` (release build preferred; ITERABLE_SIM
overrides), reads one export stream over loopback HTTP in each mode (each in its own process,
so that its peak RSS is its own) and prints a Markdown table:
  - batches:       the core's batches only (HTTP + Rust parsing; the floor),
  - dicts:         iterating the reader as Python dicts,
  - arrow_batches: Reader.iter_arrow_batches() (one pyarrow.RecordBatch per core batch,
                   dropped after counting: memory must not grow with the export),
  - arrow:         Reader.to_arrow() (the whole table, built in Rust, via PyCapsule).
  - csv:           (not in the default modes) Reader.to_csv() into a temporary file.
  - convert:       (not in the default modes; use --scale medium: it holds every batch) the
                   conversions alone: every core batch of the read kept, then timed into dicts
                   (Batch.to_pylist) and into Arrow (ArrowBuilder), in microseconds per row.
With --replay, the stream's export is fetched from the simulator once and served from a file by
a minimal server in its own process (one request for the whole range, `sendfile`, large TCP
writes): the client then runs at its own speed rather than the simulator's, which generates
every row as it is requested on the same cores.
Ends with greppable lines for scripts/bench.sh:
  py_arrow_rows_s: N   (arrow_batches rows/s)
  py_dict_rows_s: N    (dicts rows/s)
  py_peak_rss_mb: N    (arrow_batches peak RSS)
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
import tempfile
import time
from pathlib import Path
from typing import Any

from iterable_connector import IterableSource

REPO = Path(__file__).resolve().parents[2]
NOW = "2025-06-01T00:00:00Z"
# The read covers this many days before NOW (xlarge holds 150).
START_DAYS = 160


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


def source(url: str, window_days: int | None, transport: str | None) -> IterableSource:
    start_date = dt.datetime.fromisoformat(NOW.replace("Z", "+00:00")) - dt.timedelta(
        days=START_DAYS
    )
    extra: dict[str, Any] = {"window_days": window_days} if window_days else {}
    if transport is not None:
        extra["transport"] = transport
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


def run(
    mode: str, url: str, stream: str, window_days: int | None, transport: str
) -> tuple[int, float, float]:
    """Rows, wall seconds, and CPU seconds of this (client) process."""
    reader = source(url, window_days, transport).read(stream)
    c0 = cpu()
    t0 = time.perf_counter()
    if mode == "batches":
        n = sum(len(b) for b in reader.iter_batches())
    elif mode == "dicts":
        n = sum(1 for _ in reader)
    elif mode == "arrow_batches":
        n = sum(b.num_rows for _, b in reader.iter_arrow_batches())
    elif mode == "arrow":
        n = reader.to_arrow().num_rows
    elif mode == "csv":
        with tempfile.TemporaryDirectory() as tmp:
            reader.to_csv(os.path.join(tmp, f"{stream}.csv"))
            n = reader.counts[stream]
    else:
        raise ValueError(mode)
    return n, time.perf_counter() - t0, cpu() - c0


def convert(url: str, stream: str, window_days: int | None, repeat: int) -> dict[str, Any]:
    """The conversions alone, on batches read once (the package's default transport)."""
    from iterable_connector import _native

    src = source(url, window_days, None)
    batches = list(src.read(stream).iter_batches())
    n = sum(len(b) for b in batches)
    schema = json.dumps(src.stream(stream).json_schema)
    dicts = arrow = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for b in batches:
            b.to_pylist()
        dicts = min(dicts, time.perf_counter() - t0)
        t0 = time.perf_counter()
        builder = _native.ArrowBuilder(schema)
        for b in batches:
            builder.append(b)
            builder.flush_batch()
        arrow = min(arrow, time.perf_counter() - t0)
    return {
        "mode": "convert",
        "rows": n,
        "dict_us_per_row": round(dicts / n * 1e6, 3),
        "arrow_us_per_row": round(arrow / n * 1e6, 3),
    }


def data_type(stream: str) -> str:
    """`email_send` → `emailSend`: the export's dataTypeName of an event stream."""
    head, *rest = stream.split("_")
    return head + "".join(w.capitalize() for w in rest)


def record_export(url: str, stream: str, path: str) -> int:
    """Fetches the stream's whole export (the bench's range) into `path`; returns its bytes."""
    import urllib.parse
    import urllib.request

    now = dt.datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    fmt = "%Y-%m-%d %H:%M:%S"
    query = urllib.parse.urlencode(
        {
            "dataTypeName": data_type(stream),
            "startDateTime": (now - dt.timedelta(days=START_DAYS)).strftime(fmt),
            "endDateTime": now.strftime(fmt),
        }
    )
    req = urllib.request.Request(
        f"{url}/api/export/data.json?{query}", headers={"Api-Key": "bench"}
    )
    size = 0
    with urllib.request.urlopen(req) as resp, open(path, "wb") as out:
        while chunk := resp.read(1 << 20):
            out.write(chunk)
            size += len(chunk)
    return size


def serve_file(path: str) -> None:
    """Answers every export request with the recorded body (the --replay server)."""
    import http.server

    size = os.path.getsize(path)

    class Replay(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if not self.path.startswith("/api/export/data.json"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-json-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            with open(path, "rb") as f:
                self.connection.sendfile(f)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


def worker(
    mode: str, url: str, stream: str, window_days: int | None, repeat: int, transport: str
) -> None:
    """One mode in its own process, so that its peak RSS is its own."""
    import pyarrow  # noqa: F401  (imported up front: not part of the timing)

    if mode == "convert":
        print(json.dumps(convert(url, stream, window_days, max(repeat, 3))))
        return
    best: tuple[int, float, float] | None = None
    for _ in range(repeat):
        n, secs, cpu_s = run(mode, url, stream, window_days, transport)
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
    ap.add_argument("--modes", default="batches,dicts,arrow_batches,arrow")
    ap.add_argument("--transport", default="native", help="native (default), urllib3, ...")
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode; the fastest is kept")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument(
        "--replay",
        action="store_true",
        help="serve the export recorded from the simulator (one request) instead of the simulator",
    )
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_file(args.serve)
        return
    if args.worker:
        worker(args.worker, args.url, args.stream, args.window_days, args.repeat, args.transport)
        return

    binary = sim_binary()
    proc, url = start(binary, args.scale, args.seed)
    replay: subprocess.Popen[str] | None = None
    results = []
    try:
        if args.replay:
            import tempfile

            recorded = os.path.join(tempfile.mkdtemp(), f"{args.stream}.ndjson")
            size = record_export(url, args.stream, recorded)
            print(f"replaying {size:,} bytes recorded from the simulator", flush=True)
            replay = subprocess.Popen(
                [sys.executable, __file__, "--serve", recorded],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert replay.stdout is not None
            url = replay.stdout.readline().strip()
            # One request for the whole range: the recorded body is all of it.
            args.window_days = START_DAYS + 1
        for mode in args.modes.split(","):
            cmd = [sys.executable, __file__, "--worker", mode, "--url", url]
            cmd += ["--stream", args.stream, "--repeat", str(args.repeat)]
            cmd += ["--transport", args.transport]
            if args.window_days:
                cmd += ["--window-days", str(args.window_days)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if mode == "convert":
                print(
                    f"convert  {r['rows']:>9,} rows  into dicts {r['dict_us_per_row']} us/row, "
                    f"into Arrow {r['arrow_us_per_row']} us/row",
                    flush=True,
                )
                continue
            results.append(r)
            print(
                f"{mode:8s} {r['rows']:>9,} rows  {r['seconds']:7.2f} s  "
                f"{r['rows_per_s']:>10,} rows/s  client CPU {r['client_cpu_s']:.2f} s "
                f"({r['rows_per_client_cpu_s']:,} rows/CPU-s)  peak RSS {r['peak_rss_mb']} MB",
                flush=True,
            )
    finally:
        if replay is not None:
            replay.terminate()
            replay.wait(timeout=30)
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "simulator": binary,
        "replay": args.replay,
        "transport": args.transport,
        "load_average": os.getloadavg(),
    }
    if not results:
        return
    print()
    print(f"({args.stream}, scale {args.scale}, transport {args.transport})")
    print("| mode | rows | wall s | rows/s | client CPU s | rows per client CPU-s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['mode']} | {r['rows']:,} | {r['seconds']} | {r['rows_per_s']:,} "
            f"| {r['client_cpu_s']} | {r['rows_per_client_cpu_s']:,} | {r['peak_rss_mb']} |"
        )
    print(json.dumps(machine))
    by_mode = {r["mode"]: r for r in results}
    # Greppable figures for scripts/bench.sh (only for the modes that ran).
    if "arrow_batches" in by_mode:
        print(f"py_arrow_rows_s: {by_mode['arrow_batches']['rows_per_s']}")
    if "dicts" in by_mode:
        print(f"py_dict_rows_s: {by_mode['dicts']['rows_per_s']}")
    if "arrow_batches" in by_mode:
        print(f"py_peak_rss_mb: {by_mode['arrow_batches']['peak_rss_mb']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "machine": machine}, indent=2))


if __name__ == "__main__":
    main()
