"""Two-way sync of catalog items with a table, against the simulator, on
SQLite, DuckDB and a real PostgreSQL server started here (initdb/pg_ctl on
PATH or under /usr/lib/postgresql/*/bin; CI installs PostgreSQL, so missing
binaries fail the PostgreSQL tests instead of skipping them)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Postgres, Sim, source

from iterable_connector import ConfigError, InputError, IterableSource, SyncResult

# -- the databases ---------------------------------------------------------------


class DB:
    """A connection and plain helpers that work on all three databases."""

    def __init__(self, kind: str, con: Any, sync_con: Any = None) -> None:
        self.kind = kind
        self.con = con
        # What the sync is given: the same connection, or a SQLAlchemy Engine
        # or Connection to the same database.
        self.sync_con = con if sync_con is None else sync_con
        self.ph = "%s" if kind == "postgres" else "?"

    def exec(self, sql: str, *params: Any) -> None:
        sql = sql.replace("?", self.ph)
        if self.kind == "duckdb":
            self.con.execute(sql, list(params))
            return
        cur = self.con.cursor()
        cur.execute(sql, params)
        cur.close()
        self.con.commit()

    def rows(self, table: str, key: str = "item_id") -> dict[str, dict[str, Any]]:
        cur = self.con.cursor()
        cur.execute(f'SELECT * FROM "{table}" ORDER BY "{key}"')
        names = [d[0] for d in cur.description]
        out = {}
        for r in cur.fetchall():
            row = dict(zip(names, r, strict=True))
            out[str(row.pop(key))] = row
        cur.close()
        if self.kind != "duckdb":
            self.con.commit()
        return out


@pytest.fixture(
    params=["sqlite", "duckdb", "postgres", "sqlalchemy-sqlite-engine", "sqlalchemy-postgres"]
)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DB]:
    kind = request.param
    closing: list[Any] = []
    sync_con: Any = None
    if kind == "sqlite":
        con: Any = sqlite3.connect(":memory:")
    elif kind == "duckdb":
        import duckdb

        con = duckdb.connect(":memory:")
    elif kind == "postgres":
        pg: Postgres = request.getfixturevalue("postgres")
        con = pg.connect()
    else:
        sqlalchemy = pytest.importorskip("sqlalchemy")
        if kind == "sqlalchemy-sqlite-engine":
            # An Engine on a file; the test's own helpers use sqlite3 on it.
            path = tmp_path / "sync.db"
            sync_con = sqlalchemy.create_engine(f"sqlite:///{path}")
            closing.append(sync_con.dispose)
            con = sqlite3.connect(path)
            kind = "sqlite"
        else:
            # A Connection (psycopg 3 dialect) to a database of its own.
            pg = request.getfixturevalue("postgres")
            name = pg.new_database("sa")
            engine = sqlalchemy.create_engine(pg.url(name).replace("://", "+psycopg://", 1))
            sync_con = engine.connect()
            closing += [engine.dispose, sync_con.close]
            con = pg.connect(name)
            kind = "postgres"
    try:
        yield DB(kind, con, sync_con)
    finally:
        for close in [*reversed(closing), con.close]:
            with contextlib.suppress(Exception):
                close()


_counter = iter(range(1_000_000))


def names(db: DB) -> tuple[str, str]:
    """A fresh catalog name and table name (PostgreSQL outlives a test)."""
    n = next(_counter)
    return f"sync-{db.kind}-{n}", f"items_{db.kind}_{n}"


def create(db: DB, table: str) -> None:
    db.exec(f'CREATE TABLE "{table}" (item_id TEXT PRIMARY KEY, name TEXT, price INTEGER)')


def remote(sim: Sim, catalog: str) -> dict[str, Any]:
    """Iterable's items of the catalog: {itemId: value}."""
    reader = source(sim, catalog_names=[catalog]).read("catalog_items")
    return {r["itemId"]: r["value"] for r in reader if r.get("catalogName") == catalog}


def up(src: IterableSource, catalog: str, items: dict[str, dict[str, Any]]) -> None:
    rows = [{"itemId": k, "value": v} for k, v in items.items()]
    assert src.write("catalog_items", rows, "upsert", catalog=catalog).all_ok


def local(db: DB, table: str, key: str = "item_id") -> dict[str, dict[str, Any]]:
    """The table as {key: {column: value}} without NULL columns."""
    rows = db.rows(table, key)
    return {k: {c: v for c, v in r.items() if v is not None} for k, r in rows.items()}


# -- scenarios ---------------------------------------------------------------------


def test_two_way_sync(fresh_sim: Sim, db: DB) -> None:
    src = source(fresh_sim)
    catalog, table = names(db)
    assert src.write("catalogs", [{"name": catalog}]).all_ok
    up(src, catalog, {"r1": {"name": "Remote 1", "price": 10}, "r2": {"name": "Remote 2"}})
    up(src, catalog, {"both": {"name": "Both", "price": 5}})
    create(db, table)
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?)', "l1", "Local 1", 20)
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?)', "l2", None, 30)
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?)', "both", "Both", 5)

    def sync(**kw: Any) -> SyncResult:
        return src.sync(
            "catalog_items", catalog=catalog, con=db.sync_con, table=table, key="item_id", **kw
        )

    # First run (merge_by_key): each side gets what it lacks, no duplicates.
    r = sync()
    assert (r.local_upserts, r.remote_upserts, r.unchanged) == (2, 2, 1), r
    assert not r.conflicts and not r.failures and r and not r.dry_run
    everything = {
        "l1": {"name": "Local 1", "price": 20},
        "l2": {"price": 30},  # a NULL column is left out of the item
        "r1": {"name": "Remote 1", "price": 10},
        "r2": {"name": "Remote 2"},  # a missing field is NULL in the table
        "both": {"name": "Both", "price": 5},
    }
    assert remote(fresh_sim, catalog) == everything
    assert local(db, table) == everything
    state = r.state
    assert state is not None and state["catalog"] == catalog
    json.dumps(state)  # JSON-serialisable

    # A second run with no change writes nothing.
    r = sync(state=state)
    assert (r.writes, r.unchanged) == (0, 5), r
    state = r.state

    # A local change and delete reach Iterable; a remote change and delete the table.
    db.exec(f'UPDATE "{table}" SET price = ? WHERE item_id = ?', 21, "l1")
    db.exec(f'DELETE FROM "{table}" WHERE item_id = ?', "l2")
    up(src, catalog, {"r1": {"name": "Remote 1", "price": 11}})
    assert src.write("catalog_items", [{"itemId": "r2"}], "delete", catalog=catalog).all_ok
    r = sync(state=state)
    assert (r.remote_upserts, r.remote_deletes, r.local_upserts, r.local_deletes) == (1, 1, 1, 1)
    assert r.unchanged == 1 and not r.conflicts, r
    now = {
        "l1": {"name": "Local 1", "price": 21},
        "r1": {"name": "Remote 1", "price": 11},
        "both": {"name": "Both", "price": 5},
    }
    assert remote(fresh_sim, catalog) == now
    assert local(db, table) == now
    state = r.state

    # Changed on both sides: "report" changes nothing and lists it...
    db.exec(f'UPDATE "{table}" SET price = ? WHERE item_id = ?', 7, "both")
    up(src, catalog, {"both": {"name": "Both", "price": 8}})
    r = sync(state=state, policy="report")
    assert r.writes == 0 and not r
    assert r.conflicts == [
        {
            "key": "both",
            "local": {"name": "Both", "price": 7},
            "remote": {"name": "Both", "price": 8},
        }
    ]
    assert local(db, table)["both"]["price"] == 7
    assert remote(fresh_sim, catalog)["both"]["price"] == 8
    # ...and stays a conflict until a policy settles it: Iterable wins.
    r = sync(state=r.state, policy="iterable_wins")
    assert (r.local_upserts, r.remote_upserts, len(r.conflicts)) == (1, 0, 0), r
    assert local(db, table)["both"] == {"name": "Both", "price": 8}
    state = r.state

    # A dry run plans and changes nothing (and returns the state given).
    db.exec(f'UPDATE "{table}" SET price = ? WHERE item_id = ?', 22, "l1")
    up(src, catalog, {"r3": {"name": "Remote 3"}})
    r = sync(state=state, dry_run=True)
    assert r.dry_run and r.writes == 0 and r.state == state
    assert r.planned == {
        "local": [{"op": "upsert", "key": "r3", "content": {"name": "Remote 3"}}],
        "remote": [{"op": "upsert", "key": "l1", "content": {"name": "Local 1", "price": 22}}],
    }
    text = str(r)
    assert "dry run" in text and "l1" in text and "r3" in text
    assert remote(fresh_sim, catalog)["l1"]["price"] == 21
    assert "r3" not in local(db, table)
    # The real run then does what was planned, and a further one nothing.
    r = sync(state=state)
    assert (r.remote_upserts, r.local_upserts) == (1, 1)
    r = sync(state=r.state)
    assert r.writes == 0 and r.unchanged == 4
    assert remote(fresh_sim, catalog) == local(db, table)


def test_bad_input_fails_before_any_write(fresh_sim: Sim, db: DB) -> None:
    src = source(fresh_sim)
    catalog, table = names(db)
    assert src.write("catalogs", [{"name": catalog}]).all_ok
    create(db, table)
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?)', "a", "A", 1)
    base: dict[str, Any] = {
        "catalog": catalog,
        "con": db.sync_con,
        "table": table,
        "key": "item_id",
    }

    with pytest.raises(ConfigError) as e:
        src.sync("catalog_items", **{**base, "table": "no_such_table"})
    assert e.value.field == "table" and "no_such_table" in str(e.value)
    with pytest.raises(ConfigError) as e:
        src.sync("catalog_items", **{**base, "key": "sku"})
    assert e.value.field == "key" and "'sku'" in str(e.value) and "item_id" in str(e.value)
    with pytest.raises(ConfigError) as e:
        src.sync("catalog_items", **{**base, "changed_at": "updated"})
    assert e.value.field == "changed_at"
    with pytest.raises(ConfigError) as e:
        src.sync("catalog_items", **{**base, "columns": {"colour": "color"}})
    assert e.value.field == "columns" and "colour" in str(e.value)
    with pytest.raises(InputError) as ie:
        src.sync("catalog_items", **{**base, "policy": "mine_wins"})
    assert ie.value.field == "policy" and "local_wins" in str(ie.value)
    with pytest.raises(InputError) as ie:
        src.sync("catalog_items", **{**base, "initial": "both"})
    assert ie.value.field == "initial"
    with pytest.raises(InputError) as ie:
        src.sync("users", **base)
    assert ie.value.field == "object" and "templates" in str(ie.value)
    # Nothing was written on either side, and the connection still works.
    assert remote(fresh_sim, catalog) == {}
    assert local(db, table) == {"a": {"name": "A", "price": 1}}
    assert src.sync("catalog_items", **base).remote_upserts == 1


def test_column_mapping_changed_at_and_state_file(fresh_sim: Sim, tmp_path: Path) -> None:
    src = source(fresh_sim)
    assert src.write("catalogs", [{"name": "mapped"}]).all_ok
    con = sqlite3.connect(":memory:")
    con.execute(
        "CREATE TABLE p (sku TEXT PRIMARY KEY, title TEXT, cost REAL, note TEXT, updated_at TEXT)"
    )
    con.execute("INSERT INTO p VALUES ('s1', 'Shoe', 9.5, 'not synced', '2020-01-01T00:00:00Z')")
    con.commit()
    path = tmp_path / "sync-state.json"
    kw: dict[str, Any] = {
        "catalog": "mapped",
        "con": con,
        "table": "p",
        "key": "sku",
        "changed_at": "updated_at",
        "columns": {"title": "name", "cost": "price"},
        "state_path": path,
    }
    r = src.sync("catalog_items", **kw)
    assert r.remote_upserts == 1 and path.exists()
    assert remote(fresh_sim, "mapped") == {"s1": {"name": "Shoe", "price": 9.5}}
    assert json.loads(path.read_text()) == r.state
    # newest_wins: Iterable's change is newer than the row's updated_at.
    con.execute("UPDATE p SET cost = 10.5 WHERE sku = 's1'")
    con.commit()
    up(src, "mapped", {"s1": {"name": "Shoe", "price": 11.5}})
    r = src.sync("catalog_items", **kw, policy="newest_wins")  # state read from the file
    assert (r.local_upserts, r.remote_upserts) == (1, 0), r
    row = con.execute("SELECT title, cost, note FROM p").fetchone()
    assert row == ("Shoe", 11.5, "not synced")  # unmapped columns are left alone
    # A local change with a newer time wins the next conflict.
    con.execute("UPDATE p SET cost = 12.5, updated_at = '2999-01-01T00:00:00Z'")
    con.commit()
    up(src, "mapped", {"s1": {"name": "Shoe", "price": 13.5}})
    r = src.sync("catalog_items", **kw, policy="newest_wins")
    assert (r.local_upserts, r.remote_upserts) == (0, 1), r
    assert remote(fresh_sim, "mapped")["s1"]["price"] == 12.5


def test_sqlite_booleans_stay_booleans(fresh_sim: Sim) -> None:
    src = source(fresh_sim)
    assert src.write("catalogs", [{"name": "flags"}]).all_ok
    up(src, "flags", {"a": {"on": True}, "b": {"on": False}})
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE f (k TEXT PRIMARY KEY, on_sale BOOLEAN)")
    con.execute("INSERT INTO f VALUES ('c', 1)")
    con.commit()
    kw: dict[str, Any] = {"catalog": "flags", "con": con, "table": "f", "key": "k"}
    r = src.sync("catalog_items", **kw, columns={"on_sale": "on"})
    assert (r.local_upserts, r.remote_upserts) == (2, 1), r
    assert remote(fresh_sim, "flags")["c"]["on"] is True
    r = src.sync("catalog_items", **kw, columns={"on_sale": "on"}, state=r.state)
    assert r.writes == 0 and r.unchanged == 3, r.planned


def test_local_changes_apply_in_one_transaction_with_integer_keys(fresh_sim: Sim, db: DB) -> None:
    src = source(fresh_sim)
    catalog, table = names(db)
    assert src.write("catalogs", [{"name": catalog}]).all_ok
    up(src, catalog, {"1": {"price": 10}, "2": {"price": -1}})
    db.exec(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, price INTEGER CHECK (price >= 0))')
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?)', 3, 30)
    # Autocommit connections too: the sync opens its own transaction.
    if db.kind == "sqlite":
        db.con.isolation_level = None
    elif db.kind == "postgres":
        db.con.autocommit = True
    kw: dict[str, Any] = {"catalog": catalog, "con": db.sync_con, "table": table, "key": "id"}

    # Item 2 breaks the CHECK: no local change stays, and Iterable is not written.
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        src.sync("catalog_items", **kw)
    assert db.rows(table, "id") == {"3": {"price": 30}}
    assert remote(fresh_sim, catalog) == {"1": {"price": 10}, "2": {"price": -1}}

    up(src, catalog, {"2": {"price": 2}})
    r = src.sync("catalog_items", **kw)
    assert (r.local_upserts, r.remote_upserts) == (2, 1), r
    assert db.rows(table, "id") == {"1": {"price": 10}, "2": {"price": 2}, "3": {"price": 30}}
    assert remote(fresh_sim, catalog) == {"1": {"price": 10}, "2": {"price": 2}, "3": {"price": 30}}
    assert src.write("catalog_items", [{"itemId": "1"}], "delete", catalog=catalog).all_ok
    r = src.sync("catalog_items", **kw, state=r.state)
    assert (r.local_deletes, r.writes) == (1, 1), r
    assert sorted(db.rows(table, "id")) == ["2", "3"]


def test_duplicate_or_null_keys_fail_before_any_write(fresh_sim: Sim) -> None:
    src = source(fresh_sim)
    assert src.write("catalogs", [{"name": "dupes"}]).all_ok
    up(src, "dupes", {"r": {"n": 1}})
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (k TEXT, n INTEGER)")  # no primary key
    con.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("a", 2)])
    con.commit()
    kw: dict[str, Any] = {"catalog": "dupes", "con": con, "table": "t", "key": "k"}
    with pytest.raises(InputError, match="is the key of two local rows") as e:
        src.sync("catalog_items", **kw)
    assert e.value.field == "key"
    con.execute("UPDATE t SET k = NULL WHERE n = 2")
    con.commit()
    with pytest.raises(InputError, match="NULL") as e:
        src.sync("catalog_items", **kw)
    assert e.value.field == "key"
    assert remote(fresh_sim, "dupes") == {"r": {"n": 1}}
    assert sorted(con.execute("SELECT k, n FROM t").fetchall(), key=str) == [("a", 1), (None, 2)]


class _Killer:
    """A transport that raises KeyboardInterrupt at its Nth request."""

    def __init__(self, inner: Any, at: int) -> None:
        self.inner, self.at, self.sent = inner, at, 0

    def send(self, *args: Any, **kw: Any) -> Any:
        self.sent += 1
        if self.sent == self.at:
            raise KeyboardInterrupt
        return self.inner.send(*args, **kw)


def test_a_sync_killed_anywhere_converges_when_run_again(fresh_sim: Sim, tmp_path: Path) -> None:
    src = source(fresh_sim)
    assert src.write("catalogs", [{"name": "killed"}]).all_ok
    up(src, "killed", {f"r{i}": {"n": i} for i in range(3)} | {"both": {"n": 9}})
    con = sqlite3.connect(tmp_path / "db.sqlite")
    con.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(f"l{i}", 10 + i) for i in range(3)])
    con.execute("INSERT INTO t VALUES ('both', 9)")
    con.commit()
    path = tmp_path / "state.json"
    kw: dict[str, Any] = {"catalog": "killed", "con": con, "table": "t", "key": "k"}
    want = {f"r{i}": {"n": i} for i in range(3)} | {f"l{i}": {"n": 10 + i} for i in range(3)}
    want["both"] = {"n": 9}

    def until_done() -> int:
        at = 1
        while True:
            killer = source(fresh_sim, transport=_Killer(src.transport, at))
            try:
                killer.sync("catalog_items", **kw, state_path=path)
            except KeyboardInterrupt:
                at += 1
                continue
            return at - 1

    def check() -> None:
        r = src.sync("catalog_items", **kw, state_path=path)
        assert r.writes == 0 and r.unchanged == len(want), r
        assert remote(fresh_sim, "killed") == want
        assert local(con_db(con), "t", "k") == want

    assert until_done() > 2  # killed while reading and while writing
    check()
    # Changes and deletes on both sides, killed anywhere, with a state this time.
    con.execute("UPDATE t SET n = 100 WHERE k = 'l0'")
    con.execute("DELETE FROM t WHERE k = 'l1'")
    con.commit()
    up(src, "killed", {"r0": {"n": 50}})
    assert src.write("catalog_items", [{"itemId": "r1"}], "delete", catalog="killed").all_ok
    want["l0"], want["r0"] = {"n": 100}, {"n": 50}
    del want["l1"], want["r1"]
    assert until_done() > 2
    check()


def con_db(con: Any) -> DB:
    return DB("sqlite", con)


def test_nested_values_round_trip_and_unmapped_fields_stop_the_sync(fresh_sim: Sim, db: DB) -> None:
    src = source(fresh_sim)
    catalog, table = names(db)
    assert src.write("catalogs", [{"name": catalog}]).all_ok
    nested = {"name": "N", "tags": ["a", "b"], "dims": {"w": 2, "h": 3}}
    up(src, catalog, {"n1": nested})
    db.exec(f'CREATE TABLE "{table}" (item_id TEXT PRIMARY KEY, name TEXT, tags TEXT, dims TEXT)')
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?, ?)', "l1", "[draft]", '["x"]', None)
    kw: dict[str, Any] = {"catalog": catalog, "con": db.sync_con, "table": table, "key": "item_id"}
    r = src.sync("catalog_items", **kw)
    assert (r.local_upserts, r.remote_upserts) == (1, 1), r
    # Text that is not a JSON object or array stays text.
    assert remote(fresh_sim, catalog)["l1"] == {"name": "[draft]", "tags": ["x"]}
    assert json.loads(db.rows(table)["n1"]["tags"]) == ["a", "b"]
    r = src.sync("catalog_items", **kw, state=r.state)
    assert r.writes == 0 and r.unchanged == 2, r  # no ping-pong of nested values
    state = r.state

    # An item field the table has no column for stops the sync before any change.
    up(src, catalog, {"n1": {**nested, "colour": "red"}, "n2": {"name": "Two"}})
    db.exec(f'UPDATE "{table}" SET name = ? WHERE item_id = ?', "L", "l1")
    with pytest.raises(ConfigError) as e:
        src.sync("catalog_items", **kw, state=state)
    assert e.value.field == "columns" and "'colour'" in str(e.value)
    assert sorted(db.rows(table)) == ["l1", "n1"]
    assert remote(fresh_sim, catalog)["l1"]["name"] == "[draft]"


def test_numbers_in_float_and_numeric_columns_settle(fresh_sim: Sim, db: DB) -> None:
    src = source(fresh_sim)
    catalog, table = names(db)
    assert src.write("catalogs", [{"name": catalog}]).all_ok
    up(src, catalog, {"a": {"price": 5, "cost": 2}, "b": {"price": 9.25, "cost": 1.5}})
    db.exec(f'CREATE TABLE "{table}" (item_id TEXT PRIMARY KEY, price FLOAT8, cost NUMERIC(10,2))')
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?)', "c", 7.0, 3)
    kw: dict[str, Any] = {"catalog": catalog, "con": db.sync_con, "table": table, "key": "item_id"}
    r = src.sync("catalog_items", **kw)
    assert (r.local_upserts, r.remote_upserts) == (2, 1), r
    assert remote(fresh_sim, catalog)["c"] == {"price": 7, "cost": 3}
    r = src.sync("catalog_items", **kw, state=r.state)
    assert r.writes == 0 and r.unchanged == 3, r.planned


@pytest.mark.parametrize("initial", ["iterable_to_local", "local_to_iterable"])
def test_first_run_one_way_modes(fresh_sim: Sim, db: DB, initial: str) -> None:
    """The two one-way first runs: the named side is copied over the other
    (rows only the other side has are left alone), then later runs are two-way."""
    src = source(fresh_sim)
    catalog, table = names(db)
    assert src.write("catalogs", [{"name": catalog}]).all_ok
    up(src, catalog, {"r": {"name": "Remote", "price": 1}, "both": {"name": "In Iterable"}})
    create(db, table)
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?)', "l", "Local", 2)
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?)', "both", "In the table", None)

    r = src.sync(
        "catalog_items",
        catalog=catalog,
        con=db.sync_con,
        table=table,
        key="item_id",
        initial=initial,
    )
    assert not r.failures and not r.conflicts, r
    if initial == "iterable_to_local":
        assert (r.local_upserts, r.remote_upserts) == (2, 0), r
        assert local(db, table) == {
            "r": {"name": "Remote", "price": 1},
            "both": {"name": "In Iterable"},
            "l": {"name": "Local", "price": 2},
        }
        assert remote(fresh_sim, catalog) == {
            "r": {"name": "Remote", "price": 1},
            "both": {"name": "In Iterable"},
        }
    else:
        assert (r.local_upserts, r.remote_upserts) == (0, 2), r
        assert remote(fresh_sim, catalog) == {
            "r": {"name": "Remote", "price": 1},
            "both": {"name": "In the table"},
            "l": {"name": "Local", "price": 2},
        }
        assert local(db, table) == {
            "l": {"name": "Local", "price": 2},
            "both": {"name": "In the table"},
        }
    # The next run is two-way: what one side lacks reaches it, once.
    again = src.sync(
        "catalog_items", catalog=catalog, con=db.sync_con, table=table, key="item_id", state=r.state
    )
    assert not again.failures, again
    assert local(db, table) == remote(fresh_sim, catalog)
    quiet = src.sync(
        "catalog_items",
        catalog=catalog,
        con=db.sync_con,
        table=table,
        key="item_id",
        state=again.state,
    )
    assert quiet.writes == 0, quiet.planned


# -- templates ---------------------------------------------------------------------


def remote_templates(sim: Sim) -> dict[str, dict[str, Any]]:
    """Iterable's Email templates that have a clientTemplateId: {id: {name, subject}}."""
    reader = source(sim).read("template_contents", incremental=False)
    return {
        r["clientTemplateId"]: {"name": r.get("name"), "subject": r.get("subject")}
        for r in reader
        if r.get("messageMedium") == "Email" and r.get("clientTemplateId")
    }


def test_templates_sync_both_ways(fresh_sim: Sim, db: DB) -> None:
    src = source(fresh_sim)
    table = f"templates_{db.kind}_{next(_counter)}"
    db.exec(f'CREATE TABLE "{table}" (client_id TEXT PRIMARY KEY, name TEXT, subject TEXT)')

    def run(**kw: Any) -> SyncResult:
        return src.sync("templates", medium="Email", con=db.con, table=table, key="client_id", **kw)

    # First run into an empty table: Iterable's keyed Email templates arrive.
    first = run()
    truth = remote_templates(fresh_sim)
    assert truth, "the world has Email templates with a clientTemplateId"
    assert first.local_upserts == len(truth) and first.remote_upserts == 0, first
    assert local(db, table, "client_id") == truth
    assert "Email templates" in str(first) and "medium='Email'" in repr(first)
    state = first.state

    # A new row, an edited row and a template edited in Iterable.
    edited, elsewhere = sorted(truth)[:2]
    db.exec(f'INSERT INTO "{table}" VALUES (?, ?, ?)', "py-new", "New here", "Hi there")
    db.exec(f'UPDATE "{table}" SET subject = ? WHERE client_id = ?', "Edited here", edited)
    assert src.write(
        "templates",
        [{"clientTemplateId": elsewhere, "subject": "Edited in Iterable"}],
        "insert",
        medium="Email",
    ).all_ok
    second = run(state=state)
    assert second, second.failures
    assert (second.remote_upserts, second.local_upserts) == (2, 1), second
    now = remote_templates(fresh_sim)
    assert now["py-new"] == {"name": "New here", "subject": "Hi there"}
    assert now[edited]["subject"] == "Edited here"
    assert local(db, table, "client_id")[elsewhere]["subject"] == "Edited in Iterable"
    assert local(db, table, "client_id") == now

    # A local delete reaches Iterable; then nothing is left to do.
    db.exec(f'DELETE FROM "{table}" WHERE client_id = ?', "py-new")
    third = run(state=second.state)
    assert third.remote_deletes == 1, third
    assert "py-new" not in remote_templates(fresh_sim)
    quiet = run(state=third.state)
    assert quiet.writes == 0 and not quiet.planned["remote"], quiet


def test_templates_sync_refuses_bad_input_before_writing(fresh_sim: Sim) -> None:
    src = source(fresh_sim)
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE only_key (client_id TEXT PRIMARY KEY)")
    con.execute("CREATE TABLE t (client_id TEXT PRIMARY KEY, subject TEXT, updatedAt TEXT)")
    with pytest.raises(InputError) as e:
        src.sync("templates", con=con, table="only_key", key="client_id")
    assert e.value.field == "fields"
    with pytest.raises(InputError) as e:
        src.sync("templates", con=con, table="t", key="client_id")
    assert "updatedAt" in str(e.value)
    with pytest.raises(InputError) as e:
        src.sync(
            "templates",
            medium="Fax",
            con=con,
            table="t",
            key="client_id",
            columns={"subject": "subject"},
        )
    assert e.value.field == "medium"
    assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_sqlalchemy_connection_rules(fresh_sim: Sim, tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import Session

    src = source(fresh_sim)
    assert src.write("catalogs", [{"name": "sa"}]).all_ok
    up(src, "sa", {"r": {"name": "Remote"}})
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'sa.db'}")
    kw: dict[str, Any] = {"catalog": "sa", "table": "t", "key": "k"}
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES ('l', 'Local')")
        # Work in progress on the Connection: the sync refuses to commit it.
        with pytest.raises(ConfigError) as e:
            src.sync("catalog_items", con=conn, **kw)
        assert e.value.field == "con" and "transaction in progress" in str(e.value)
        conn.commit()
        with Session(engine) as session, pytest.raises(ConfigError) as e:
            src.sync("catalog_items", con=session, **kw)
        assert e.value.field == "con" and "Engine or a Connection" in str(e.value)
        r = src.sync("catalog_items", con=conn, **kw)
        assert (r.local_upserts, r.remote_upserts) == (1, 1), r
        assert not conn.in_transaction()  # the sync committed its own work
        rows = conn.exec_driver_sql("SELECT k, name FROM t ORDER BY k").fetchall()
        assert [tuple(x) for x in rows] == [("l", "Local"), ("r", "Remote")]
        conn.rollback()
    assert remote(fresh_sim, "sa") == {"l": {"name": "Local"}, "r": {"name": "Remote"}}
    engine.dispose()
