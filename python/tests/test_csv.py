"""``Reader.to_csv``: files re-read with Python's ``csv``, pandas and DuckDB
equal the records of a plain read, rendered as the encoder defines them."""

from __future__ import annotations

import csv
import gzip
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import Sim, source

from iterable_connector import InputError, _native

STREAMS = ["campaigns", "email_send", "users", "templates", "list_users", "catalog_items"]
Row = tuple[str | None, ...]


def _columns(src: Any, stream: str) -> list[str]:
    fields = json.dumps(src.user_fields())
    return _native.csv_columns(src._config_json, stream, fields)


def _cell(v: Any) -> str | None:
    """A value as the encoder writes it (``None``: null)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return json.dumps(v)
    return json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _render(record: dict[str, Any], columns: list[str]) -> Row:
    declared = set(columns)
    extra = {k: v for k, v in record.items() if k not in declared}
    return tuple(
        (_cell(extra) if extra else None) if c == "_extra" else _cell(record.get(c))
        for c in columns
    )


def _expected(sim: Sim, streams: list[str]) -> tuple[dict[str, list[str]], dict[str, Counter[Row]]]:
    src = source(sim)
    records: dict[str, list[dict[str, Any]]] = {s: [] for s in streams}
    for stream, r in src.read(streams).read_records(with_stream=True):
        records[stream].append(r)
    columns = {s: _columns(src, s) for s in streams}
    rows = {s: Counter(_render(r, columns[s]) for r in records[s]) for s in streams}
    for s in streams:
        assert sum(rows[s].values()) > 0, f"{s}: no records to compare"
    return columns, rows


def test_to_csv_rereads_with_csv_pandas_and_duckdb(sim: Sim, tmp_path: Path) -> None:
    columns, expected = _expected(sim, STREAMS)

    # A text for null that no value has: Python's csv and pandas see it.
    out = tmp_path / "nulltext"
    paths = source(sim).read(STREAMS).to_csv(out, null_value=r"\N")
    for s in STREAMS:
        with open(paths[s], newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[0] == columns[s]
        got = Counter(tuple(None if c == r"\N" else c for c in r) for r in rows[1:])
        assert got == expected[s], s

    pd = pytest.importorskip("pandas")
    for s in STREAMS:
        df = pd.read_csv(
            paths[s], dtype=str, keep_default_na=False, na_values=[r"\N"], encoding="utf-8"
        )
        assert list(df.columns) == columns[s]
        got = Counter(
            tuple(None if v is None or v != v else v for v in row)
            for row in df.astype(object).itertuples(index=False, name=None)
        )
        assert got == expected[s], s

    # Default options: null is nothing, the empty string is "". DuckDB keeps
    # them apart with allow_quoted_nulls=false.
    out = tmp_path / "default"
    paths = source(sim).read(STREAMS).to_csv(out)
    assert paths == {s: out / f"{s}.csv" for s in STREAMS}
    duckdb = pytest.importorskip("duckdb")
    for s in STREAMS:
        types = ", ".join(f"'{c}': 'VARCHAR'" for c in columns[s])
        rel = duckdb.sql(
            f"SELECT * FROM read_csv('{paths[s]}', header=true, delim=',', quote='\"', "
            f"escape='\"', nullstr='', allow_quoted_nulls=false, auto_detect=false, "
            f"columns={{{types}}})"
        )
        assert rel.columns == columns[s]
        assert Counter(tuple(r) for r in rel.fetchall()) == expected[s], s


def test_excel_style_round_trips(sim: Sim, tmp_path: Path) -> None:
    streams = ["campaigns", "email_send", "users"]
    columns, expected = _expected(sim, streams)
    out = tmp_path / "excel"
    paths = (
        source(sim)
        .read(streams)
        .to_csv(out, delimiter=";", line_ending="crlf", bom=True, null_value="NULL")
    )
    pd = pytest.importorskip("pandas")
    for s in streams:
        raw = paths[s].read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        assert raw.endswith(b"\r\n")
        assert raw.split(b"\r\n", 1)[0] == b"\xef\xbb\xbf" + ";".join(columns[s]).encode()
        with open(paths[s], newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f, delimiter=";"))
        assert rows[0] == columns[s]
        got = Counter(tuple(None if c == "NULL" else c for c in r) for r in rows[1:])
        assert got == expected[s], s
        df = pd.read_csv(
            paths[s],
            sep=";",
            dtype=str,
            keep_default_na=False,
            na_values=["NULL"],
            encoding="utf-8-sig",
        )
        assert list(df.columns) == columns[s]
        got = Counter(
            tuple(None if v != v else v for v in row)
            for row in df.astype(object).itertuples(index=False, name=None)
        )
        assert got == expected[s], s


def test_one_stream_is_one_file_and_gzip(sim: Sim, tmp_path: Path) -> None:
    columns, expected = _expected(sim, ["email_send"])
    target = tmp_path / "sub" / "sends.csv.gz"
    paths = source(sim).read("email_send").to_csv(target, gzip=True, null_value=r"\N")
    assert paths == {"email_send": target}
    with gzip.open(target, "rt", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == columns["email_send"]
    got = Counter(tuple(None if c == r"\N" else c for c in r) for r in rows[1:])
    assert got == expected["email_send"]
    # No header, tabs, single quotes.
    target = tmp_path / "sends.tsv"
    source(sim).read("email_send").to_csv(target, delimiter="\t", quote="'", header=False)
    with open(target, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar="'"))
    assert len(rows) == sum(expected["email_send"].values())
    assert len(rows[0]) == len(columns["email_send"])


def test_bad_options_raise_before_reading(sim: Sim, tmp_path: Path) -> None:
    reader = source(sim).read(["campaigns", "email_send"])
    with pytest.raises(InputError) as e:
        reader.to_csv(tmp_path / "x", line_ending="cr")
    assert e.value.field == "line_ending"
    assert not (tmp_path / "x").exists()
    with pytest.raises(InputError) as e:
        reader.to_csv(tmp_path / "x", delimiter=";", quote=";")
    assert e.value.field == "quote"
    # Nothing was read: the reader is still usable, once.
    assert not reader.done
    reader.to_csv(tmp_path / "x")
    assert reader.done and sorted(p.name for p in (tmp_path / "x").iterdir()) == [
        "campaigns.csv",
        "email_send.csv",
    ]
    with pytest.raises(RuntimeError, match="already consumed"):
        reader.to_csv(tmp_path / "y")
    assert not (tmp_path / "y").exists()
    # Without quotes a value that needs them names its row and column.
    with pytest.raises(InputError) as e:
        source(sim).read("campaigns").to_csv(tmp_path / "c.csv", delimiter=" ", quote=None)
    assert "row 1, column name" in str(e.value)


def test_native_encoder_distinguishes_null_and_empty() -> None:
    enc = _native.CsvEncoder(["a", "b", "_extra"])
    assert enc.header() == b"a,b,_extra\n"
    body = enc.encode_ndjson(b'{"a": null, "b": "", "c": {"x": [1, "y"]}}\n{"a": "p,q"}\n')
    assert body == b',"","{""c"":{""x"":[1,""y""]}}"\n"p,q",,\n'
    assert enc.rows == 2
    assert enc.columns == ["a", "b", "_extra"]


def test_null_empty_and_awkward_text_round_trip(fresh_sim: Sim, tmp_path: Path) -> None:
    # A user whose fields hold an empty string, a null and text needing quotes.
    cfg: dict[str, Any] = {"start_date": "2020-01-01T00:00:00Z", "end_date": None}
    cfg["lookback_minutes"] = 0
    note = 'say "hi", then\nnext line; done'
    # Declared custom fields (columns of their own) and undeclared ones (in _extra).
    declared = sorted(
        k for k, t in source(fresh_sim, **cfg).user_fields()["fields"].items() if t == "string"
    )
    assert len(declared) >= 3, declared
    empty, null, text = declared[:3]
    data = {empty: "", null: None, text: note, "nick": "", "gone": None, "note": note}
    wrote = source(fresh_sim, **cfg).write(
        "users", [{"email": "csv@example.com", "dataFields": data}], "upsert"
    )
    assert wrote.all_ok
    src = source(fresh_sim, **cfg)
    # Export windows end at "now" (exclusive): wait for the write's second to pass.
    for _ in range(20):
        records = [r for r in src.read("users") if r.get("email") == "csv@example.com"]
        if records:
            break
        time.sleep(0.25)
    assert len(records) == 1 and records[0]["nick"] == "" and records[0]["gone"] is None
    path = source(fresh_sim, **cfg).read("users").to_csv(tmp_path / "users.csv")["users"]
    columns = _columns(src, "users")
    want = _render(records[0], columns)
    duckdb = pytest.importorskip("duckdb")
    types = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
    rows = duckdb.sql(
        f"SELECT * FROM read_csv('{path}', header=true, delim=',', quote='\"', escape='\"', "
        f"nullstr='', allow_quoted_nulls=false, auto_detect=false, columns={{{types}}}) "
        f"WHERE email = 'csv@example.com'"
    ).fetchall()
    assert rows == [want]
    got = dict(zip(columns, rows[0], strict=True))
    extra = json.loads(got.pop("_extra") or "{}")
    # "" stays a string, null stays null, the note survives its quotes and
    # newline (as a column, or inside _extra when the field is undeclared).
    values = {**extra, **got}
    assert values["nick"] == "" and got[empty] == ""
    assert values.get("gone", "absent") is None and got[null] is None
    assert values["note"] == note and got[text] == note
    assert {"nick", "gone", "note"} <= set(extra)
    raw = path.read_text(encoding="utf-8")
    assert '"say ""hi"", then\nnext line; done"' in raw
