"""Shared fixtures: the repository, the command-line binary to compare with, and the
comparison of documents outside their wall-clock ``timings``.

The binary is ``$QKDSIM_BIN`` if set, else ``target/debug/qkdsim`` or
``target/release/qkdsim`` of this checkout (whichever is newer); ``cargo build`` makes one.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, List

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"


def _binary() -> Path:
    env = os.environ.get("QKDSIM_BIN")
    if env:
        return Path(env)
    found = [REPO / "target" / p / "qkdsim" for p in ("debug", "release")]
    found = [p for p in found if p.exists()]
    if not found:
        pytest.fail(
            "no qkdsim binary to compare with: run `cargo build` in the repository or set "
            "QKDSIM_BIN",
            pytrace=False,
        )
    return max(found, key=lambda p: p.stat().st_mtime)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


class Cli:
    """Runs the qkdsim binary."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def run(self, *args: Any, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(
            [str(self.binary), *map(str, args)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=600,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"qkdsim {' '.join(map(str, args))} failed: {p.stderr}")
        return p

    def json(self, *args: Any) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def error(self, *args: Any) -> str:
        """The one-paragraph error of a failing command, without ``error: ``."""
        p = self.run(*args, check=False)
        assert p.returncode == 2, (p.returncode, p.stderr)
        err = p.stderr.strip()
        assert err.startswith("error: "), err
        return err[len("error: ") :]


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli(_binary())


def without_timings(doc: Any, extra: List[str] = ()) -> Any:
    """The document with every ``timings`` object (and the top-level ``extra`` keys)
    removed: the wall-clock figures, the only ones allowed to differ between runs."""
    if isinstance(doc, dict):
        return {
            k: without_timings(v)
            for k, v in doc.items()
            if k != "timings" and k not in extra
        }
    if isinstance(doc, list):
        return [without_timings(v) for v in doc]
    return doc
