"""to_arrow / to_pandas / to_polars agree with the dicts, row for row, typed by the schema."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Sim, source

from iterable_connector import IterableSource, _native

pa = pytest.importorskip("pyarrow")

STREAMS = [
    "email_send",
    "email_click",
    "users",
    "campaigns",
    "templates",
    "lists",
    "list_users",
    "campaigns_metrics",
    "webhooks",
    "snippets",
]


def _kind(prop: dict[str, Any]) -> str:
    t = prop.get("type")
    types = [t] if isinstance(t, str) else list(t or [])
    types = [x for x in types if x != "null"]
    if types == ["string"] and prop.get("format") == "date-time":
        return "timestamp"
    if len(types) == 1 and types[0] in ("string", "integer", "number", "boolean"):
        return types[0]
    return "json"


EXPECTED_TYPE = {
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "json": pa.string(),
}


def _parse_ts(s: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(dt.UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def expected_cell(kind: str, v: Any) -> Any:
    """What the Arrow column should hold for the dict value `v`."""
    if v is None:
        return None
    if kind == "timestamp":
        return _parse_ts(v)
    if kind == "json":
        return v  # compared after json.loads
    if kind == "number":
        return float(v)
    return v


def _key(stream_pk: list[str], row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row.get(k)) for k in stream_pk)


@pytest.fixture(scope="module", params=STREAMS)
def both(request: pytest.FixtureRequest, sim: Sim) -> tuple[Any, list[dict[str, Any]], Any]:
    stream = request.param
    src = source(sim)
    info = src.stream(stream)
    dicts = list(src.read(stream))
    table = source(sim).read(stream).to_arrow()
    return info, dicts, table


def test_arrow_matches_dicts(both: Any) -> None:
    info, dicts, table = both
    props = info.json_schema["properties"]
    assert table.num_rows == len(dicts)
    # One column per schema property, then one per field seen outside the schema.
    assert table.column_names[: len(props)] == list(props)
    extra = table.column_names[len(props) :]
    assert set(extra) == {
        k for d in dicts for k, v in d.items() if k not in props and v is not None
    }
    for name, prop in props.items():
        assert table.schema.field(name).type == EXPECTED_TYPE[_kind(prop)], name
    rows = table.to_pylist()
    pk = info.primary_key
    by_key = {_key(pk, d): d for d in dicts}
    assert len(by_key) == len(dicts)
    for row in rows:
        d = by_key[_key(pk, row)]
        for name, prop in props.items():
            kind = _kind(prop)
            want = expected_cell(kind, d.get(name))
            got = row[name]
            if kind == "json" and got is not None:
                got = json.loads(got)
            assert got == want, (info.name, name, d.get(name), row[name])
        for name in extra:
            v, got = d.get(name), row[name]
            t = table.schema.field(name).type
            if v is None:
                assert got is None, (info.name, name)
            elif t == pa.float64():
                assert got == float(v), (info.name, name)
            elif t == pa.bool_() or isinstance(v, str):
                assert got == v, (info.name, name)
            else:
                assert json.loads(got) == v, (info.name, name)


def test_pandas_matches_arrow(both: Any) -> None:
    pytest.importorskip("pandas")
    info, _dicts, table = both
    df = table.to_pandas()
    assert len(df) == table.num_rows
    for name, prop in info.json_schema["properties"].items():
        if _kind(prop) == "timestamp":
            assert str(df[name].dtype) == "datetime64[ms, UTC]"
    arrow_rows = table.to_pylist()
    for i, rec in enumerate(df.to_dict("records")):
        for name, got in rec.items():
            want = arrow_rows[i][name]
            if want is None:
                assert (
                    got is None
                    or (isinstance(got, float) and math.isnan(got))
                    or str(got)
                    in (
                        "NaT",
                        "<NA>",
                    )
                ), (name, got)
            elif isinstance(want, dt.datetime):
                assert got.to_pydatetime() == want
            else:
                assert got == want, (name, got, want)


def test_reader_to_pandas_and_polars(sim: Sim) -> None:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    table = source(sim).read("email_open").to_arrow()
    df = source(sim).read("email_open").to_pandas()
    pdf = source(sim).read("email_open").to_polars()
    assert isinstance(df, pd.DataFrame) and isinstance(pdf, pl.DataFrame)
    assert len(df) == len(pdf) == table.num_rows > 0
    assert pdf.schema["createdAt"] == pl.Datetime("ms", "UTC")
    assert pdf.schema["campaignId"] == pl.Int64
    assert pdf.to_dicts() == table.to_pylist()
    assert df["createdAt"].tolist() == [
        pd.Timestamp(t) for t in table.column("createdAt").to_pylist()
    ]


def test_capsules_without_pyarrow_helpers(sim: Sim) -> None:
    """The native table speaks the PyCapsule interface itself (stream and batch)."""
    reader = source(sim).read(["email_send", "campaigns"])
    tables = reader.arrow()
    t = tables["email_send"]
    via_stream = pa.RecordBatchReader.from_stream(t).read_all()
    assert via_stream.num_rows == t.num_rows == reader.counts["email_send"]
    assert pa.schema(t) == via_stream.schema
    batches = list(source(sim).read("campaigns").iter_arrow_batches())
    assert sum(b.num_rows for _, b in batches) == tables["campaigns"].num_rows
    with pytest.raises(ValueError, match="pass stream="):
        reader.to_arrow()
    assert reader.to_arrow("campaigns").num_rows == tables["campaigns"].num_rows


def test_empty_stream_has_the_schema(sim: Sim) -> None:
    src = source(sim, start_date="2020-01-01T00:00:00Z", end_date="2020-01-02T00:00:00Z")
    table = src.read("email_send").to_arrow()
    assert table.num_rows == 0
    assert table.schema.field("createdAt").type == pa.timestamp("ms", tz="UTC")


class _TextIds(http.server.BaseHTTPRequestHandler):
    """Iterable answering `lists/` with one id as text (#14.5): a value the
    schema check reports and every output must keep."""

    def do_GET(self) -> None:
        body = json.dumps(
            {"lists": [{"id": 1, "name": "one"}, {"id": "six", "name": "text id"}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def text_ids_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TextIds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_value_contradicting_its_column_is_kept_as_text(text_ids_url: str) -> None:
    src = IterableSource(api_key="k", base_url=text_ids_url)
    # Dicts keep the value as Iterable sent it.
    assert [r["id"] for r in src.read("lists")] == [1, "six"]
    # Arrow: the int64 column holds a null, the value goes to `_rejected`.
    table = src.read("lists").to_arrow()
    assert table.schema.field("id").type == pa.int64()
    assert table.column("id").to_pylist() == [1, None]
    assert table.column("_rejected").to_pylist() == [None, '{"id":"six"}']
    # With an extra column (Spark's fixed schema) it joins the extra fields.
    schema = json.dumps(src.stream("lists").json_schema)
    builder = _native.ArrowBuilder(schema, "_extra")
    for batch in src.read("lists").iter_batches():
        builder.append(batch)
    got = pa.table(builder.finish())
    assert got.column("id").to_pylist() == [1, None]
    assert [json.loads(x) if x else x for x in got.column("_extra").to_pylist()] == [
        None,
        {"id": "six"},
    ]
