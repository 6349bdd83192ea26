"""Fixtures: the Iterable simulator as a subprocess, ground truth, natural keys,
and a real PostgreSQL server.

The simulator binary is built by CI (`cargo build -p iterable-sim`); these
fixtures build nothing. ITERABLE_SIM overrides its path. PostgreSQL is
started once per session (initdb/pg_ctl on PATH or under
/usr/lib/postgresql/*/bin; CI installs it, so missing binaries fail the
PostgreSQL tests instead of skipping them).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SIM_NOW = "2025-03-15T12:00:00Z"
START = "2025-01-01T00:00:00Z"
SEED = 7
SCALE = "tiny"
# A distinctive key: tests assert it never shows up anywhere.
API_KEY = "sk-TEST-9f8e7d6c5b4a-DO-NOT-LEAK"
WRONG_KEY = "sk-WRONG-0a1b2c3d4e5f-DO-NOT-LEAK"
# The simulator does not rate-limit unless asked, so pace 1000x faster than Iterable.
FAST = {"time_scale": 1000}


def sim_binary() -> Path:
    path = Path(os.environ.get("ITERABLE_SIM", REPO / "target" / "debug" / "iterable-sim"))
    if not path.exists():
        pytest.fail(
            f"simulator binary {path} not found: run `cargo build -p iterable-sim` first "
            "(or point ITERABLE_SIM at it)",
            pytrace=False,
        )
    return path


@dataclass
class Sim:
    url: str
    proc: subprocess.Popen[str]
    args: list[str]

    def truth(
        self,
        stream: str,
        start: str | None = None,
        end: str | None = None,
        now: str = SIM_NOW,
    ) -> dict[str, Any]:
        cmd = [
            str(sim_binary()),
            "truth",
            "--seed",
            str(SEED),
            "--scale",
            SCALE,
            "--now",
            now,
            "--stream",
            stream,
        ]
        if start:
            cmd += ["--start", start]
        if end:
            cmd += ["--end", end]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise LookupError(out.stderr.strip() or out.stdout.strip())
        return dict(json.loads(out.stdout))

    def live_truth(
        self, stream: str, start: str | None = None, end: str | None = None
    ) -> dict[str, Any]:
        """Ground truth of this running simulator, writes included
        (``GET /_sim/truth``): ``{"count", "keys"}`` over ``[start, end)``."""
        q = {
            "stream": stream,
            **({"start": start} if start else {}),
            **({"end": end} if end else {}),
        }
        url = f"{self.url}/_sim/truth?{urllib.parse.urlencode(q)}"
        with urllib.request.urlopen(url, timeout=60) as resp:
            return dict(json.loads(resp.read()))


def start_sim(*extra: str, now: str | None = SIM_NOW) -> Sim:
    # --exit-on-stdin-eof: if pytest dies, the closed pipe takes the simulator with it.
    args = [str(sim_binary()), "--port", "0", "--seed", str(SEED), "--scale", SCALE]
    args += ["--exit-on-stdin-eof", *extra]
    if now:
        args += ["--now", now]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http"):
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return Sim(url=line, proc=proc, args=args)


def stop_sim(sim: Sim) -> None:
    assert sim.proc.stdin is not None
    sim.proc.stdin.close()  # with --exit-on-stdin-eof the simulator exits on EOF
    try:
        sim.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sim.proc.kill()


@pytest.fixture(scope="session")
def sim() -> Iterator[Sim]:
    """A simulator that accepts only API_KEY, with a fixed 'now'."""
    s = start_sim("--api-key", API_KEY)
    yield s
    stop_sim(s)


@pytest.fixture()
def fresh_sim() -> Iterator[Sim]:
    """A private simulator on a live clock, for tests that write data."""
    s = start_sim("--api-key", API_KEY, now=None)
    yield s
    stop_sim(s)


def source(sim: Sim, **kw: Any) -> Any:
    from iterable_connector import IterableSource

    cfg: dict[str, Any] = {"start_date": START, "end_date": SIM_NOW, **FAST}
    cfg.update(kw)
    return IterableSource(api_key=cfg.pop("api_key", API_KEY), base_url=sim.url, **cfg)


# -- natural keys: mirrors simulator/src/truth.rs (natural_key) ---------------


def id_str(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, str) and v:
        t = v.strip()
        try:
            f = float(t)
        except ValueError:
            return t
        if f.is_integer() and all(c.isdigit() or c in ".-" for c in t):
            return str(int(f))
        return t
    return None


def first(r: dict[str, Any], names: list[str]) -> Any:
    for n in names:
        if r.get(n) is not None:
            return r[n]
    return None


def rfc3339_secs(value: Any) -> str:
    if isinstance(value, int | float):
        secs = int(value // 1000) if value > 10_000_000_000 else int(value)
        t = dt.datetime.fromtimestamp(secs, dt.UTC)
    else:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.UTC)
    return t.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


SIMPLE_ID = {"campaigns", "channels", "message_types", "lists", "journeys", "snippets", "webhooks"}


def natural_key(stream: str, r: dict[str, Any], event_streams: set[str]) -> str | None:
    if stream in event_streams:
        who = first(r, ["email", "userId"]) or ""
        d = id_str(first(r, ["messageId", "eventName", "id"])) or ""
        # Custom-event twins share user, name and second: their sku differs.
        data = (r.get("sku") or "") if stream == "custom_event" else ""
        return f"{rfc3339_secs(r['createdAt'])}|{who}|{d}|{data}"
    if stream == "users":
        return r.get("email")
    if stream in SIMPLE_ID:
        return id_str(r.get("id"))
    if stream == "campaigns_metrics":
        v = first(r, ["id", "campaignId"])
        if v is None and isinstance(r.get("data"), dict):
            v = r["data"].get("id")
        return id_str(v)
    if stream in ("templates", "template_contents"):
        return id_str(r.get("templateId"))
    if stream == "catalogs":
        return r.get("name")
    if stream == "catalog_items":
        return f"{r['catalogName']}|{r['itemId']}"
    if stream == "metadata":
        return f"{r['table']}|{r['key']}"
    if stream == "list_users":
        return f"{id_str(r['listId'])}|{r['email']}"
    if stream == "experiments_metrics":
        e = id_str(first(r, ["experimentId", "Experiment Id", "experiment_id"]))
        t = id_str(first(r, ["templateId", "Template Id", "template_id"]))
        return f"{e}|{t}"
    return None


def event_stream_names() -> set[str]:
    """Export event streams: the ones with the synthetic `_key`."""
    from iterable_connector import _native

    cfg = json.dumps({"base_url": "http://127.0.0.1:1"})
    return {d["name"] for d in _native.discover(cfg) if "_key" in d["json_schema"]["properties"]}


# -- PostgreSQL ----------------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        p = Path(d) / name
        if p.exists():
            return str(p)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The server checks passwords over TCP (scram-sha-256): a distinctive one, so
# tests can assert it is never printed.
PG_PASSWORD = "pg-SECRET-5e4d3c2b1a-DO-NOT-LEAK"


class Postgres:
    """The session's PostgreSQL server (user ``postgres``, password
    :data:`PG_PASSWORD` over TCP)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._dbs = iter(range(1_000_000))

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=PG_PASSWORD,
            dbname=dbname,
            connect_timeout=10,
        )

    def url(self, dbname: str = "postgres", password: str = PG_PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self, prefix: str = "db") -> str:
        """A fresh, empty database (the server outlives a test); its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._dbs)}"
        con = self.connect()
        con.autocommit = True
        try:
            con.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return name


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.fail(
            "PostgreSQL is not installed: initdb/pg_ctl are neither on PATH nor under "
            "/usr/lib/postgresql/*/bin (apt-get install postgresql; .ci/run does)",
            pytrace=False,
        )
    root = os.geteuid() == 0
    # As root the server runs as another user, who must reach the directory.
    base = tempfile.mkdtemp(prefix="itc-pg-", dir="/tmp" if root else None)
    kw: dict[str, Any] = {}
    if root:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres") if _has_user("postgres") else pwd.getpwnam("nobody")
        os.chown(base, user.pw_uid, user.pw_gid)
        kw = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    data, log = os.path.join(base, "data"), os.path.join(base, "log")
    port = _free_port()
    pwfile = os.path.join(base, "pw")
    Path(pwfile).write_text(PG_PASSWORD + "\n")
    if root:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    auth = ["--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256"]
    run = subprocess.run(
        [initdb, "-D", data, "-U", "postgres", "-E", "UTF8", *auth],
        capture_output=True,
        text=True,
        cwd=base,
        **kw,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    opts = f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
    run = subprocess.run(
        [pg_ctl, "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start"],
        capture_output=True,
        text=True,
        cwd=base,
        **kw,
    )
    assert run.returncode == 0, run.stdout + run.stderr + Path(log).read_text(errors="replace")
    try:
        yield Postgres(port)
    finally:
        subprocess.run(
            [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], capture_output=True, cwd=base, **kw
        )
        shutil.rmtree(base, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
