"""``src.sql(...)`` against the simulator.

The statements of ``tests/fixtures/sql/statements.json`` (shared with the
Rust tests) each return the rows DuckDB gives for the same statement over
plain full reads of their tables (DuckDB is the oracle), and the simulator's
request log shows what was pushed down. Then EXPLAIN, INSERT and CALL, a
JOIN with GROUP BY, and bad SQL as typed errors.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import math
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from conftest import API_KEY, REPO, Sim, source, start_sim, stop_sim

from iterable_connector import InputError, IterableConnectorError, Reader, WriteResult
from iterable_connector import sql as sqlmod


@pytest.fixture()
def duckdb() -> Any:
    """DuckDB (the oracle, and the engine for JOIN & co.); its tests skip without it."""
    pytest.importorskip("pyarrow")
    return pytest.importorskip("duckdb")


STATEMENTS = json.loads((REPO / "tests" / "fixtures" / "sql" / "statements.json").read_text())[
    "statements"
]


# -- a simulator with a request log -------------------------------------------


class LoggedSim:
    def __init__(self, sim: Sim, log: Path) -> None:
        self.sim = sim
        self.log = log

    def lines(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(x) for x in self.log.read_text().splitlines() if x.strip()]

    def mark(self) -> int:
        return len(self.lines())

    def since(self, mark: int) -> list[dict[str, Any]]:
        # Entries are written as responses end: wait until the log is still.
        seen = -1
        for _ in range(50):
            n = len(self.lines())
            if n == seen:
                break
            seen = n
            time.sleep(0.05)
        return self.lines()[mark:]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedSim]:
    log = tmp_path_factory.mktemp("sql") / "requests.jsonl"
    s = start_sim("--api-key", API_KEY, "--log", str(log))
    yield LoggedSim(s, log)
    stop_sim(s)


# -- the oracle ---------------------------------------------------------------


def _resolve(src: Any, value: Any) -> Any:
    if isinstance(value, dict) and "$value" in value:
        spec = value["$value"]
        values = sorted(
            {r[spec["field"]] for r in src.read(spec["stream"]) if r.get(spec["field"]) is not None}
        )
        return values[int(spec["at"] * (len(values) - 1))]
    return value


def _norm(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).isoformat()
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    if isinstance(v, float):
        return round(v, 9)
    return v


def _rows(table: Any) -> list[dict[str, Any]]:
    return [{k: _norm(v) for k, v in r.items()} for r in table.to_pylist()]


def _key(r: dict[str, Any]) -> str:
    return json.dumps(r, sort_keys=True, default=str)


def _oracle(duckdb: Any, sim: Sim, stmt: dict[str, Any], params: dict[str, Any]) -> Any:
    """The statement run by DuckDB over plain full reads of its tables (found
    with plan_scans; only their streams are used, not what they push down)."""
    cfg = {k: params[v] for k, v in stmt.get("oracle_config", {}).items()}
    src = source(sim, **cfg)
    con = duckdb.connect()
    for table, plan in sqlmod._native.plan_scans(
        source(sim, email="x@y.z")._config_json, stmt["sql"], params
    ):
        con.register(table, src.read(plan.stream, incremental=False).to_arrow())
    text, names = sqlmod.duckdb_sql(stmt["sql"])
    rel = con.sql(text, params={n: params[n] for n in names}) if names else con.sql(text)
    return rel.to_arrow_table()


def _path_allowed(path: str, allowed: list[str]) -> bool:
    """`*` in a pattern matches any text (paths hold no `?` or `[`)."""
    return any(fnmatch.fnmatchcase(path, a) for a in allowed)


@pytest.mark.parametrize("stmt", STATEMENTS, ids=[s["name"] for s in STATEMENTS])
def test_statement_equals_duckdb_over_full_reads(
    logged: LoggedSim, stmt: dict[str, Any], duckdb: Any
) -> None:
    plain = source(logged.sim)
    params = {k: _resolve(plain, v) for k, v in stmt["params"].items()}
    src = source(logged.sim, **stmt.get("config", {}))

    mark = logged.mark()
    result = src.sql(stmt["sql"], **params)
    if stmt["runs_in"] == "core":
        assert isinstance(result, Reader), stmt["sql"]
    else:
        assert isinstance(result, sqlmod.SqlResult), stmt["sql"]
    got_table = result.to_arrow()
    log = logged.since(mark)

    want_table = _oracle(duckdb, logged.sim, stmt, params)
    got, want = _rows(got_table), _rows(want_table)
    if stmt["compare"] != "subset":
        assert got_table.column_names == want_table.column_names
    assert want or stmt["compare"] == "subset", f"the oracle finds nothing: {stmt['sql']}"
    if stmt["compare"] == "ordered":
        assert got == want
    elif stmt["compare"] == "unordered":
        assert sorted(got, key=_key) == sorted(want, key=_key)
    else:
        limit = int(re.search(r"LIMIT (\d+)", stmt["sql"]).group(1))  # type: ignore[union-attr]
        assert len(got) == limit
        full = {_key(r) for r in want}
        assert all(_key(r) in full for r in got)

    fill = {k: str(v) for k, v in params.items()}
    paths = [e["path"] for e in log if e["path"] != "/api/users/getFields"]
    assert paths, "the query made requests"
    if "requests_paths" in stmt:
        allowed = [a.format(**fill) for a in stmt["requests_paths"]]
        assert all(_path_allowed(p, allowed) for p in paths), (paths, allowed)
    if "requests_query_contains" in stmt:
        needle = stmt["requests_query_contains"].format(**fill)
        assert all(needle in e["query"] for e in log), log
    if "max_requests" in stmt:
        assert len(paths) <= stmt["max_requests"], paths
    if "export_starts_at" in stmt:
        exports = [e for e in log if "/api/export/" in e["path"] and "startDateTime" in e["query"]]
        first = parse_qs(exports[0]["query"])["startDateTime"][0]
        assert first.startswith(str(params[stmt["export_starts_at"]])[:10]), first
    if stmt.get("fewer_requests_than_full_read"):
        mark = logged.mark()
        list(src.read(re.search(r"FROM (\w+)", stmt["sql"]).group(1), incremental=False))  # type: ignore[union-attr]
        full = len(logged.since(mark))
        assert len(paths) < full, (len(paths), full)


# -- the reader a SELECT returns --------------------------------------------


def test_select_returns_a_reader_with_columns_in_select_order(sim: Sim) -> None:
    src = source(sim)
    sql = "SELECT name AS title, id, createdAt AS made, length(name) AS n FROM lists ORDER BY id"
    rows = list(src.sql(sql))
    assert rows and all(list(r) == ["title", "id", "made", "n"] for r in rows)
    reader = src.sql(sql)
    table = reader.to_arrow()
    assert table.column_names == ["title", "id", "made", "n"]
    assert str(table.schema.field("made").type) == "timestamp[ms, tz=UTC]"
    assert str(table.schema.field("n").type) == "int64"
    assert reader.summary and reader.summary[0]["records"] == len(rows)
    assert list(src.sql(sql).to_pandas().columns) == ["title", "id", "made", "n"]
    assert src.sql(sql).to_polars().columns == ["title", "id", "made", "n"]
    full = src.read("lists").to_arrow()
    assert sorted(table.column("id").to_pylist()) == sorted(full.column("id").to_pylist())


def test_select_star_keeps_the_stream_schema(sim: Sim) -> None:
    src = source(sim)
    got = src.sql("SELECT * FROM campaigns WHERE campaignState = :s", s="Running").to_arrow()
    full = src.read("campaigns").to_arrow()
    assert got.schema == full.schema
    assert set(got.column("campaignState").to_pylist()) == {"Running"}


def test_datetime_params_convert(sim: Sim) -> None:
    src = source(sim)
    since = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    rows = list(src.sql("SELECT createdAt FROM email_send WHERE createdAt >= :t", t=since))
    full = [r for r in src.read("email_send", incremental=False)]
    want = [
        r for r in full if dt.datetime.fromisoformat(r["createdAt"].replace("Z", "+00:00")) >= since
    ]
    assert rows and len(rows) == len(want)


# -- EXPLAIN ------------------------------------------------------------------


def test_explain_lists_pushdown_filter_and_requests(sim: Sim) -> None:
    src = source(sim)
    plan = src.sql(
        "EXPLAIN SELECT email FROM list_users WHERE listId = :l AND email LIKE '%.example' LIMIT 2",
        l=42,
    )
    assert isinstance(plan, list)
    steps = [r["step"] for r in plan]
    assert steps[0] == "read" and plan[0]["detail"] == "list_users"
    assert any(r["step"] == "pushed down" and "list_ids" in r["detail"] for r in plan)
    assert any(r["step"] == "filter on records" and "LIKE" in r["detail"] for r in plan)
    assert any(r["step"] == "limit" for r in plan)
    requests = [r["detail"] for r in plan if r["step"] == "request"]
    assert 1 <= len(requests) <= sqlmod.EXPLAIN_REQUESTS
    assert requests[0].startswith("GET ") and "listId=42" in requests[0]
    text = str(plan)
    assert "pushed down" in text and "listId=42" in text
    assert API_KEY not in text


def test_explain_of_a_join_lists_each_scan(sim: Sim) -> None:
    src = source(sim)
    plan = src.sql(
        "EXPLAIN SELECT l.name, count(*) FROM list_users u JOIN lists l ON l.id = u.listId "
        "WHERE u.listId = 7 GROUP BY l.name"
    )
    scans = [r["detail"] for r in plan if r["step"] == "scan"]
    assert len(scans) == 2 and scans[0].startswith("list_users")
    assert any("listId=7" in r["detail"] for r in plan if r["step"].strip() == "request")
    assert plan[-1]["step"] == "engine"


# -- writes -------------------------------------------------------------------


@pytest.fixture()
def writable() -> Iterator[Sim]:
    s = start_sim("--api-key", API_KEY, now=None)
    yield s
    stop_sim(s)


def _applied(sim: Sim) -> dict[str, dict[str, int]]:
    """The simulator's count of each applied write (``GET /_sim/applied``)."""
    with urllib.request.urlopen(f"{sim.url}/_sim/applied", timeout=10) as resp:
        return dict(json.loads(resp.read())["applied"])


def test_insert_returning_creates_lists(writable: Sim) -> None:
    src = source(writable, end_date=None)
    result = src.sql(
        "INSERT INTO Lists (name, description) VALUES (:a, 'from SQL'), ('sql-b', NULL) "
        "RETURNING id",
        a="sql-a",
    )
    assert isinstance(result, WriteResult)
    assert result.all_ok, result.to_pylist()
    assert len(result.ids) == 2 and all(result.ids)
    lists = {str(r["id"]): r["name"] for r in src.read("lists")}
    assert lists[result.ids[0]] == "sql-a"  # type: ignore[index]
    assert lists[result.ids[1]] == "sql-b"  # type: ignore[index]


def test_call_trigger_and_abort_campaign(writable: Sim) -> None:
    src = source(writable, end_date=None)
    campaigns = list(src.read("campaigns"))
    triggered = next(c for c in campaigns if c["type"] == "Triggered")
    list_id = next(iter(src.read("lists")))["id"]
    result = src.sql("CALL TriggerCampaign(:id, :lists)", id=triggered["id"], lists=[list_id])
    assert isinstance(result, WriteResult)
    assert result.all_ok, result.to_pylist()
    assert result.summary and result.summary["object"] == "TriggerCampaign"
    applied = _applied(writable)
    assert applied.get("campaign.trigger", {}).get(str(triggered["id"])) == 1, applied

    running = next(
        c
        for c in campaigns
        if c["type"] == "Blast" and c["campaignState"] in ("Running", "Starting")
    )
    result = src.sql("CALL AbortCampaign(:id)", id=running["id"])
    assert result.all_ok, result.to_pylist()
    after = {c["id"]: c["campaignState"] for c in src.read("campaigns")}
    assert after[running["id"]] == "Aborted"


def test_call_without_a_required_parameter_is_an_input_error(sim: Sim) -> None:
    with pytest.raises(InputError) as info:
        source(sim).sql("CALL TriggerCampaign(:id)", id=1)
    assert "listIds" in str(info.value)


# -- DuckDB for what the core does not run ----------------------------------


def test_join_group_by_equals_duckdb_over_full_reads_and_pushes_down(
    logged: LoggedSim, duckdb: Any
) -> None:
    src = source(logged.sim)
    members = list(src.read("list_users"))
    list_id = members[0]["listId"]
    sql = (
        "SELECT l.name, count(*) AS members, min(u.email) AS first_email "
        "FROM list_users u JOIN lists l ON l.id = u.listId "
        "WHERE u.listId = :l GROUP BY l.name"
    )
    mark = logged.mark()
    result = src.sql(sql, l=list_id)
    log = logged.since(mark)
    assert isinstance(result, sqlmod.SqlResult)
    rows = list(result)
    assert len(result) == 1 == len(rows)
    assert rows[0]["members"] == sum(1 for m in members if m["listId"] == list_id)
    getusers = [e for e in log if e["path"] == "/api/lists/getUsers"]
    assert getusers and all(f"listId={list_id}" in e["query"] for e in getusers)
    assert {s["table"] for s in result.scans} == {"list_users", "lists"}
    scan = next(s for s in result.scans if s["table"] == "list_users")
    assert scan["records"] == rows[0]["members"] and scan["pushed"]

    con = duckdb.connect()
    con.register("list_users", src.read("list_users").to_arrow())
    con.register("lists", src.read("lists").to_arrow())
    want = con.sql(sqlmod.duckdb_sql(sql)[0], params={"l": list_id}).to_arrow_table()
    assert _rows(result.to_arrow()) == _rows(want)
    assert list(result.to_pandas().columns) == ["name", "members", "first_email"]
    assert result.to_polars().height == 1


def test_params_become_duckdb_placeholders_outside_literals() -> None:
    text, names = sqlmod.duckdb_sql(
        "SELECT ':x', \"a:b\", c::int FROM t -- :y\nWHERE a = :a AND b = :b_2 /* :z */ OR a = :a"
    )
    assert text == (
        "SELECT ':x', \"a:b\", c::int FROM t -- :y\nWHERE a = $a AND b = $b_2 /* :z */ OR a = $a"
    )
    assert names == ["a", "b_2"]


def test_without_duckdb_a_typed_error_says_what_to_install(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real = builtins.__import__

    def no_duckdb(name: str, *a: Any, **kw: Any) -> Any:
        if name == "duckdb":
            raise ImportError("no duckdb")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_duckdb)
    from iterable_connector.errors import SqlEngineError

    with pytest.raises(SqlEngineError) as info:
        source(sim).sql("SELECT count(*) FROM lists")
    assert isinstance(info.value, InputError)
    assert info.value.code == "sql-needs-engine"
    assert 'pip install "iterable-connector[sql]"' in str(info.value)


# -- bad SQL ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("SELEC * FROM lists", "syntax error"),
        ("SELECT * FROM lists; SELECT * FROM campaigns", "one at a time"),
        ("SELECT * FROM no_such_table", "unknown table"),
        ("SELECT nope FROM lists", 'unknown column "nope"'),
        ("SELECT * FROM Events", "WHERE email"),
        ("SELECT * FROM events WHERE eventName = 'x'", "WHERE email"),
        ("SELECT * FROM lists WHERE id = :missing", "missing"),
        ("INSERT INTO email_send (email) VALUES ('a@b.example')", "email_send"),
        ("INSERT INTO lists VALUES ('x')", "column list"),
        ("UPDATE lists SET name = 'x' WHERE id = 1", "UPDATE"),
        ("CALL NoSuchProcedure(1)", "unknown procedure"),
        ("DROP TABLE lists", "DROP"),
        ("SELECT l.nope, count(*) FROM lists l GROUP BY 1", "nope"),
        ("SELECT count(*) FROM lists JOIN Events e ON true", "WHERE email"),
    ],
)
def test_bad_sql_is_a_typed_error(sim: Sim, sql: str, words: str) -> None:
    if "count(*)" in sql:  # runs in DuckDB
        pytest.importorskip("duckdb")
    src = source(sim)
    with pytest.raises(InputError) as info:
        result = src.sql(sql)
        if isinstance(result, Reader):
            list(result)
    e = info.value
    assert isinstance(e, IterableConnectorError) and e.kind == "invalid-input"
    assert words.lower() in str(e).lower(), str(e)
    assert API_KEY not in str(e) and API_KEY not in repr(e)
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__)


def test_the_needs_engine_code_reaches_python(sim: Sim) -> None:
    from iterable_connector import _native

    with pytest.raises(InputError) as info:
        _native.plan_sql(source(sim)._config_json, "SELECT count(*) FROM lists")
    assert info.value.code == _native.SQL_NEEDS_ENGINE == "sql-needs-engine"
    with pytest.raises(InputError) as info:
        _native.plan_sql(source(sim)._config_json, "SELECT * FROM nowhere")
    assert info.value.code is None


def test_native_plans(sim: Sim) -> None:
    from iterable_connector import _native

    cfg = source(sim)._config_json
    p = _native.plan_sql(
        cfg, "SELECT email AS e FROM list_users WHERE listId IN (1, 2) LIMIT 4 OFFSET 1"
    )
    assert (p.kind, p.stream, p.limit, p.offset, p.columns) == ("select", "list_users", 4, 1, ["e"])
    assert p.pushed == ["listId IN (1, 2) → list_ids"]
    assert p.object is None and p.rows == [] and not p.returning
    assert "limit=4" in repr(p)
    w = _native.plan_sql(cfg, "INSERT INTO lists (name) VALUES (:n) RETURNING id", {"n": "x"})
    assert (w.kind, w.object, w.op, w.rows, w.returning) == (
        "write",
        "lists",
        "insert",
        [{"name": "x"}],
        True,
    )
    assert w.stream is None and w.columns is None
    with pytest.raises(InputError):
        _native.QuerySession(w)
    scans = _native.plan_scans(cfg, "SELECT * FROM lists a JOIN list_users b ON a.id = b.listId")
    assert [t for t, _ in scans] == ["lists", "list_users"]
    assert all(s.kind == "select" for _, s in scans)
    with pytest.raises(TypeError):
        _native.plan_sql(cfg, "SELECT * FROM lists WHERE id = :x", {"x": object()})
