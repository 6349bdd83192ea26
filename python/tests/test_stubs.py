"""The hand-written `_native.pyi` matches the compiled module."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Sim, source

from iterable_connector import _native

STUB = Path(_native.__file__).with_name("_native.pyi")


def _stub_tree() -> ast.Module:
    assert STUB.exists(), f"{STUB} is not installed next to the extension"
    return ast.parse(STUB.read_text())


def _params(node: ast.FunctionDef) -> list[str]:
    a = node.args
    return [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs] if p.arg not in ("self", "cls")]


def test_names_match() -> None:
    tree = _stub_tree()
    stub_names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)} | {
        t.id
        for n in tree.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
        for t in [n.target]
        if not t.id.startswith("_") or t.id == "__version__"
    }
    module_names = {n for n in dir(_native) if not n.startswith("__") or n == "__version__"}
    assert stub_names == module_names


def test_signatures_match() -> None:
    tree = _stub_tree()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            sig = inspect.signature(getattr(_native, node.name))
            assert _params(node) == list(sig.parameters), node.name
        elif isinstance(node, ast.ClassDef):
            cls = getattr(_native, node.name)
            members = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
            runtime = {
                n
                for n, v in vars(cls).items()
                if not n.startswith("_") or n in members or n == "__arrow_c_stream__"
            }
            public_stub = {n for n in members if n != "__new__"}
            missing = {n for n in runtime if not n.startswith("__")} - public_stub
            assert not missing, (node.name, missing)
            for name, fn in members.items():
                attr = "__init__" if name == "__new__" else name
                if name == "__new__":
                    sig = inspect.signature(cls)
                    assert _params(fn) == list(sig.parameters), (node.name, name)
                    continue
                assert hasattr(cls, attr), (node.name, name)
                obj = getattr(cls, attr)
                if isinstance(obj, property) or type(obj).__name__ == "getset_descriptor":
                    continue
                try:
                    sig = inspect.signature(obj)
                except (TypeError, ValueError):
                    continue
                runtime_params = [p for p in sig.parameters if p not in ("self", "cls")]
                assert _params(fn) == runtime_params, (node.name, name)


def test_stubtest(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    env = {**os.environ, "MYPYPATH": ""}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "iterable_connector._native",
            "--ignore-missing-stub",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr


# -- boundaries: what the core can say reaches Python ------------------------

PROTOCOL = ["Request", "Fetch", "Emit", "Commit", "Sleep", "Await", "Log", "Done", "StreamSummary"]


def _stub_properties(class_name: str) -> set[str]:
    for node in _stub_tree().body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {
                n.name
                for n in node.body
                if isinstance(n, ast.FunctionDef)
                and any(isinstance(d, ast.Name) and d.id == "property" for d in n.decorator_list)
            }
    raise AssertionError(f"{class_name} is not in the stub")


def test_every_core_error_kind_has_an_exported_exception() -> None:
    import iterable_connector
    from iterable_connector import errors

    kinds = _native.error_kinds()
    assert len({k for k, _ in kinds}) == len(kinds) >= 8
    for kind, class_name in kinds:
        cls = getattr(errors, class_name, None)
        assert cls is not None, f"core kind {kind!r} maps to {class_name}, missing in errors.py"
        assert issubclass(cls, errors.IterableConnectorError), class_name
        assert class_name in iterable_connector.__all__, class_name


def test_protocol_objects_are_frozen_and_slotted(sim: Sim) -> None:
    session = _native.Session(source(sim)._config_json, [("channels", False)])
    action = session.poll(int(time.time() * 1000))
    assert isinstance(action, _native.Fetch)
    req = action.request
    assert isinstance(req, _native.Request)
    assert (req.method, req.needs_auth, req.stream) == ("GET", True, "channels")
    assert req.url.startswith(sim.url) and req.body is None
    for obj, attr in ((action, "request"), (req, "url"), (req, "id")):
        with pytest.raises(AttributeError):
            setattr(obj, attr, None)
        assert not hasattr(obj, "__dict__")
    # The planned request never carries the key: the host adds it.
    assert all(k.lower() != "api-key" for k, _ in req.headers)
    assert source(sim)._key.reveal() not in repr(req)


def test_summary_fields_match_the_stub(sim: Sim) -> None:
    src = source(sim)
    reader = src.read("channels")
    rows = list(reader.read_records())
    assert rows
    summary = reader.summary
    assert summary is not None and len(summary) == 1
    assert set(summary[0]) == _stub_properties("StreamSummary")
    assert summary[0]["records"] == len(rows)
    for name in PROTOCOL:
        assert isinstance(getattr(_native, name), type), name


WRITE_PROTOCOL = [
    "WriteSession",
    "NeedRows",
    "Results",
    "WriteCommit",
    "WriteDone",
    "RowResult",
    "WriteSummary",
]


def test_write_results_and_summary_match_the_stub(fresh_sim: Sim) -> None:
    src = source(fresh_sim)
    result = src.write(
        "events", [{"eventName": "stub", "email": "stub@example.com"}, {"email": "x@y.io"}]
    )
    assert [r.status for r in result.rows] == ["ok", "failed"]
    for r in result.rows:
        assert set(r.as_dict()) == _stub_properties("RowResult")
    summary = result.summary
    assert summary is not None
    assert set(summary) == _stub_properties("WriteSummary")
    assert (summary["rows"], summary["ok"], summary["failed"]) == (2, 1, 1)
    for name in WRITE_PROTOCOL:
        cls = getattr(_native, name)
        assert isinstance(cls, type), name
        with pytest.raises(TypeError):
            type("Sub", (cls,), {})  # final, as the stub says


SYNC_PROTOCOL = ["SyncSession", "NeedLocal", "ApplyLocal", "SyncCommit", "SyncDone", "SyncSummary"]


def test_sync_summary_matches_the_stub(fresh_sim: Sim) -> None:
    import sqlite3

    src = source(fresh_sim)
    assert src.write("catalogs", [{"name": "stubsync"}])
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)")
    con.execute("INSERT INTO t VALUES ('a', 1)")
    con.commit()
    result = src.sync("catalog_items", catalog="stubsync", con=con, table="t", key="k")
    summary = result.summary
    assert set(summary) == _stub_properties("SyncSummary")
    assert (summary["remote_upserts"], summary["planned_remote"]) == (
        1,
        [{"op": "upsert", "key": "a", "content": {"n": 1}}],
    )
    for name in SYNC_PROTOCOL:
        cls = getattr(_native, name)
        assert isinstance(cls, type), name
        with pytest.raises(TypeError):
            type("Sub", (cls,), {})  # final, as the stub says
