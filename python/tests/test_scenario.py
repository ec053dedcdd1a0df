"""qkdsim.Scenario: every constructor and setter, and ScenarioError with key paths, values
and ranges, checked against the command line's messages for the same input."""

from __future__ import annotations

import copy
import math
import pickle

import pytest

import qkdsim
from qkdsim import Scenario, ScenarioError, Violation


def test_from_file_matches_qkdsim_check(repo, cli):
    for path in sorted((repo / "scenarios").glob("*.toml")):
        s = Scenario.from_file(path)
        # `qkdsim check` prints the effective scenario: the same text.
        assert s.to_toml() == cli.run("check", path).stdout, path.name
        assert Scenario.from_toml(s.to_toml()) == s


def test_from_toml_from_dict_and_to_dict_round_trip(repo):
    s = Scenario.from_file(repo / "scenarios" / "hof-plauen.toml")
    d = s.to_dict()
    assert d["link"]["length_km"] == s.get("link.length_km")
    assert isinstance(d["postprocessing"]["block_bits"], int)
    assert Scenario.from_dict(d) == s
    # None counts as absent; ints are fine for float keys, as in the file.
    s2 = Scenario.from_dict({"name": "n", "link": {"length_km": 50, "extra_loss_db": None}})
    assert s2.get("link.length_km") == 50.0
    assert s2.get("link.extra_loss_db") == 0.0
    assert s2 == Scenario.from_toml('name = "n"\n[link]\nlength_km = 50.0\n')
    assert s2.name == "n"
    assert s2.pulses == 1_000_000_000
    assert "Scenario(" in repr(s2)


def test_from_dict_with_numpy_scalars():
    np = pytest.importorskip("numpy")
    s = Scenario.from_dict({"link": {"length_km": np.float64(12.5)}, "simulation": {"seed": np.int64(9)}})
    assert s.get("link.length_km") == 12.5
    assert s.get("simulation.seed") == 9


def test_from_dict_errors_name_the_key():
    with pytest.raises(ScenarioError) as e:
        Scenario.from_dict({"link": {"length_km": -5.0, "misalignment": "high"}})
    keys = {v.key for v in e.value.violations}
    assert keys == {"link.length_km", "link.misalignment"}
    bad = next(v for v in e.value.violations if v.key == "link.length_km")
    assert bad.value == -5 and bad.allowed == "in [0, 10000]"
    with pytest.raises(ScenarioError) as e:
        Scenario.from_dict({"link": {"length_km": object()}})
    assert e.value.key == "link.length_km"
    assert "got a object" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        Scenario.from_dict({"link": {"length_km": 10**30}})
    assert e.value.key == "link.length_km"
    with pytest.raises(TypeError):
        Scenario.from_dict([1, 2])
    with pytest.raises(ScenarioError) as e:
        Scenario.from_dict({"link": {"length_km": 1.0, "lenght_km": 2.0}})
    assert e.value.key == "link.lenght_km"


def test_set_numbers_like_the_sweep_keys():
    s = Scenario.from_toml("[link]\nlength_km = 100.0\n")
    assert s.set("link.length_km", 50.0) is s  # in place, chainable
    assert s.get("link.length_km") == 50.0
    s.set("postprocessing.block_bits", 2e5).set("source.intensities.0.mean_photon_number", 0.4)
    assert s.get("postprocessing.block_bits") == 200000
    assert s.get("source.intensities.0.mean_photon_number") == 0.4
    before = s.copy()
    with pytest.raises(ScenarioError) as e:
        s.set("link.misalignment", 0.7)
    assert (e.value.key, e.value.value, e.value.allowed) == ("link.misalignment", 0.7, "in [0, 0.5]")
    assert isinstance(e.value, ValueError)
    assert s == before  # unchanged on error
    with pytest.raises(ScenarioError) as e:
        s.set("postprocessing.block_bits", 1000.5)
    assert e.value.key == "postprocessing.block_bits"
    assert e.value.value == 1000.5
    assert "nearest allowed: 1000 or 1001" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        s.set("link.lenght_km", 5.0)
    assert e.value.key == "link.lenght_km"
    assert "numeric keys are" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        s.set("link.length_km", float("nan"))
    assert e.value.key == "link.length_km" and math.isnan(e.value.value)
    # A coupled rule broken by the value set: the line names what was set.
    with pytest.raises(ScenarioError) as e:
        s.set("source.intensities.0.probability", 0.9)
    v = e.value.violations[0]
    assert v.at == "source.intensities.0.probability" and v.value == 0.9
    assert "must sum to 1" in v.message


def test_set_strings_and_bools_go_through_the_file_checks():
    s = Scenario.from_toml("[link]\nlength_km = 10.0\n")
    s.set("simulation.engine", "pulse").set("detector.dead_time_mode", "independent")
    assert s.get("simulation.engine") == "pulse"
    assert s.to_dict()["detector"]["dead_time_mode"] == "independent"
    with pytest.raises(ScenarioError) as e:
        s.set("detector.dead_time_mode", "shared")
    assert e.value.key == "detector.dead_time_mode"
    assert e.value.value == "shared"
    assert e.value.allowed == "one of common, independent"
    with pytest.raises(ScenarioError) as e:
        s.set("link.length_km", "fifty")
    assert e.value.key == "link.length_km" and e.value.value == "fifty"
    with pytest.raises(ScenarioError) as e:
        s.set("link.nothing", "x")
    assert e.value.key == "link.nothing"
    with pytest.raises(TypeError):
        s.set("link.length_km", [1.0])
    with pytest.raises(ScenarioError):
        s.get("link.nothing")


def test_numeric_keys_copy_pickle_and_equality():
    s = Scenario.from_toml('name = "x"\n[link]\nlength_km = 10.0\n')
    assert "link.length_km" in s.numeric_keys()
    assert "simulation.pulses" in s.numeric_keys()
    for other in (s.copy(), copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert other == s and other is not s
    c = s.copy().set("link.length_km", 11.0)
    assert c != s
    assert s != "not a scenario"


def test_from_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        Scenario.from_file(tmp_path / "missing.toml")
    assert "cannot read scenario file" in str(e.value)
    bad = tmp_path / "bad.toml"
    bad.write_text("[link]\nlength_km = = 5\n")
    with pytest.raises(ScenarioError) as e:
        Scenario.from_file(bad)
    assert "TOML parse error at line 2" in str(e.value)
    assert e.value.violations == [] and e.value.key is None


def test_every_bad_fixture_gives_the_command_line_message(repo, cli, monkeypatch):
    monkeypatch.chdir(repo)
    fixtures = sorted((repo / "tests" / "fixtures" / "bad").glob("*.toml"))
    assert len(fixtures) > 20
    for path in fixtures:
        rel = path.relative_to(repo)
        with pytest.raises(ScenarioError) as e:
            Scenario.from_file(rel)
        # Same message as `qkdsim check`, which names the file the same way.
        assert str(e.value) == cli.error("check", rel), rel
        for v in e.value.violations:
            assert v.message in str(e.value)
            if v.message.startswith(("sweep.", "source.", "link.", "detector.", "simulation.")):
                assert v.key is not None, v


def test_violation_parse_reads_key_value_and_range():
    v = Violation.parse("simulation.seed: must be a whole number in [0, 9223372036854775807], got 1.5 (the seed of the random streams; nearest allowed: 1 or 2)")
    assert (v.key, v.value, v.allowed) == ("simulation.seed", 1.5, "a whole number in [0, 9223372036854775807]")
    v = Violation.parse('link.length_km: must be a number in [0, 10000], got "fifty" (a string) (invalid type: string "fifty", expected f64)')
    assert (v.key, v.value, v.allowed) == ("link.length_km", "fifty", "a number in [0, 10000]")
    v = Violation.parse("link.length_km: missing field `length_km` (required, no default: a number in [0, 10000])")
    assert (v.key, v.value, v.allowed) == ("link.length_km", None, "a number in [0, 10000]")
    v = Violation.parse("sweep.values.1 = 0.7: link.misalignment: must be in [0, 0.5], got 0.7")
    assert (v.key, v.value, v.allowed, v.at) == ("link.misalignment", 0.7, "in [0, 0.5]", "sweep.values.1")
    v = Violation.parse("spans[2].link.length_km: must be in [0, 10000], got -3")
    assert (v.key, v.value) == ("spans[2].link.length_km", -3)
    v = Violation.parse('name: must not contain control characters, got "a\\u{1b}b" (contains \\u{1b})')
    assert v.key == "name" and v.allowed == "not contain control characters"
    v = Violation.parse("simulation: give either pulses or duration_s, not both")
    assert v.key == "simulation" and v.allowed is None


def test_scenario_error_pickles():
    try:
        Scenario.from_toml("[link]\nlength_km = -1.0\n")
    except ScenarioError as e:
        again = pickle.loads(pickle.dumps(e))
        assert str(again) == str(e) and again.key == e.key == "link.length_km"
    else:
        raise AssertionError("no error")


def test_version_and_max_threads():
    assert qkdsim.__version__
    assert qkdsim.max_threads() >= 256
