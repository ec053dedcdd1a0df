"""The example notebook runs from top to bottom with the installed package, and draws its
two charts: it cannot rot unnoticed.

Set QKDSIM_NOTEBOOK_OUT to a path to keep the executed notebook (with its charts)."""

from __future__ import annotations

import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_example_notebook_runs(repo, monkeypatch):
    # The kernel inherits the environment: a non-interactive MPLBACKEND (Agg) would
    # replace the notebook's inline backend and leave the charts out of the outputs.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    path = repo / "examples" / "distance_and_block_size.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2, f"{len(images)} charts"
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    # The error example, the final keys' agreement and the run summary are printed.
    assert "link.misalignment 0.7 in [0, 0.5]" in text
    assert "equal: True" in text
    out = os.environ.get("QKDSIM_NOTEBOOK_OUT")
    if out:
        nbformat.write(nb, out)
