"""The hand-written `_native.pyi` matches the compiled module."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
