"""The ``iterable`` Spark 4 Python Data Source on a real local Spark
(``local[2]``, tasks retried up to 3 times) against the simulator.

Spark starts once per session (about 10 s); every test compares what Spark
returns, or what the simulator holds afterwards, with ground truth.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    API_KEY,
    SIM_NOW,
    START,
    Sim,
    event_stream_names,
    natural_key,
    start_sim,
    stop_sim,
)

pyspark = pytest.importorskip("pyspark", reason="pip install pyspark (the [spark] extra)")

from pyspark.sql import DataFrame, SparkSession  # noqa: E402

from iterable_connector.spark import IterableDataSource, IterablePartition  # noqa: E402

EVENTS = event_stream_names()
FAST = "1000"  # the simulator's rate-limit clock and the connector's pacing, 1000x


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # Python workers must import this venv's iterable_connector.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2,3]")  # 2 cores; a task is tried up to 3 times
        .appName("iterable-connector-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.dataSource.register(IterableDataSource)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def limited_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sim, Path]]:
    """A simulator enforcing Iterable's rate limits, logging every request."""
    log = tmp_path_factory.mktemp("spark") / "requests.jsonl"
    s = start_sim("--api-key", API_KEY, "--rate-limits", "--time-scale", FAST, "--log", str(log))
    yield s, log
    stop_sim(s)


def read(spark: SparkSession, sim: Sim, stream: str, **options: str) -> DataFrame:
    r = (
        spark.read.format("iterable")
        .option("api_key", API_KEY)
        .option("base_url", sim.url)
        .option("stream", stream)
        .option("start_date", START)
        .option("end_date", SIM_NOW)
        .option("time_scale", FAST)
    )
    for k, v in options.items():
        r = r.option(k, v)
    return r.load()


def rows_of(df: DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in df.collect():
        d = row.asDict()
        for k, v in d.items():
            if hasattr(v, "isoformat"):
                d[k] = v.isoformat() + ("Z" if v.tzinfo is None else "")
        out.append(d)
    return out


def assert_matches_truth(sim: Sim, stream: str, rows: list[dict[str, Any]]) -> None:
    windowed = stream in EVENTS or stream == "users"
    truth = sim.truth(stream, *((START, SIM_NOW) if windowed else (None, None)))
    keys = [natural_key(stream, r, EVENTS) for r in rows]
    assert None not in keys, f"{stream}: a row without a natural key"
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    assert not dupes, f"{stream}: duplicated {dupes[:5]}"
    assert sorted(keys) == sorted(truth["keys"]), f"{stream}: rows differ from the ground truth"
    assert len(rows) == truth["count"]


def log_entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_export_stream_is_read_file_by_file_in_parallel_partitions(
    spark: SparkSession, limited_sim: tuple[Sim, Path]
) -> None:
    sim, log = limited_sim
    df = read(spark, sim, "email_send", max_partitions="4")
    assert df.schema["createdAt"].dataType.typeName() == "timestamp"
    assert df.schema["transactionalData"].dataType.typeName() == "string"  # JSON text
    assert df.rdd.getNumPartitions() == 4
    rows = rows_of(df)
    assert_matches_truth(sim, "email_send", rows)
    nested = [r["transactionalData"] for r in rows if r["transactionalData"]]
    assert nested and isinstance(json.loads(nested[0]), dict)

    entries = log_entries(log)
    paths = Counter(e["path"] for e in entries)
    # Async export jobs, files downloaded from pre-signed URLs; no data.json.
    assert paths["/api/export/start"] >= 1
    assert sum(n for p, n in paths.items() if p.startswith("/_files/")) > 1
    assert "/api/export/data.json" not in paths
    # Every file downloaded exactly once (one per unit, no task failed).
    downloads = Counter(e["path"] for e in entries if e["path"].startswith("/_files/"))
    assert set(downloads.values()) == {1}
    # The project's rate limits were never exceeded.
    assert all(e["status"] != 429 for e in entries), [e for e in entries if e["status"] == 429]


@pytest.mark.parametrize(
    "stream", ["users", "campaigns", "lists", "list_users", "catalog_items", "templates"]
)
def test_other_streams_read_through_spark(
    spark: SparkSession, limited_sim: tuple[Sim, Path], stream: str
) -> None:
    sim, log = limited_sim
    rows = rows_of(read(spark, sim, stream))
    assert_matches_truth(sim, stream, rows)
    assert all(e["status"] != 429 for e in log_entries(log))


def test_a_failed_download_task_is_retried_by_spark_and_the_result_is_exact(
    spark: SparkSession, tmp_path: Path
) -> None:
    log = tmp_path / "requests.jsonl"
    # The first download fails with 500; max_retries=0 keeps the connector
    # from retrying it itself, so the Spark task fails and Spark retries it.
    sim = start_sim("--api-key", API_KEY, "--fail-downloads", "1", "--log", str(log))
    try:
        rows = rows_of(read(spark, sim, "email_send", max_partitions="3", max_retries="0"))
        assert_matches_truth(sim, "email_send", rows)
    finally:
        stop_sim(sim)
    downloads = [e for e in log_entries(log) if e["path"].startswith("/_files/")]
    assert [e["status"] for e in downloads].count(500) == 1
    # The failed file was downloaded again (by the retried task).
    failed = next(e["path"] for e in downloads if e["status"] == 500)
    assert [e["status"] for e in downloads if e["path"] == failed] == [500, 200]


def test_pushed_down_created_at_range_narrows_the_export_window(
    spark: SparkSession, limited_sim: tuple[Sim, Path]
) -> None:
    sim, _ = limited_sim
    lo, hi = "2025-03-10T00:00:00Z", "2025-03-13T00:00:00Z"  # tiny: 7 days of data
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    try:
        df = read(spark, sim, "email_send", pushdown="true").where(
            f"createdAt >= timestamp'{lo[:-1]}' AND createdAt < timestamp'{hi[:-1]}'"
        )
        rows = rows_of(df)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            df.explain()
    finally:
        spark.conf.set("spark.sql.python.filterPushdown.enabled", "false")
    truth = sim.truth("email_send", lo, hi)
    assert sorted(natural_key("email_send", r, EVENTS) for r in rows) == sorted(truth["keys"])
    assert 0 < len(rows) < sim.truth("email_send", START, SIM_NOW)["count"]
    # Both bounds were pushed (exact): Spark evaluates no range of its own.
    filters = [line for line in buf.getvalue().splitlines() if "Filter" in line]
    assert all(">=" not in f and "<" not in f for f in filters), filters


def test_the_key_is_never_shown(spark: SparkSession, limited_sim: tuple[Sim, Path]) -> None:
    sim, _ = limited_sim
    df = read(spark, sim, "email_send", max_partitions="2")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        df.explain(True)
    assert API_KEY not in buf.getvalue()
    # Planned partitions: file names in the repr, never the key nor the URLs.
    opts = {
        "api_key": API_KEY,
        "base_url": sim.url,
        "stream": "email_send",
        "start_date": START,
        "end_date": SIM_NOW,
        "time_scale": FAST,
    }
    source = IterableDataSource(opts)
    reader = source.reader(source.schema())
    parts = reader.partitions()
    assert len(parts) > 1
    for p in parts:
        assert isinstance(p, IterablePartition)
        assert API_KEY not in repr(p) and "http" not in repr(p)
        assert all(API_KEY not in u for u in p.units)
    assert API_KEY not in repr(reader.__dict__)
    # A failing read names the problem, not the key.
    with pytest.raises(Exception) as info:
        read(spark, sim, "email_send", base_url="http://127.0.0.1:9").collect()
    assert API_KEY not in str(info.value)


def test_bad_options_name_the_option(spark: SparkSession, limited_sim: tuple[Sim, Path]) -> None:
    sim, _ = limited_sim
    with pytest.raises(Exception, match="option 'stream': unknown stream 'nope'"):
        read(spark, sim, "nope").schema  # noqa: B018 - resolving the schema raises
    with pytest.raises(Exception, match="option 'max_partitions'"):
        read(spark, sim, "email_send", max_partitions="zero").collect()
    with pytest.raises(Exception, match="option 'start_date'"):
        read(spark, sim, "email_send", start_date="yesterday-ish")
    with pytest.raises(Exception, match="option 'timeout': must be a positive number"):
        read(spark, sim, "email_send", timeout="soon")
    no_key = spark.read.format("iterable").option("stream", "channels")
    with pytest.raises(Exception, match="option 'api_key': is missing"):
        no_key.load()


def get(sim: Sim, path: str) -> Any:
    req = urllib.request.Request(sim.url + path, headers={"Api-Key": API_KEY})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_the_key_can_come_from_a_mounted_secret_file(
    spark: SparkSession, limited_sim: tuple[Sim, Path], tmp_path: Path
) -> None:
    sim, _ = limited_sim
    secret = tmp_path / "iterable-api-key"
    secret.write_text(API_KEY + "\n")  # as Kubernetes and Docker mount secrets
    r = (
        spark.read.format("iterable")
        .option("api_key_file", str(secret))
        .option("base_url", sim.url)
        .option("stream", "email_send")
        .option("start_date", START)
        .option("end_date", SIM_NOW)
        .option("time_scale", FAST)
        .option("max_partitions", "2")
    )
    df = r.load()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        df.explain(True)
    assert API_KEY not in buf.getvalue()
    assert_matches_truth(sim, "email_send", rows_of(df))
    # A path that cannot be read, an empty file, or two sources of the key.
    with pytest.raises(Exception, match="option 'api_key_file': cannot read"):
        r.option("api_key_file", str(tmp_path / "missing")).load()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(Exception, match=r"option 'api_key_file': .* is empty"):
        r.option("api_key_file", str(tmp_path / "empty")).load()
    with pytest.raises(Exception, match="'api_key' and 'api_key_file' are both set"):
        r.option("api_key", API_KEY).load()


def test_dataframe_writes_land_with_per_row_outcomes(spark: SparkSession, tmp_path: Path) -> None:
    sim = start_sim("--api-key", API_KEY, now=None)
    try:
        users = spark.createDataFrame(
            [
                ("ann@example.com", "Ann", "pro"),
                ("bob@example.com", "Bob", None),
                ("not-an-email", "Nobody", "free"),
                ("cy@example.com", None, "free"),
            ],
            "email string, firstName string, plan string",
        ).repartition(2)
        failures = tmp_path / "failures.jsonl"
        (
            users.write.format("iterable")
            .option("api_key", API_KEY)
            .option("base_url", sim.url)
            .option("object", "users")
            .option("op", "upsert")
            .option("failures_path", str(failures))
            .mode("append")
            .save()
        )
        problems = [json.loads(line) for line in failures.read_text().splitlines()]
        assert len(problems) == 1, problems
        assert problems[0]["status"] == "failed" and problems[0]["field"] == "email"
        ann = get(sim, "/api/users/ann@example.com")["user"]["dataFields"]
        assert ann["firstName"] == "Ann" and ann["plan"] == "pro"
        bob = get(sim, "/api/users/bob@example.com")["user"]["dataFields"]
        assert bob["firstName"] == "Bob" and "plan" not in bob  # a null leaves it out
        assert get(sim, "/api/users/cy@example.com")["user"]["dataFields"]["plan"] == "free"

        # Catalog items; without failures_path a bad row fails the job at
        # commit, after every other row was written.
        opts = {"api_key": API_KEY, "base_url": sim.url}
        spark.createDataFrame([("shoes",)], "name string").write.format("iterable").options(
            **opts, object="catalogs", op="insert"
        ).mode("append").save()
        items = spark.createDataFrame(
            [(f"sku-{i}", f"Shoe {i}", float(i)) for i in range(20)] + [("bad id!", "x", 1.0)],
            "itemId string, name string, price double",
        ).repartition(3)
        with pytest.raises(Exception, match=r"1 of 21 rows did not end ok.*itemId") as info:
            items.write.format("iterable").options(
                **opts, object="catalog_items", op="upsert", catalog="shoes"
            ).mode("append").save()
        assert API_KEY not in str(info.value)
        for i in (0, 7, 19):
            got = get(sim, f"/api/catalogs/shoes/items/sku-{i}")
            value = got.get("params", {}).get("value", got.get("value"))
            assert value == {"name": f"Shoe {i}", "price": float(i)}
        applied = get(sim, "/_sim/applied")["applied"]
        # Each good item applied exactly once; the bad one never.
        items_applied = applied["catalog_item.upsert"]
        assert sorted(items_applied) == sorted(f"shoes/sku-{i}" for i in range(20))
        assert set(items_applied.values()) == {1}
        users_applied = applied["user.update"]
        assert sorted(users_applied) == ["ann@example.com", "bob@example.com", "cy@example.com"]
    finally:
        stop_sim(sim)


def test_streaming_reads_go_on_from_the_checkpointed_state(
    spark: SparkSession, limited_sim: tuple[Sim, Path], tmp_path: Path
) -> None:
    """Incremental ingestion: a second run of the same query (same
    checkpoint) reads only what the first did not, and together they are
    exactly the ground truth."""
    sim, log = limited_sim
    checkpoint = str(tmp_path / "checkpoint")
    out = str(tmp_path / "out")  # a file sink: it recovers from its checkpoint
    middle = "2025-03-12T00:00:00Z"

    def run(end_date: str) -> list[dict[str, Any]]:
        stream = (
            spark.readStream.format("iterable")
            .option("api_key", API_KEY)
            .option("base_url", sim.url)
            .option("stream", "email_send")
            .option("start_date", START)
            .option("end_date", end_date)
            .option("time_scale", FAST)
            .option("max_partitions", "3")
            .load()
        )
        query = (
            stream.writeStream.format("parquet")
            .option("path", out)
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination(120)
        assert query.exception() is None, query.exception()
        return rows_of(spark.read.parquet(out))

    first = run(middle)
    assert sorted(natural_key("email_send", r, EVENTS) for r in first) == sorted(
        sim.truth("email_send", START, middle)["keys"]
    )
    both = run(SIM_NOW)
    assert len(both) > len(first), "the second run reads the rows after the first one's end"
    assert_matches_truth(sim, "email_send", both)
    assert all(e["status"] != 429 for e in log_entries(log))


def test_streaming_a_stream_that_is_not_an_export_is_refused(
    spark: SparkSession, limited_sim: tuple[Sim, Path], tmp_path: Path
) -> None:
    sim, _ = limited_sim
    stream = (
        spark.readStream.format("iterable")
        .option("api_key", API_KEY)
        .option("base_url", sim.url)
        .option("stream", "channels")
        .load()
    )
    query = (
        stream.writeStream.format("memory")
        .queryName("channels_stream")
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(availableNow=True)
        .start()
    )
    with pytest.raises(Exception, match="not an export stream"):
        query.awaitTermination(60)


def test_write_tasks_share_the_projects_rate_budget(spark: SparkSession, tmp_path: Path) -> None:
    """Two tasks write at once on users/bulkUpdate (5 requests/s, real time):
    with budget_split=2 each keeps to half of it and the simulator, which
    enforces the limit, never answers 429."""
    log = tmp_path / "requests.jsonl"
    sim = start_sim("--api-key", API_KEY, "--rate-limits", "--log", str(log), now=None)
    try:
        users = spark.createDataFrame(
            [(f"u{i}@example.com", i) for i in range(16)], "email string, n long"
        ).repartition(2)
        (
            users.write.format("iterable")
            .option("api_key", API_KEY)
            .option("base_url", sim.url)
            .option("object", "users")
            .option("op", "upsert")
            .option("bulk", "true")
            .option("batch_size", "1")
            .option("budget_split", "2")
            .mode("append")
            .save()
        )
        applied = get(sim, "/_sim/applied")["applied"]["user.update"]
        assert sorted(applied) == sorted(f"u{i}@example.com" for i in range(16))
    finally:
        stop_sim(sim)
    bulk = [e for e in log_entries(log) if e["path"] == "/api/users/bulkUpdate"]
    assert len(bulk) == 16
    assert all(e["status"] == 200 for e in bulk), Counter(e["status"] for e in bulk)


def test_a_batch_read_from_a_saved_state_reads_only_what_came_after(
    spark: SparkSession, limited_sim: tuple[Sim, Path]
) -> None:
    sim, _ = limited_sim
    middle = "2025-03-12T00:00:00Z"
    state = {"email_send": {"v": 1, "next_start": middle}}
    rows = rows_of(read(spark, sim, "email_send", state=json.dumps(state)))
    truth = sim.truth("email_send", middle, SIM_NOW)
    assert sorted(natural_key("email_send", r, EVENTS) for r in rows) == sorted(truth["keys"])
    assert 0 < len(rows) < sim.truth("email_send", START, SIM_NOW)["count"]
    with pytest.raises(Exception, match="option 'state': must be a JSON object"):
        read(spark, sim, "email_send", state="[1, 2]").collect()


def test_a_pushed_down_email_reads_a_by_key_stream(
    spark: SparkSession, limited_sim: tuple[Sim, Path]
) -> None:
    """`email = x` on a stream that needs a user filter becomes its `email`
    setting; Spark returns what the single-process read returns."""
    from conftest import source

    sim, _ = limited_sim
    email = sorted(sim.truth("users", START, SIM_NOW)["keys"])[0]
    expected = list(source(sim, email=email, time_scale=1000).read("user_events"))
    assert expected, "the user has events"
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    try:
        rows = rows_of(read(spark, sim, "user_events", pushdown="true").where(f"email = '{email}'"))
    finally:
        spark.conf.set("spark.sql.python.filterPushdown.enabled", "false")
    assert sorted(r["_key"] for r in rows) == sorted(r["_key"] for r in expected)
    assert {r["email"] for r in rows} == {email}


def test_an_expired_download_url_is_refreshed_by_the_worker(tmp_path: Path) -> None:
    """Executor code path, in process: the URLs planned on the driver expire
    before the partitions are read; each unit lists its job's files once for
    a fresh URL and the rows are still exactly the ground truth."""
    import time

    log = tmp_path / "requests.jsonl"
    sim = start_sim("--api-key", API_KEY, "--url-ttl", "1", "--log", str(log))
    try:
        opts = {
            "api_key": API_KEY,
            "base_url": sim.url,
            "stream": "email_send",
            "start_date": START,
            "end_date": SIM_NOW,
            "time_scale": FAST,
            "max_partitions": "2",
        }
        source = IterableDataSource(opts)
        reader = source.reader(source.schema())
        parts = reader.partitions()
        time.sleep(2.5)  # every URL is now past its 1 s life
        rows: list[dict[str, Any]] = []
        for p in parts:
            for batch in reader.read(p):
                rows.extend(batch.to_pylist())
    finally:
        stop_sim(sim)
    for r in rows:
        r["createdAt"] = r["createdAt"].isoformat()
    assert_matches_truth(sim, "email_send", rows)
    entries = log_entries(log)
    downloads = [e for e in entries if e["path"].startswith("/_files/")]
    files = {e["path"] for e in downloads}
    assert sorted(e["status"] for e in downloads) == [200] * len(files) + [403] * len(files)
    listings = [e for e in entries if e["path"].endswith("/files")]
    assert len(listings) >= len(files)  # the driver's, plus one refresh per file


def _plain_streams() -> list[str]:
    from iterable_connector import _native

    cfg = json.dumps({"base_url": "http://127.0.0.1:1"})
    return [d["name"] for d in _native.discover(cfg) if not d["requires_user_filter"]]


def test_every_stream_plans_and_reads_through_the_data_source(
    limited_sim: tuple[Sim, Path],
) -> None:
    """Every stream without a user filter, through the data source's own
    planning and executor code (in process: a Spark job per stream would take
    minutes), cast to its Spark schema, matches the ground truth."""
    sim, log = limited_sim
    checked = 0
    for stream in _plain_streams():
        windowed = stream in EVENTS or stream == "users"
        try:
            sim.truth(stream, *((START, SIM_NOW) if windowed else (None, None)))
        except LookupError:
            continue  # the simulator has no ground truth for it
        opts = {
            "api_key": API_KEY,
            "base_url": sim.url,
            "stream": stream,
            "start_date": START,
            "end_date": SIM_NOW,
            "time_scale": FAST,
            "max_partitions": "3",
        }
        source = IterableDataSource(opts)
        schema = source.schema()
        reader = source.reader(schema)
        rows: list[dict[str, Any]] = []
        for p in reader.partitions():
            for batch in reader.read(p):
                assert batch.schema.names == schema.names, stream
                rows.extend(batch.to_pylist())
        for r in rows:
            r.update(json.loads(r.pop("_extra") or "{}"))
            for k, v in r.items():
                if hasattr(v, "isoformat"):
                    r[k] = v.isoformat()
                elif isinstance(v, str) and v[:1] in "{[":
                    # Nested values arrive as JSON text; natural keys may look inside.
                    with contextlib.suppress(ValueError):
                        r[k] = json.loads(v)
        assert_matches_truth(sim, stream, rows)
        checked += 1
    assert checked >= 60, checked
    assert all(e["status"] != 429 for e in log_entries(log))


def test_partitions_carry_their_share_of_the_rate_budget() -> None:
    """#11: units that spend rate budget carry their share of it: with N
    partitions able to run at once, each paces itself to 1/N of every limit
    (a stream unit's reads, an expired URL's refresh listing)."""
    from iterable_connector import spark as sp

    units = [json.dumps({"stream": f"s{i}"}) for i in range(5)]
    parts = sp._partitions(units, 3)
    assert [len(p.units) for p in parts] == [2, 2, 1]
    assert all(p.share == 3 for p in parts)
    settings = sp._settings({"api_key": API_KEY, "stream": "lists"}, {"stream"})
    assert json.loads(sp._unit_config(settings, 3))["budget_split"] == 3
    assert json.loads(sp._unit_config(settings, 1))["budget_split"] == 1
    wider = sp._settings({"api_key": API_KEY, "stream": "lists", "budget_split": "8"}, {"stream"})
    assert json.loads(sp._unit_config(wider, 3))["budget_split"] == 8
    assert API_KEY not in repr(parts[0])
