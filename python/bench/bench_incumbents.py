"""Side by side with the incumbents (#13 point 6): our host vs Airbyte's source-iterable and
Singer's tap-iterable, on the same simulator data.

    python3 python/bench/bench_incumbents.py [--scale small] [--json out.json] [--skip-limited]

Set-up (not in CI; each incumbent in its own venv under the target dir, since tap-iterable
pins requests 2.20 and Airbyte's CDK needs a newer one):

    V=$CARGO_TARGET_DIR/bench-venvs
    python3 -m venv $V/airbyte && $V/airbyte/bin/pip install airbyte-source-iterable==1.0.1
    python3 -m venv $V/singer && $V/singer/bin/pip install tap-iterable==1.0.1

Both incumbents hard-code api.iterable.com: `incumbent_shim.py` (beside this file) points
their `requests` calls at the simulator and runs them unchanged.

Two runs per connector, each in its own process (peak RSS from wait4):
  - throughput: `email_send` over 60 days, simulator without rate limits: records/s;
  - under limits: five email export streams over 60 days, simulator with Iterable's limits
    at real time (time scale 1, since the incumbents' back-offs are real seconds): wall
    time, requests and 429s from the simulator's log. Ours runs `export_mode: auto`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
KEY = "bench-key"
LIMITED = ["email_send", "email_open", "email_click", "email_bounce", "email_unsubscribe"]


def target() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def binary(env: str, name: str) -> str:
    if env in os.environ:
        return os.environ[env]
    for profile in ("release", "debug"):
        p = target() / profile / name
        if p.exists():
            return str(p)
    sys.exit(f"build {name} first (cargo build --release) or set {env}")


def venv_python(name: str) -> str | None:
    p = target() / "bench-venvs" / name / "bin" / "python"
    return str(p) if p.exists() else None


def start_sim(scale: str, limits: bool, log: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [binary("ITERABLE_SIM", "iterable-sim"), "--port", "0", "--scale", scale]
    cmd += ["--api-key", KEY, "--log", str(log), "--exit-on-stdin-eof"]
    if limits:
        cmd += ["--rate-limits", "--time-scale", "1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def measure(cmd: list[str], env: dict[str, str], out: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS MB (of that process and its children) and exit status."""
    with out.open("w") as f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t0
    return secs, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def count_records(out: Path) -> int:
    n = 0
    with out.open() as f:
        for line in f:
            if line.startswith('{"type":"RECORD"') or line.startswith('{"type": "RECORD"'):
                n += 1
    return n


def ours(
    work: Path, url: str, streams: list[str], start: str, end: str, limited: bool
) -> list[str]:
    cfg = {"api_key": KEY, "base_url": url, "start_date": start, "end_date": end}
    cfg["export_mode"] = "auto" if limited else "sync"
    if not limited:
        cfg["time_scale"] = 10000  # no limits on the simulator: do not pace
    (work / "ours.json").write_text(json.dumps(cfg))
    cat = {
        "streams": [
            {
                "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["incremental"]},
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
            for s in streams
        ]
    }
    (work / "ours-catalog.json").write_text(json.dumps(cat))
    host = binary("ITERABLE_CONNECTOR", "iterable-connector")
    return [
        host,
        "read",
        "--config",
        str(work / "ours.json"),
        "--catalog",
        str(work / "ours-catalog.json"),
    ]


def airbyte(
    py: str, work: Path, streams: list[str], start: str, end: str, _limited: bool
) -> list[str]:
    cfg = {"api_key": KEY, "start_date": start, "end_date": end}
    (work / "airbyte.json").write_text(json.dumps(cfg))
    env = dict(os.environ)
    disc = subprocess.run(
        [
            py,
            str(HERE / "incumbent_shim.py"),
            "airbyte",
            "discover",
            "--config",
            str(work / "airbyte.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    catalog = next(
        json.loads(line)["catalog"] for line in disc.stdout.splitlines() if '"CATALOG"' in line
    )
    chosen = [
        {"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        for s in catalog["streams"]
        if s["name"] in streams
    ]
    (work / "airbyte-catalog.json").write_text(json.dumps({"streams": chosen}))
    return [
        py,
        str(HERE / "incumbent_shim.py"),
        "airbyte",
        "read",
        "--config",
        str(work / "airbyte.json"),
        "--catalog",
        str(work / "airbyte-catalog.json"),
    ]


def singer(
    py: str, work: Path, streams: list[str], start: str, _end: str, _limited: bool
) -> list[str]:
    cfg = {"api_key": KEY, "start_date": start}
    (work / "singer.json").write_text(json.dumps(cfg))
    disc = subprocess.run(
        [
            py,
            str(HERE / "incumbent_shim.py"),
            "singer",
            "--config",
            str(work / "singer.json"),
            "--discover",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    catalog = json.loads(disc.stdout)
    for s in catalog["streams"]:
        if s["tap_stream_id"] in streams:
            for m in s["metadata"]:
                if m["breadcrumb"] == []:
                    m["metadata"]["selected"] = True
    catalog["streams"] = [s for s in catalog["streams"] if s["tap_stream_id"] in streams]
    (work / "singer-catalog.json").write_text(json.dumps(catalog))
    return [
        py,
        str(HERE / "incumbent_shim.py"),
        "singer",
        "--config",
        str(work / "singer.json"),
        "--catalog",
        str(work / "singer-catalog.json"),
    ]


def log_counts(log: Path) -> tuple[int, int]:
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return len(entries), sum(1 for e in entries if e["status"] == 429)


def one(
    name: str, scale: str, streams: list[str], limited: bool, work: Path
) -> dict[str, Any] | None:
    log = work / f"{name}-{limited}.jsonl"
    if log.exists():
        log.unlink()
    proc, url = start_sim(scale, limited, log)
    try:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = (now - dt.timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        end = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        env = dict(os.environ, ITERABLE_BASE_URL=url)
        if name == "ours":
            cmd = ours(work, url, streams, start, end, limited)
        else:
            py = venv_python(name)
            if py is None:
                print(
                    f"{name}: no venv under {target() / 'bench-venvs'} (see the docstring)",
                    file=sys.stderr,
                )
                return None
            os.environ["ITERABLE_BASE_URL"] = url
            make = airbyte if name == "airbyte" else singer
            cmd = make(py, work, streams, start, end, limited)
        out = work / f"{name}.out"
        secs, rss, code = measure(cmd, env, out)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    records = count_records(out)
    requests, r429 = log_counts(log)
    return {
        "connector": name,
        "run": "under limits" if limited else "throughput",
        "streams": len(streams),
        "records": records,
        "seconds": round(secs, 2),
        "records_per_s": round(records / secs) if secs else None,
        "peak_rss_mb": round(rss),
        "requests": requests,
        "status_429": r429,
        "exit": code,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", default="small")
    ap.add_argument("--connectors", default="ours,airbyte,singer")
    ap.add_argument("--skip-limited", action="store_true", help="only the throughput run")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-inc-") as tmp:
        work = Path(tmp)
        runs = [(["email_send"], False)] + ([] if args.skip_limited else [(LIMITED, True)])
        for streams, limited in runs:
            for name in args.connectors.split(","):
                r = one(name, args.scale, streams, limited, work)
                if r:
                    results.append(r)
                    print(json.dumps(r), flush=True)
    head = "| connector | run | streams | records | wall s | records/s | peak RSS MB | requests |"
    print(head + " 429s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['connector']} | {r['run']} | {r['streams']} | {r['records']:,} | {r['seconds']} "
            f"| {r['records_per_s']:,} | {r['peak_rss_mb']} | {r['requests']} | {r['status_429']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
