"""A scenario with an eavesdropper (`[adversary]`): the run document carries `eve` and
`naive_secret_bits` equal to `qkdsim run --json` (outside `timings`), a sweep over
`adversary.fraction` carries them per point, and a bad adversary gives the command
line's message."""

from __future__ import annotations

import pytest

import qkdsim
from conftest import without_timings
from qkdsim import ScenarioError

ADVERSARY = '\n[adversary]\nattack = "{attack}"\nfraction = {fraction}\n'


def _with_adversary(data, attack: str, fraction, engine: str = "auto") -> str:
    # lab.toml ends with its [simulation] table.
    text = (data / "lab.toml").read_text()
    headers = [l for l in text.splitlines() if l.startswith("[")]
    assert headers[-1] == "[simulation]", headers
    # 1e4-bit blocks: every block's exact count of what Eve can compute (the naive key's
    # too) stays quick.
    assert "block_bits = 100000" in text
    text = text.replace("block_bits = 100000", "block_bits = 10000")
    text = text.rstrip() + f'\nengine = "{engine}"\n'
    return text + ADVERSARY.format(attack=attack, fraction=fraction)


def test_pns_run_equals_the_command_line_document(cli, repo):
    path = repo / "scenarios" / "eve-pns.toml"
    expected = cli.json("run", path, "--pulses", 20_000_000, "--seed", 5, "--threads", 2)
    r = qkdsim.run(qkdsim.Scenario.from_file(path), pulses=2e7, seed=5, threads=2)
    got = r.to_dict()
    assert without_timings(got) == without_timings(expected)
    assert r.eve == got["eve"] and r.eve["attack"] == "pns" and "pns" in r.eve
    assert r.naive_secret_bits == got["naive_secret_bits"] is not None
    assert r.eve["known_sifted_bits"] <= r.eve["sifted_bits"]


def test_intercept_resend_from_toml_text_equals_the_command_line(cli, data, tmp_path):
    text = _with_adversary(data, "intercept_resend", 0.5, engine="pulse")
    path = tmp_path / "ir.toml"
    path.write_text(text)
    expected = cli.json("run", path, "--pulses", 4_000_000, "--seed", 8)
    r = qkdsim.run(qkdsim.Scenario.from_toml(text), pulses=4_000_000, seed=8)
    assert without_timings(r.to_dict()) == without_timings(expected)
    assert r.eve["fraction"] == 0.5 and r.eve["known_sifted_bits"] > 0
    # The same scenario as a dict.
    d = qkdsim.Scenario.from_toml(text).to_dict()
    assert d["adversary"] == {"attack": "intercept_resend", "fraction": 0.5}
    r2 = qkdsim.run(qkdsim.Scenario.from_dict(d), pulses=4_000_000, seed=8)
    assert without_timings(r2.to_dict()) == without_timings(expected)


def test_without_adversary_there_is_no_eve(data):
    r = qkdsim.run(data / "lab.toml", pulses=1_000_000, seed=2)
    assert r.eve is None and r.naive_secret_bits is None
    assert "eve" not in r.to_dict() and "naive_secret_bits" not in r.to_dict()


def test_sweep_over_the_attacked_fraction_carries_eve(cli, data, tmp_path):
    text = _with_adversary(data, "intercept_resend", 0.0, engine="pulse")
    path = tmp_path / "ir.toml"
    path.write_text(text)
    args = ["--param", "adversary.fraction", "--values", "0,0.25", "--pulses", 2_000_000]
    expected = cli.json("sweep", path, *args)
    s = qkdsim.sweep(
        qkdsim.Scenario.from_toml(text), "adversary.fraction", [0.0, 0.25], pulses=2_000_000
    )
    got = s.to_dict()
    assert without_timings(got) == without_timings(expected)
    assert [p["eve"]["fraction"] for p in got["points"]] == [0.0, 0.25]
    assert got["points"][0]["eve"]["known_sifted_bits"] == 0


@pytest.mark.parametrize(
    "attack, fraction, engine",
    [
        ("pns", 2, "auto"),
        ("foo", 1, "auto"),
        ("intercept_resend", 1, "event"),
    ],
)
def test_bad_adversary_gives_the_command_line_message(cli, data, tmp_path, attack, fraction, engine):
    path = tmp_path / "bad.toml"
    path.write_text(_with_adversary(data, attack, fraction, engine=engine))
    with pytest.raises(ScenarioError) as e:
        qkdsim.Scenario.from_file(path)
    assert str(e.value) == cli.error("check", path)
    assert str(e.value) == cli.error("run", path)
    key = "simulation.engine" if engine == "event" else "adversary."
    assert any(v.key and v.key.startswith(key) for v in e.value.violations), e.value.violations


def test_engine_event_argument_with_intercept_resend_is_refused(cli, data, tmp_path):
    text = _with_adversary(data, "intercept_resend", 1, engine="pulse")
    path = tmp_path / "ir.toml"
    path.write_text(text)
    message = cli.error("run", path, "--engine", "event", "--pulses", 1000)
    with pytest.raises(ValueError) as e:
        qkdsim.run(qkdsim.Scenario.from_toml(text), engine="event", pulses=1000)
    assert "adversary.attack" in str(e.value) and "adversary.attack" in message
    assert str(e.value) in message
