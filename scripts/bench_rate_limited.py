"""An all-stream sync through the host under Iterable's rate limits, next to the floor
that `export/data.json`'s budget alone allows (#13 points 4 and 5).

    python3 scripts/bench_rate_limited.py [--time-scale 20] [--scale tiny] [--json out.json]

Needs the release host and simulator (`cargo build --release -p iterable-connector-host
-p iterable-sim`; ITERABLE_CONNECTOR / ITERABLE_SIM override) and the component
(`CONNECTOR_WASM`). Standard library only.

1. Plan count: the sync-only plan (`export_mode: sync`) against a simulator whose clock runs
   1000x (limits on), to count the `data.json` requests N that plan needs. Its timing is not
   used.
2. The measured sync: `export_mode: auto` (async jobs beside `data.json` windows) against a
   fresh simulator with `--rate-limits --time-scale S`; the host paces at the same scale
   (config `time_scale: S`). Wall time, records, requests, 429s (simulator log), the
   connections the host opened (its `-v` line) and the host's peak RSS.

Floor: `data.json` allows 4 requests in any minute, so the N requests of the sync-only plan
cannot finish before the last one may go out: floor((N - 1) / 4) minutes after the first.
Scaled by S like everything else, floor_s = floor((N - 1) / 4) * 60 / S; the real-time
figures are S times the scaled ones (except fixed costs: the core's 250 ms arrival margin per
paced request is not scaled, so compressed runs overstate the job path, never the floor).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NOW = "2026-11-01T00:00:00Z"
HISTORY_DAYS = 60
KEY = "bench-key"
BY_KEY = {"events", "user_profile", "in_app_messages", "sent_messages", "user_events"}


def binary(env: str, name: str) -> str:
    if env in os.environ:
        return os.environ[env]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("release", "debug"):
        p = target / profile / name
        if p.exists():
            return str(p)
    sys.exit(f"build {name} first (cargo build --release) or set {env}")


def start_sim(
    scale: str, time_scale: float, log: Path
) -> tuple[subprocess.Popen[str], str]:
    cmd = [binary("ITERABLE_SIM", "iterable-sim"), "--port", "0", "--scale", scale]
    cmd += ["--now", NOW, "--rate-limits", "--time-scale", str(time_scale)]
    cmd += ["--api-key", KEY, "--log", str(log), "--exit-on-stdin-eof"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop_sim(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def host(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    cmd = [binary("ITERABLE_CONNECTOR", "iterable-connector"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)


def sync(work: Path, url: str, mode: str, time_scale: float) -> dict[str, Any]:
    """One host read of every stream (but the by-key ones); its figures."""
    end = dt.datetime.fromisoformat(NOW)
    config = {
        "api_key": KEY,
        "base_url": url,
        "start_date": (end - dt.timedelta(days=HISTORY_DAYS)).isoformat(),
        "end_date": NOW,
        "time_scale": time_scale,
        "export_mode": mode,
        "max_concurrency": 4,
    }
    cfg = work / f"config-{mode}.json"
    cfg.write_text(json.dumps(config))
    catalog = json.loads(
        host(["discover", "--config", str(cfg)]).stdout.splitlines()[-1]
    )
    streams = [
        {
            "stream": s,
            "sync_mode": "incremental"
            if "incremental" in s.get("supported_sync_modes", [])
            else "full_refresh",
            "destination_sync_mode": "append",
        }
        for s in catalog["catalog"]["streams"]
        if s["name"] not in BY_KEY
    ]
    cat = work / "catalog.json"
    cat.write_text(json.dumps({"streams": streams}))
    cmd = [binary("ITERABLE_CONNECTOR", "iterable-connector"), "-v", "read"]
    cmd += ["--config", str(cfg), "--catalog", str(cat)]
    stdout, stderr = work / f"out-{mode}.jsonl", work / f"err-{mode}.txt"
    with stdout.open("w") as o, stderr.open("w") as e:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=o, stderr=e)
        # wait4: the host's own peak RSS (RUSAGE_CHILDREN would mix in the simulators').
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the host failed ({mode}): {stderr.read_text()[-2000:]}")
    with stdout.open() as f:
        records = sum(1 for line in f if line.startswith('{"type":"RECORD"'))
    m = re.search(r"(\d+) requests over (\d+) connections", stderr.read_text())
    return {
        "seconds": secs,
        "records": records,
        "streams": len(streams),
        "host_requests": int(m.group(1)) if m else None,
        "connections": int(m.group(2)) if m else None,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def log_counts(log: Path) -> dict[str, int]:
    entries = [
        json.loads(line) for line in log.read_text().splitlines() if line.strip()
    ]
    return {
        "requests": len(entries),
        "status_429": sum(1 for e in entries if e["status"] == 429),
        "data_json": sum(1 for e in entries if e["path"] == "/api/export/data.json"),
        "export_start": sum(1 for e in entries if e["path"] == "/api/export/start"),
        "files": sum(1 for e in entries if e["path"].endswith("/files")),
        "downloads": sum(1 for e in entries if e["path"].startswith("/_files/")),
    }


def run(scale: str, time_scale: float, mode: str, work: Path) -> dict[str, Any]:
    log = work / f"requests-{mode}-{time_scale}.jsonl"
    proc, url = start_sim(scale, time_scale, log)
    try:
        figures = sync(work, url, mode, time_scale)
    finally:
        stop_sim(proc)
    figures.update(log_counts(log))
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--scale", default="tiny", help="simulator data volume")
    ap.add_argument("--time-scale", type=float, default=20.0)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rl-") as tmp:
        work = Path(tmp)
        plan = run(args.scale, 1000.0, "sync", work)
        measured = run(args.scale, args.time_scale, "auto", work)
    n = plan["data_json"]
    floor_s = ((n - 1) // 4) * 60.0 / args.time_scale if n else 0.0
    result = {
        "scale": args.scale,
        "time_scale": args.time_scale,
        "sync_plan_data_json_requests": n,
        "rate_limited_floor_s": round(floor_s, 1),
        "rate_limited_floor_real_min": (n - 1) // 4 if n else 0,
        "rate_limited_sync_s": round(measured["seconds"], 1),
        "rate_limited_sync_real_min_equiv": round(
            measured["seconds"] * args.time_scale / 60, 1
        ),
        "records": measured["records"],
        "streams": measured["streams"],
        "requests": measured["requests"],
        "connections": measured["connections"],
        "status_429": measured["status_429"],
        "auto_data_json": measured["data_json"],
        "auto_jobs": measured["export_start"],
        "auto_files_calls": measured["files"],
        "auto_downloads": measured["downloads"],
        "host_peak_rss_mb": round(measured["peak_rss_mb"]),
        "sync_plan_records": plan["records"],
    }
    print(
        f"all-stream sync, rate limits on, time scale {args.time_scale:g}: "
        f"{result['rate_limited_sync_s']} s (floor of data.json alone: "
        f"{result['rate_limited_floor_s']} s for {n} requests); {result['records']:,} records, "
        f"{result['requests']} requests over {result['connections']} connections, "
        f"{result['status_429']} 429s",
        file=sys.stderr,
    )
    if result["records"] != plan["records"]:
        print(
            f"warning: auto read {result['records']} records, sync {plan['records']}",
            file=sys.stderr,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
