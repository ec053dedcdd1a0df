"""qkdsim.sweep, qkdsim.theory, qkdsim.grid: documents equal to the command line's, the
records and DataFrames built from them, thread-count independence, and the errors."""

from __future__ import annotations

import pytest

import qkdsim
from conftest import without_timings


@pytest.fixture(scope="module")
def lab(data):
    return qkdsim.Scenario.from_file(data / "lab.toml")


def test_sweep_equals_the_command_line_document(cli, data, lab):
    values = [0.0, 5.0, 20.0]
    expected = cli.json(
        "sweep", data / "lab.toml", "--param", "link.length_km",
        "--values", ",".join(map(str, values)), "--pulses", 30_000_000, "--seed", 8,
    )
    r = qkdsim.sweep(lab, "link.length_km", values, pulses=3e7, seed=8)
    assert without_timings(r.to_dict()) == without_timings(expected)
    assert len(r) == 3 and r.values == values and r.param == "link.length_km"
    assert [p["value"] for p in r] == values
    assert r[1]["value"] == 5.0 and r["seed"] == 8
    assert r.records == r.to_dict()["points"] or without_timings(r.records) == without_timings(expected["points"])
    assert r.max_distance is not None and r.theory
    assert "SweepResult(" in repr(r)


def test_sweep_with_engine_and_a_whole_number_key(cli, data, lab):
    expected = cli.json(
        "sweep", data / "lab.toml", "--param", "postprocessing.block_bits",
        "--values", "50000,100000", "--pulses", 20_000_000, "--engine", "event",
    )
    r = qkdsim.sweep(lab, "postprocessing.block_bits", [5e4, 1e5], pulses=2e7, engine="event")
    assert without_timings(r.to_dict()) == without_timings(expected)
    assert r.max_distance is None


def test_sweep_to_pandas(lab):
    pd = pytest.importorskip("pandas")
    r = qkdsim.sweep(lab, "link.length_km", qkdsim.grid(0, 10, 3), pulses=2e7, seed=2)
    df = r.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 3
    for col in ("value", "secret_key_rate_bps", "qber_z", "ec.leaked_bits",
                "statistics.qber_z_stderr", "per_intensity.signal.gain",
                "theory.secret_bits_per_pulse_finite", "security_warnings"):
        assert col in df.columns, col
    assert list(df["value"]) == [0.0, 5.0, 10.0]
    assert list(df["secret_bits"]) == [p["secret_bits"] for p in r]
    th = r.theory_to_pandas()
    assert {"value", "finite_bps", "asymptotic_bps", "plob_bps"} <= set(th.columns)
    assert th["value"].is_monotonic_increasing


def test_sweep_does_not_depend_on_the_thread_count(lab):
    docs = [
        without_timings(qkdsim.sweep(lab, "link.length_km", [1.0, 8.0], pulses=2e7, seed=3, threads=t).to_dict())
        for t in (1, 2, 4)
    ]
    assert docs[0] == docs[1] == docs[2]


def test_sweep_errors(lab):
    with pytest.raises(qkdsim.ScenarioError) as e:
        qkdsim.sweep(lab, "link.misalignment", [0.1, 0.7, 0.9])
    assert [v.at for v in e.value.violations] == ["values.1", "values.2"]
    v = e.value.violations[0]
    assert (v.key, v.value, v.allowed) == ("link.misalignment", 0.7, "in [0, 0.5]")
    with pytest.raises(qkdsim.ScenarioError) as e:
        qkdsim.sweep(lab, "link.lenght_km", [1.0])
    assert e.value.key == "link.lenght_km"
    with pytest.raises(qkdsim.ScenarioError) as e:
        qkdsim.sweep(lab, "postprocessing.block_bits", [1000.5])
    assert e.value.key == "postprocessing.block_bits" and e.value.violations[0].at == "values.0"
    with pytest.raises(ValueError, match="values: must list between 1 and 10000 values, got none"):
        qkdsim.sweep(lab, "link.length_km", [])
    with pytest.raises(ValueError, match="values.0: every value must be a finite number"):
        qkdsim.sweep(lab, "link.length_km", [float("inf")])
    with pytest.raises(ValueError, match="cannot be combined"):
        qkdsim.sweep(lab, "simulation.pulses", [1e6], pulses=1e6)
    with pytest.raises(ValueError, match="engine"):
        qkdsim.sweep(lab, "link.length_km", [1.0], engine="warp")


def test_grid_is_the_sweep_grid():
    assert qkdsim.grid(0, 10, 6) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert qkdsim.grid(1e-8, 1e-4, 5, log=True)[2] == 1e-6
    with pytest.raises(ValueError, match="start"):
        qkdsim.grid(5, 1, 3)
    with pytest.raises(ValueError, match="steps"):
        qkdsim.grid(0, 1, 0)


def test_theory_equals_the_command_line_document(cli, repo):
    path = repo / "scenarios" / "gys-2004.toml"
    s = qkdsim.Scenario.from_file(path)
    expected = cli.json("theory", path, "--from", 0, "--to", 150, "--steps", 7)
    r = qkdsim.theory(s, from_km=0, to_km=150, steps=7)
    assert r.to_dict() == expected  # no wall-clock figure in a theory document
    default = cli.json("theory", path)
    assert qkdsim.theory(s).to_dict() == default
    lim = cli.json("theory", path, "--detector-model", "lim2014", "--from", 10, "--to", 10, "--steps", 1)
    assert qkdsim.theory(path, distances_km=[10.0], detector_model="lim2014").to_dict() == lim
    assert set(r.curves) >= {"gllp_no_decoy", "decoy_vacuum_weak", "decoy_infinite", "finite_key", "plob", "tgw"}
    assert "TheoryResult(" in repr(r)


def test_theory_optimize_equals_the_command_line(cli, repo):
    path = repo / "scenarios" / "hof-plauen.toml"
    expected = cli.json("theory", path, "--optimize", "--from", 40, "--to", 40, "--steps", 1)
    assert qkdsim.theory(path, distances_km=[40.0], optimize=True).to_dict() == expected


def test_theory_to_pandas(repo):
    pd = pytest.importorskip("pandas")
    r = qkdsim.theory(repo / "scenarios" / "gys-2004.toml", distances_km=[10, 50, 100])
    df = r.to_pandas()
    assert set(df.columns) == {"curve", "distance_km", "bits_per_pulse", "bits_per_second"}
    assert len(df) == 3 * len(r.curves)
    wide = df.pivot(index="distance_km", columns="curve", values="bits_per_second")
    assert list(wide.index) == [10, 50, 100]
    assert (wide["plob"] >= wide["decoy_infinite"]).all()


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"from_km": 10, "to_km": 5}, "from_km (10) must not exceed to_km (5)"),
        ({"from_km": -1}, "from_km: must be a fibre length in [0, 10000] km, got -1"),
        ({"steps": 0}, "steps: must be in [1, 10000], got 0"),
        ({"from_km": 1, "to_km": 2, "steps": 1}, "steps 1 gives a single distance"),
        ({"distances_km": [1.0], "steps": 3}, "either distances_km or from_km/to_km/steps"),
        ({"distances_km": []}, "give at least one distance"),
        ({"distances_km": [20000.0]}, "distance_km: must be in [0, 10000]"),
        ({"detector_model": "exact"}, "detector_model"),
    ],
)
def test_theory_errors(repo, kwargs, text):
    with pytest.raises(ValueError) as e:
        qkdsim.theory(repo / "scenarios" / "gys-2004.toml", **kwargs)
    assert text in str(e.value)


def test_theory_grid_message_matches_the_command_line(cli, repo):
    path = repo / "scenarios" / "gys-2004.toml"
    cli_message = cli.error("theory", path, "--from", 10, "--to", 5)
    with pytest.raises(ValueError) as e:
        qkdsim.theory(path, from_km=10, to_km=5)
    assert cli_message == str(e.value).replace("from_km", "--from").replace("to_km", "--to")
