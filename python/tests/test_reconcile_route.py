"""qkdsim.reconcile and qkdsim.route: documents equal to the command line's outside the
wall-clock figures, thread-count independence, and the errors (RouteError with key paths)."""

from __future__ import annotations

import pytest

import qkdsim
from conftest import without_timings

# reconcile --json keeps two wall-clock contract fields at the top level (DESIGN §5),
# mirrored in its `timings`.
RECONCILE_CLOCK = ["seconds_mean", "bits_per_second"]


def test_reconcile_equals_the_command_line_document(cli):
    expected = cli.json("reconcile", "--bits", 20000, "--qber", 0.03, "--runs", 6, "--seed", 4, "--threads", 2)
    r = qkdsim.reconcile(20000, 0.03, runs=6, seed=4, threads=2)
    assert without_timings(r.to_dict(), RECONCILE_CLOCK) == without_timings(expected, RECONCILE_CLOCK)
    expected = cli.json(
        "reconcile", "--bits", 5000, "--qber", 0.05, "--variant", "option7", "--runs", 3,
        "--binomial", "--epsilon-cor", 1e-10,
    )
    r = qkdsim.reconcile(5000, 0.05, variant="option7", runs=3, binomial=True, epsilon_cor=1e-10)
    assert without_timings(r.to_dict(), RECONCILE_CLOCK) == without_timings(expected, RECONCILE_CLOCK)
    assert r.efficiency_mean == expected["efficiency_mean"]
    assert "ReconcileResult(" in repr(r)


def test_reconcile_does_not_depend_on_the_thread_count():
    docs = [
        without_timings(qkdsim.reconcile(8000, 0.04, runs=5, seed=9, threads=t).to_dict(), RECONCILE_CLOCK)
        for t in (1, 3)
    ]
    assert docs[0] == docs[1]


@pytest.mark.parametrize(
    "args, kwargs, text",
    [
        ((0, 0.03), {}, "bits: must be in [1, 4294967295], got 0"),
        ((1000, 0.6), {}, "0.6"),
        ((1000, 0.03), {"variant": "turbo"}, "variant"),
        ((1000, 0.03), {"runs": 0}, "runs: must be in [1, 1000000000], got 0"),
        ((1000, 0.03), {"threads": -2}, "threads"),
        ((4294967295, 0.4), {"runs": 1000, "threads": 256}, "per run"),
    ],
)
def test_reconcile_errors(args, kwargs, text):
    with pytest.raises(ValueError) as e:
        qkdsim.reconcile(*args, **kwargs)
    assert text in str(e.value)


def test_route_equals_the_command_line_document(cli, data):
    expected = cli.json("route", data / "route.toml", "--threads", 2)
    r = qkdsim.route(data / "route.toml", threads=2)
    assert without_timings(r.to_dict()) == without_timings(expected)
    assert len(r.spans) == 2 and len(r.demands) == 1
    expected = cli.json("route", data / "route.toml", "--duration-s", 0.05, "--seed", 9)
    r = qkdsim.route(str(data / "route.toml"), duration_s=0.05, seed=9)
    assert without_timings(r.to_dict()) == without_timings(expected)
    assert "RouteResult(" in repr(r)


def test_route_from_text_and_to_pandas(data, monkeypatch):
    pd = pytest.importorskip("pandas")
    monkeypatch.chdir(data)  # `base = "lab.toml"` is read from the current directory
    text = (data / "route.toml").read_text()
    from_text = qkdsim.route(text, threads=1)
    from_file = qkdsim.route(data / "route.toml", threads=3)
    assert without_timings(from_text.to_dict()) == without_timings(from_file.to_dict())
    spans = from_text.to_pandas()
    assert list(spans["from"]) == ["A", "Relay"] and "secret_key_rate_bps" in spans.columns
    demands = from_text.demands_to_pandas()
    assert list(demands["to"]) == ["B"]


def test_route_errors(repo, data, cli, monkeypatch):
    monkeypatch.chdir(repo)
    fixtures = sorted((repo / "tests" / "fixtures" / "bad_routes").glob("*.toml"))
    assert len(fixtures) > 20
    for path in fixtures:
        rel = path.relative_to(repo)
        message = cli.error("route", rel)
        try:
            qkdsim.route(rel, duration_s=1e-6)
        except qkdsim.RouteError as e:
            assert str(e) == message, rel
            assert isinstance(e, qkdsim.ScenarioError) and isinstance(e, ValueError)
            for v in e.violations:
                assert v.message in str(e)
        except ValueError as e:
            # Not a route-file error but an argument one (the duration for its spans).
            assert "duration" in str(e), (rel, e)
        else:
            raise AssertionError(f"{rel}: no error")
    with pytest.raises(qkdsim.RouteError) as e:
        qkdsim.route(repo / "tests" / "fixtures" / "bad_routes" / "negative-span-length.toml")
    assert e.value.key.startswith("spans[") and e.value.key.endswith("length_km")
    assert isinstance(e.value.value, (int, float)) and e.value.value < 0
    with pytest.raises(FileNotFoundError):
        qkdsim.route(data / "missing-route.toml")
    with pytest.raises(ValueError, match="duration_s: must be a finite number of seconds > 0, got -1"):
        qkdsim.route(data / "route.toml", duration_s=-1.0)
    with pytest.raises(ValueError, match="duration"):
        qkdsim.route(data / "route.toml", duration_s=1.5e-9)
