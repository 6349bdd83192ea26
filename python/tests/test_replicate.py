"""Replication into a real PostgreSQL server through the dlt source, and the
``python -m iterable_connector replicate`` command.

Every check compares the database with the running simulator's ground truth
(``GET /_sim/truth``: the seeded records plus every write made through the
API): row counts and natural keys, after a first run, after a run with new
and changed data (made through the API between runs), and after a run that
was stopped midway (an injected crash, a killed process) and then resumed.
PostgreSQL is started once per session (conftest.py).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    API_KEY,
    FAST,
    PG_PASSWORD,
    START,
    WRONG_KEY,
    Postgres,
    Sim,
    event_stream_names,
    natural_key,
    source,
    start_sim,
    stop_sim,
)

dlt = pytest.importorskip("dlt", reason="dlt is not installed: pip install 'dlt[postgres]'")
pytest.importorskip(
    "psycopg2", reason="dlt's postgres destination needs psycopg2: pip install psycopg2-binary"
)

from iterable_connector import replicate as rep  # noqa: E402
from iterable_connector.transport import Urllib3Transport  # noqa: E402

EVENTS = event_stream_names()
# The simulator's clock starts at SIM_NOW and runs: writes made by a test are
# stamped a few seconds after it, so END1 leaves them out and END2/END3 take them in.
END1 = "2025-03-15T12:00:00Z"
END2 = "2025-03-15T13:00:00Z"
END3 = "2025-03-15T14:00:00Z"
STREAMS = ["users", "custom_event", "email_send", "campaigns", "catalog_items"]
CONFIG: dict[str, Any] = dict(FAST)
# Fixed one-day windows: dozens of export requests per event stream, so a run
# can be stopped in the middle of a stream (adaptive windows elsewhere: faster).
STOPPABLE: dict[str, Any] = {"window_days": 1}
# dlt's table (snake_case) → the API's field names used by natural keys.
CAMEL = {
    "created_at": "createdAt",
    "message_id": "messageId",
    "event_name": "eventName",
    "user_id": "userId",
    "catalog_name": "catalogName",
    "item_id": "itemId",
    "list_id": "listId",
    "template_id": "templateId",
    "experiment_id": "experimentId",
    "campaign_id": "campaignId",
}


@pytest.fixture()
def live_sim() -> Any:
    """A private simulator whose clock starts at SIM_NOW (tests write to it)."""
    s = start_sim("--api-key", API_KEY)
    yield s
    stop_sim(s)


def table_keys(con: Any, stream: str) -> list[str]:
    """Natural keys of the rows of ``iterable.<stream>`` (one per row)."""
    cur = con.execute(f'SELECT * FROM iterable."{stream}"')
    names = [d[0] for d in cur.description]
    keys = []
    for row in cur.fetchall():
        r = {CAMEL.get(n, n): v for n, v in zip(names, row, strict=True)}
        if isinstance(r.get("createdAt"), dt.datetime):
            r["createdAt"] = r["createdAt"].astimezone(dt.UTC).isoformat()
        key = natural_key(stream, r, EVENTS)
        assert key is not None, (stream, r)
        keys.append(key)
    con.commit()
    return keys


def assert_matches_truth(
    sim: Sim,
    pg: Postgres,
    db: str,
    end: str | None,
    streams: Sequence[str] = STREAMS,
    start: str | None = START,
) -> dict[str, int]:
    """Every stream's table holds exactly the simulator's records over
    ``[start, end)``: same count, same keys, none twice. Returns the counts."""
    con = pg.connect(db)
    counts = {}
    try:
        for stream in streams:
            truth = sim.live_truth(stream, start, end)
            keys = table_keys(con, stream)
            assert len(keys) == len(set(keys)), f"{stream}: duplicated rows"
            assert len(keys) == truth["count"], (stream, len(keys), truth["count"])
            assert sorted(keys) == sorted(truth["keys"]), stream
            counts[stream] = len(keys)
    finally:
        con.close()
    return counts


def knows_truth(sim: Sim, stream: str) -> bool:
    try:
        sim.live_truth(stream)
        return True
    except urllib.error.HTTPError:
        return False


def profile(sim: Sim, email: str) -> dict[str, Any]:
    req = urllib.request.Request(f"{sim.url}/api/users/{email}", headers={"Api-Key": API_KEY})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return dict(json.loads(resp.read())["user"]["dataFields"])


def one(pg: Postgres, db: str, sql: str, *params: Any) -> Any:
    con = pg.connect(db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def change_remote_data(sim: Sim, pg: Postgres, db: str, tag: str) -> dict[str, Any]:
    """New and changed records through Iterable's API: a changed user, a new
    user with a custom field no user had, three custom events, two new items
    and a changed one. Returns what was written."""
    src = source(sim)
    seeded = one(pg, db, "SELECT email FROM iterable.users ORDER BY email LIMIT 1")[0][0]
    new_user = f"new-{tag}@example.org"
    users = [
        {"email": seeded, "dataFields": {"favoriteColor": f"teal-{tag}", "loyaltyPoints": 4242}},
        {"email": new_user, "dataFields": {"favoriteColor": "ochre", f"tier_{tag}": "gold"}},
    ]
    assert src.write("users", users, "upsert").all_ok
    # Distinct names: the export carries no event id, so events of one user
    # with one name in the same second are one event to the key (and the truth).
    events = [{"eventName": f"replicated_{tag}_{i}", "email": new_user} for i in range(3)]
    assert src.write("events", events).all_ok
    catalog, item = one(
        pg, db, "SELECT catalog_name, item_id FROM iterable.catalog_items ORDER BY 1, 2 LIMIT 1"
    )[0]
    items = [
        {"itemId": f"new-{tag}-1", "name": "One"},
        {"itemId": f"new-{tag}-2", "name": "Two"},
        {"itemId": item, "name": f"changed-{tag}"},
    ]
    assert src.write("catalog_items", items, "upsert", catalog=catalog).all_ok
    return {"seeded": seeded, "new_user": new_user, "catalog": catalog, "item": item}


def assert_changes_landed(pg: Postgres, db: str, sim: Sim, w: dict[str, Any], tag: str) -> None:
    rows = one(
        pg,
        db,
        "SELECT favorite_color, loyalty_points FROM iterable.users WHERE email = %s",
        w["seeded"],
    )
    assert rows == [(f"teal-{tag}", 4242)]
    assert profile(sim, w["seeded"])["favoriteColor"] == f"teal-{tag}"
    # A custom field no user had before is a new column.
    rows = one(
        pg,
        db,
        f"SELECT favorite_color, tier_{tag} FROM iterable.users WHERE email = %s",
        w["new_user"],
    )
    assert rows == [("ochre", "gold")]
    rows = one(
        pg,
        db,
        "SELECT count(*) FROM iterable.custom_event WHERE event_name LIKE %s",
        f"replicated_{tag}_%",
    )
    assert rows == [(3,)]
    value = one(
        pg,
        db,
        "SELECT value FROM iterable.catalog_items WHERE catalog_name = %s AND item_id = %s",
        w["catalog"],
        w["item"],
    )[0][0]
    assert (json.loads(value) if isinstance(value, str) else value)["name"] == f"changed-{tag}"


def pipeline(pg: Postgres, db: str, tmp_path: Path) -> Any:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    return dlt.pipeline(
        pipeline_name="iterable_pg_test",
        destination=dlt.destinations.postgres(pg.url(db)),
        dataset_name="iterable",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def dlt_source(sim: Sim, end: str, **config: Any) -> Any:
    from iterable_connector.dlt import iterable_source

    return iterable_source(
        api_key=API_KEY,
        base_url=sim.url,
        streams=STREAMS,
        start_date=START,
        end_date=end,
        config={**CONFIG, **config},
    )


class Crash(BaseException):
    """Stands for a crash or Ctrl-C: not an Exception, so nothing retries it."""


class CrashingTransport(Urllib3Transport):
    """Fails every request after the first ``after``."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.sent = 0

    def send(self, method: str, url: str, headers: Any, body: Any, timeout: float) -> Any:
        self.sent += 1
        if self.sent > self.after:
            raise Crash(f"injected crash at request {self.sent}")
        return super().send(method, url, headers, body, timeout)


# -- the dlt source into PostgreSQL ----------------------------------------------


def test_dlt_merges_into_postgres_and_reruns_add_only_what_changed(
    live_sim: Sim, postgres: Postgres, tmp_path: Path
) -> None:
    db = postgres.new_database("repl")
    p = pipeline(postgres, db, tmp_path)
    src = dlt_source(live_sim, END1)
    kinds = {r.name: r.write_disposition for r in src.resources.values()}
    assert kinds == dict.fromkeys(STREAMS, "merge")
    p.run(src)
    first = assert_matches_truth(live_sim, postgres, db, END1)
    assert all(n > 0 for n in first.values()), first
    # Custom user fields (users/getFields) are columns, with the simulator's values.
    cols = dict(
        one(
            postgres,
            db,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'iterable' AND table_name = 'users'",
        )
    )
    assert cols["favorite_color"] == "character varying"
    assert cols["loyalty_points"] == "bigint"
    assert cols["ltv"] == "double precision"
    assert cols["is_vip"] == "boolean"
    assert cols["profile_updated_at"] == "timestamp with time zone"
    email, color, points = one(
        postgres,
        db,
        "SELECT email, favorite_color, loyalty_points FROM iterable.users "
        "WHERE favorite_color IS NOT NULL ORDER BY email LIMIT 1",
    )[0]
    truth = profile(live_sim, email)
    assert (color, points) == (truth["favoriteColor"], truth["loyaltyPoints"])

    # New and changed records: the next run adds exactly those.
    written = change_remote_data(live_sim, postgres, db, "a")
    p.run(dlt_source(live_sim, END2))
    loaded = p.last_trace.last_normalize_info.row_counts
    assert loaded.get("users") == 2, loaded  # one changed, one new
    assert loaded.get("custom_event") == 3, loaded
    assert loaded.get("catalog_items") == 3, loaded  # two new, one changed
    assert "email_send" not in loaded, loaded
    second = assert_matches_truth(live_sim, postgres, db, END2)
    assert second["users"] == first["users"] + 1
    assert second["custom_event"] == first["custom_event"] + 3
    assert second["catalog_items"] == first["catalog_items"] + 2
    assert_changes_landed(postgres, db, live_sim, written, "a")

    # Nothing changed: a re-run loads no user, event or item.
    p.run(dlt_source(live_sim, END2))
    loaded = p.last_trace.last_normalize_info.row_counts
    assert not {"users", "custom_event", "email_send", "catalog_items"} & set(loaded), loaded
    assert assert_matches_truth(live_sim, postgres, db, END2) == second


def test_dlt_run_crashed_midway_resumes_losing_and_duplicating_nothing(
    live_sim: Sim, postgres: Postgres, tmp_path: Path
) -> None:
    db = postgres.new_database("crash")
    p = pipeline(postgres, db, tmp_path)
    # Crashes inside the first run, in the middle of the export windows.
    crashing = CrashingTransport(after=40)
    with pytest.raises(Crash):
        p.run(dlt_source(live_sim, END1, transport=crashing, **STOPPABLE))
    assert crashing.sent > 40
    p.run(dlt_source(live_sim, END1))
    first = assert_matches_truth(live_sim, postgres, db, END1)

    # New data, then a run that crashes midway, then the resumed run.
    written = change_remote_data(live_sim, postgres, db, "b")
    crashing = CrashingTransport(after=4)
    with pytest.raises(Crash):
        p.run(dlt_source(live_sim, END2, transport=crashing, **STOPPABLE))
    # Nothing of the stopped run was loaded: the tables are as they were.
    con = postgres.connect(db)
    try:
        assert {s: len(table_keys(con, s)) for s in STREAMS} == first
    finally:
        con.close()
    p.run(dlt_source(live_sim, END2))
    second = assert_matches_truth(live_sim, postgres, db, END2)
    assert second["users"] == first["users"] + 1
    assert_changes_landed(postgres, db, live_sim, written, "b")


def test_replicate_finishes_a_load_a_stopped_run_left_pending(
    live_sim: Sim, postgres: Postgres, tmp_path: Path
) -> None:
    """Stopped after reading, before loading (the connector's state already
    advanced with the read): the next run loads what was read first."""
    db = postgres.new_database("pending")
    url, state = postgres.url(db), tmp_path / "state"
    config = {"api_key": API_KEY, "base_url": live_sim.url, "start_date": START, **CONFIG}
    shown = io.StringIO()
    first = rep.replicate(
        {**config, "end_date": END1},
        url,
        streams=STREAMS,
        state_dir=state,
        progress=rep.Progress("bars", shown),  # tqdm bars, into a buffer
    )
    assert first.rows == assert_matches_truth(live_sim, postgres, db, END1)
    assert "users" in shown.getvalue() and "email_send" in shown.getvalue()
    assert not first.resumed
    written = change_remote_data(live_sim, postgres, db, "e")
    # The same pipeline, driven by hand: read and normalized, never loaded.
    dest = rep.parse_destination(url)
    p = dlt.pipeline(
        pipeline_name=first.pipeline_name,
        destination=dest.factory(),
        dataset_name="iterable",
        pipelines_dir=str(state),
    )
    p.extract(dlt_source(live_sim, END2))
    p.normalize()
    assert p.has_pending_data
    lines = io.StringIO()
    second = rep.replicate(
        {**config, "end_date": END2},
        url,
        streams=STREAMS,
        state_dir=state,
        progress=rep.Progress("lines", lines),
    )
    assert second.resumed and "finishing what a stopped run left" in lines.getvalue()
    assert assert_matches_truth(live_sim, postgres, db, END2)["users"] == first.rows["users"] + 1
    assert_changes_landed(postgres, db, live_sim, written, "e")
    # The pending load carried the read; this run's own read found nothing new.
    assert not {"users", "custom_event", "catalog_items"} & set(second.rows), second.rows


# -- the replicate command ----------------------------------------------------------


def write_config(
    path: Path, sim: Sim, end: str, key: str = API_KEY, window_days: int | None = None
) -> Path:
    cfg: dict[str, Any] = {"api_key": key, "base_url": sim.url, "start_date": START}
    cfg.update(end_date=end, **FAST)
    if window_days is not None:
        cfg["window_days"] = window_days
    path.write_text(json.dumps(cfg))
    return path


def cli(*args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    return subprocess.Popen(
        [sys.executable, "-m", "iterable_connector", "replicate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def run_cli(*args: str) -> tuple[int, str, str]:
    proc = cli(*args)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def no_secrets(*texts: str) -> None:
    for t in texts:
        for secret in (API_KEY, WRONG_KEY, PG_PASSWORD):
            assert secret[:12] not in t, f"a secret leaked: {t[:2000]}"


def no_secrets_in_files(root: Path) -> None:
    for f in root.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            for secret in (API_KEY, PG_PASSWORD):
                assert secret.encode() not in data, f"{secret[:6]}… in {f}"


def test_replicate_command_into_postgres_killed_and_resumed(
    live_sim: Sim, postgres: Postgres, tmp_path: Path
) -> None:
    db = postgres.new_database("cli")
    state = tmp_path / "state"
    url = postgres.url(db)
    cfg = write_config(tmp_path / "config.json", live_sim, END1)
    base = ["--config", str(cfg), "--to", url, "--streams", ",".join(STREAMS)]
    code, out, err = run_cli(*base, "--state-dir", str(state))
    assert code == 0, err
    no_secrets(out, err)
    first = assert_matches_truth(live_sim, postgres, db, END1)
    assert f"loaded {sum(first.values())} rows" in out, out
    assert "users: 40 records read" in err or "users:" in err, err  # plain progress lines
    assert f"postgresql://postgres:***@127.0.0.1:{postgres.port}/{db}" in out

    # New and changed data, then a run killed midway, then the same command again.
    written = change_remote_data(live_sim, postgres, db, "c")
    write_config(cfg, live_sim, END2, window_days=1)
    proc = cli(*base, "--state-dir", str(state))
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # kill it once it has read a stream
        seen.append(line)
        if "records" in line:
            break
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    no_secrets(*seen)
    # Killed while reading: nothing of this run reached the database.
    new = one(
        postgres, db, "SELECT count(*) FROM iterable.users WHERE email = %s", written["new_user"]
    )
    assert new == [(0,)]

    code, out, err = run_cli(*base, "--state-dir", str(state))
    assert code == 0, err
    no_secrets(out, err)
    second = assert_matches_truth(live_sim, postgres, db, END2)
    assert second["users"] == first["users"] + 1
    assert_changes_landed(postgres, db, live_sim, written, "c")

    # More changes; the state directory is lost: the state comes back from
    # the database, so the run still adds only what changed.
    written = change_remote_data(live_sim, postgres, db, "d")
    write_config(cfg, live_sim, END3)
    code, out, err = run_cli(*base, "--state-dir", str(tmp_path / "new-state"), "--quiet")
    assert code == 0, err
    assert (out, err) == ("", "")
    third = assert_matches_truth(live_sim, postgres, db, END3)
    assert third["users"] == second["users"] + 1
    assert_changes_landed(postgres, db, live_sim, written, "d")
    no_secrets_in_files(state)
    no_secrets_in_files(tmp_path / "new-state")


def test_replicate_command_loads_every_stream_by_default(
    sim: Sim, postgres: Postgres, tmp_path: Path
) -> None:
    db = postgres.new_database("all")
    cfg = write_config(tmp_path / "config.json", sim, END1)
    code, out, err = run_cli(
        "--config", str(cfg), "--to", postgres.url(db), "--state-dir", str(tmp_path / "s")
    )
    assert code == 0, err
    no_secrets(out, err)
    names = [s.name for s in source(sim).streams() if not s.requires_user_filter]
    con = postgres.connect(db)
    try:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'iterable'"
            ).fetchall()
        }
    finally:
        con.close()
    missing = [n for n in names if n not in tables]
    assert not missing, missing
    checked = [n for n in names if knows_truth(sim, n)]
    assert len(checked) > 60, checked
    # Templates (and their contents) are read whole (incremental on updatedAt), not from start_date
    # on; the truth's window is on createdAt, so compare with all of them.
    whole = ["templates", "template_contents"]
    windowed = [n for n in checked if n not in whole]
    counts = assert_matches_truth(sim, postgres, db, END1, windowed)
    counts.update(assert_matches_truth(sim, postgres, db, None, whole, start=None))
    assert f"loaded {sum(counts.values())} rows" in out


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_replicate_command_into_duckdb_and_sqlite(live_sim: Sim, tmp_path: Path, kind: str) -> None:
    cfg = write_config(tmp_path / "config.json", live_sim, END1)
    if kind == "duckdb":
        duckdb = pytest.importorskip("duckdb")
        target = tmp_path / "warehouse.duckdb"

        def connect() -> Any:
            return duckdb.connect(str(target))

        table = "itbl.{}"
    else:
        pytest.importorskip("sqlalchemy")
        import sqlite3

        target = tmp_path / "warehouse.db"

        def connect() -> Any:
            # dlt keeps each SQLite dataset in a file of its own next to the main one.
            return sqlite3.connect(str(tmp_path / "warehouse__itbl.db"))

        table = "{}"
    args = ["--config", str(cfg), "--to", f"{kind}:///{target}", "--dataset", "itbl"]
    args += ["--streams", "users,custom_event,campaigns", "--state-dir", str(tmp_path / "state")]
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert f"{kind}:///{target}" in out
    src = source(live_sim)
    events = [{"eventName": f"lite_{i}", "email": "lite@example.org"} for i in range(2)]
    assert src.write("events", events).all_ok
    write_config(cfg, live_sim, END2)
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert "custom_event: 2" in out and "users" not in out, out
    con = connect()
    try:
        for stream, key, end in (
            ("users", "email", END1),
            ("campaigns", "id", END1),
            ("custom_event", "_key", END2),
        ):
            rows = [
                r[0] for r in con.execute(f"SELECT {key} FROM {table.format(stream)}").fetchall()
            ]
            truth = live_sim.live_truth(stream, START, end)
            assert len(rows) == len(set(rows)) == truth["count"], stream
            if stream != "custom_event":  # _key is a hash; the count and uniqueness suffice
                assert sorted(map(str, rows)) == sorted(truth["keys"]), stream
        sql = f"SELECT count(*) FROM {table.format('custom_event')} WHERE event_name LIKE 'lite_%'"
        assert con.execute(sql).fetchall()[0][0] == 2
    finally:
        con.close()


def in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = rep.main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_replicate_command_errors_are_clear_and_keep_secrets(
    sim: Sim, postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path / "config.json", sim, END1)
    good = postgres.url(postgres.new_database("err"))
    base = ["--config", str(cfg), "--state-dir", str(tmp_path / "state"), "--quiet"]

    def fails(argv: list[str], *needles: str) -> str:
        code, out, err = in_process(argv)
        assert code == 1 and out == "", (code, out, err)
        for n in needles:
            assert n in err, (n, err)
        no_secrets(out, err)
        return err

    fails([*base, "--to", "mysql://u:p@h/db"], "--to", "unknown scheme 'mysql'", "postgresql://")
    fails(
        [*base, "--to", f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{postgres.port}"],
        "--to",
        "no database name",
    )
    fails(
        [*base, "--to", f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:99999/x"],
        "--to",
        "Port out of range",
    )
    fails([*base, "--to", "duckdb:///no/such/dir/x.duckdb"], "--to", "does not exist")
    fails([*base, "--to", good, "--streams", "users,email_sends"], "--streams", "'email_sends'")
    fails([*base, "--to", good, "--streams", "events"], "--streams", "email or user_id")
    fails(["--config", str(tmp_path / "nope.json"), "--to", good], "--config")
    # Bad credentials: the database refuses them, and the password is not shown.
    wrong = good.replace(PG_PASSWORD, PG_PASSWORD + "-wrong")
    err = fails([*base, "--to", wrong, "--streams", "campaigns"], "postgresql://postgres:***@")
    assert "password authentication failed" in err and "--to: cannot connect" in err
    fails([*base, "--to", good + "_missing"], "--to: cannot connect", "does not exist")
    # A wrong API key: Iterable's refusal, without the key.
    bad = write_config(tmp_path / "bad.json", sim, END1, key=WRONG_KEY)
    base_bad = ["--config", str(bad), "--state-dir", str(tmp_path / "s2"), "--quiet"]
    fails([*base_bad, "--to", good, "--streams", "campaigns"], "401")
    # A missing package names the pip extra that brings it.
    real = rep._find_spec
    monkeypatch.setattr(rep, "_find_spec", lambda m: None if m == "psycopg2" else real(m))
    fails([*base, "--to", good], 'pip install "iterable-connector[postgres]"')
    monkeypatch.setattr(rep, "_find_spec", lambda m: None if m == "dlt" else real(m))
    fails([*base, "--to", good], 'pip install "iterable-connector[dlt]"')
    # Bad arguments are argparse's usage error (exit 2).
    with pytest.raises(SystemExit) as e:
        rep.main(["--to", good], out=io.StringIO(), err=io.StringIO())
    assert e.value.code == 2


def test_help_lists_replicate() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "iterable_connector", "replicate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "--to" in out.stdout and "--streams" in out.stdout
