"""qkdsim.run: the document equals `qkdsim run --json` for the same scenario and seed
(outside `timings`), the kept keys are numpy arrays that agree with `--keys-out`, results
do not depend on the thread count, and bad arguments are ValueError/TypeError."""

from __future__ import annotations

import numpy as np
import pytest

import qkdsim
from conftest import without_timings


@pytest.fixture(scope="module")
def lab(data):
    return qkdsim.Scenario.from_file(data / "lab.toml")


@pytest.mark.parametrize(
    "engine, pulses, seed",
    [("event", 100_000_000, 11), ("pulse", 4_000_000, 12), ("auto", None, None)],
)
def test_run_equals_the_command_line_document(cli, data, lab, engine, pulses, seed):
    args = ["run", data / "lab.toml", "--engine", engine, "--threads", 2]
    if pulses is not None:
        args += ["--pulses", pulses]
    if seed is not None:
        args += ["--seed", seed]
    expected = cli.json(*args)
    r = qkdsim.run(lab, pulses=pulses, seed=seed, engine=engine, threads=2)
    got = r.to_dict()
    assert without_timings(got) == without_timings(expected)
    assert got["timings"].keys() == expected["timings"].keys()
    assert r.to_dict() is not r.to_dict()  # fresh copies
    # The convenience accessors read the same document.
    assert r.secret_bits == got["secret_bits"]
    assert r.qber_z == got["qber_z"] and r.qber_x == got["qber_x"]
    assert r.pulses_sent == got["pulses_sent"]
    assert r.secret_key_rate_bps == got["secret_key_rate_bps"]
    assert r.secret_bits_per_pulse == got["secret_bits_per_pulse"]
    assert r.final_keys_match is True and r.aborted == got["aborted"]
    assert r.security_warnings == got["security_warnings"]
    assert r["engine"] == got["engine"] and "per_block" in r and "per_block" in r.keys()
    assert r.alice_key is None and r.bob_key is None
    assert "RunResult(" in repr(r)


def test_run_accepts_a_path_and_float_notation(cli, data):
    a = qkdsim.run(data / "lab.toml", pulses=5e7, seed=4)
    b = qkdsim.run(str(data / "lab.toml"), pulses=50_000_000, seed=4.0)
    assert without_timings(a.to_dict()) == without_timings(b.to_dict())
    assert a.pulses_sent == 50_000_000


def test_kept_keys_are_uint8_arrays_equal_to_keys_out(cli, data, lab, tmp_path):
    r = qkdsim.run(lab, pulses=100_000_000, seed=21, keep_keys=True)
    a, b = r.alice_key, r.bob_key
    assert isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 1
    assert len(a) == r.secret_bits > 0
    assert set(np.unique(a)) <= {0, 1}
    assert np.array_equal(a, b)
    # Roughly balanced: the final key is a hash output (5 sigma of a fair coin).
    n = len(a)
    assert abs(a.sum() - n / 2) < 5 * np.sqrt(n / 4)
    a[0] ^= 1  # writable, and a copy: the result is unchanged
    assert r.alice_key[0] != a[0]
    out = tmp_path / "keys"
    cli.run("run", data / "lab.toml", "--pulses", 100_000_000, "--seed", 21, "--keys-out", out)
    assert np.packbits(r.alice_key, bitorder="little").tobytes() == (out / "alice.key").read_bytes()
    assert np.packbits(r.bob_key, bitorder="little").tobytes() == (out / "bob.key").read_bytes()


def test_results_do_not_depend_on_the_thread_count(lab):
    docs = [
        without_timings(qkdsim.run(lab, pulses=60_000_000, seed=5, threads=t, keep_keys=True).to_dict())
        for t in (1, 2, 4)
    ]
    assert docs[0] == docs[1] == docs[2]
    keys = [qkdsim.run(lab, pulses=60_000_000, seed=5, threads=t, keep_keys=True).alice_key for t in (1, 3)]
    assert np.array_equal(keys[0], keys[1])


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"pulses": 0}, ValueError, "pulses: must be in [1, 1e15], got 0"),
        ({"pulses": 1000.5}, ValueError, "nearest allowed: 1000 or 1001"),
        ({"pulses": -3}, ValueError, "pulses: must be in [1, 1e15], got -3"),
        ({"pulses": 2e15}, ValueError, "pulses: must be in [1, 1e15]"),
        ({"pulses": True}, TypeError, "pulses: must be a whole number"),
        ({"pulses": "1e9"}, TypeError, "got a str"),
        ({"seed": -1}, ValueError, "seed: must be in [0, 9223372036854775807], got -1"),
        ({"seed": 2**70}, ValueError, "seed: must be in [0, 9223372036854775807]"),
        ({"threads": -1}, ValueError, "threads: must be in [0, "),
        ({"threads": 100_000}, ValueError, "threads: must be in [0, "),
        ({"engine": "fast"}, ValueError, 'engine: must be one of pulse, event, auto, got "fast"'),
    ],
)
def test_bad_arguments(lab, kwargs, error, text):
    with pytest.raises(error) as e:
        qkdsim.run(lab, **kwargs)
    assert text in str(e.value)


def test_bad_scenario_argument(data):
    with pytest.raises(TypeError):
        qkdsim.run(42)
    with pytest.raises(FileNotFoundError):
        qkdsim.run(data / "missing.toml")


def test_bad_pa_backend_is_an_error_not_a_crash(data, tmp_path):
    # The variable is read once per process, so check it in a fresh interpreter.
    import subprocess
    import sys

    code = (
        "import qkdsim\n"
        "try:\n"
        f"    qkdsim.run({str(data / 'lab.toml')!r}, pulses=1e6)\n"
        "except RuntimeError as e:\n"
        "    print('ERR', e)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "QKDSIM_PA_BACKEND": "quantum"},
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("ERR") and "QKDSIM_PA_BACKEND" in p.stdout
