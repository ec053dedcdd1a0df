"""The type stubs (`qkdsim/_qkdsim.pyi`) describe the extension as it is: every function
and method in the stub exists with the same parameters, and every public name of the
extension has a stub. The package's public functions are typed and documented."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import qkdsim
from qkdsim import _qkdsim

STUB = Path(qkdsim.__file__).with_name("_qkdsim.pyi")


def _params(fn: ast.FunctionDef) -> list:
    a = fn.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    return [n for n in names if n not in ("self", "cls")]


def _runtime_params(obj) -> list:
    return [p for p in inspect.signature(obj).parameters if p not in ("self", "cls", "$self", "$cls")]


def test_stub_file_ships_with_the_package():
    assert STUB.exists()
    assert Path(qkdsim.__file__).with_name("py.typed").exists()


def test_stubs_match_the_extension():
    tree = ast.parse(STUB.read_text())
    stubbed = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            stubbed.add(node.name)
            assert _runtime_params(getattr(_qkdsim, node.name)) == _params(node), node.name
        elif isinstance(node, ast.ClassDef):
            stubbed.add(node.name)
            cls = getattr(_qkdsim, node.name)
            for item in node.body:
                if not isinstance(item, ast.FunctionDef):
                    continue
                member = getattr(cls, item.name)
                if isinstance(member, property) or type(member).__name__ == "getset_descriptor":
                    continue
                if item.name.startswith("__"):
                    continue
                assert _runtime_params(member) == _params(item), f"{node.name}.{item.name}"
            public = {n for n in dir(cls) if not n.startswith("_")}
            in_stub = {i.name for i in node.body if isinstance(i, ast.FunctionDef)}
            assert public <= in_stub, public - in_stub
        elif isinstance(node, (ast.AnnAssign,)) and isinstance(node.target, ast.Name):
            stubbed.add(node.target.id)
    public = {n for n in dir(_qkdsim) if not n.startswith("_")} | {"__version__"}
    assert public <= stubbed, public - stubbed


def test_public_functions_are_typed_and_documented():
    for name in qkdsim.__all__:
        obj = getattr(qkdsim, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), name
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            assert sig.return_annotation is not inspect.Signature.empty, name
            for p in sig.parameters.values():
                assert p.annotation is not inspect.Parameter.empty, f"{name}({p.name})"
