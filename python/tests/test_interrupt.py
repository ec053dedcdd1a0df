"""Long calls release the GIL and stop on Ctrl-C.

SIGINT is sent to this very process (as a terminal's Ctrl-C would be) while a call that
would take hours runs; the call must raise KeyboardInterrupt soon after, and the
interpreter must stay usable. The time bounds below only tell "stopped" from "ran on":
the calls would take hours, the bound is many seconds.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import qkdsim
from conftest import without_timings

# Seconds after SIGINT within which the call must have stopped (it polls every 50 ms;
# the engine's batch in progress and the post-processing blocks in flight then finish).
STOP_WITHIN_S = 15.0


@pytest.fixture(scope="module")
def lab(data):
    return qkdsim.Scenario.from_file(data / "lab.toml")


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.fixture(autouse=True)
def python_sigint_handler():
    # Python installs its own SIGINT handler at start-up unless the process inherited
    # SIGINT ignored (a job started in the background of a non-interactive shell does):
    # install it for these tests, as an interactive interpreter has it, and restore after.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def assert_interrupted(call) -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    timer = interrupt_after(0.5)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + STOP_WITHIN_S, f"stopped {elapsed:.1f} s after the call began"


@pytest.mark.parametrize("engine", ["pulse", "event"])
def test_ctrl_c_stops_a_run(lab, engine):
    assert_interrupted(lambda: qkdsim.run(lab, pulses=1e15, engine=engine))
    # The interpreter and the library are fine afterwards.
    r = qkdsim.run(lab, pulses=2e7, seed=1)
    assert r.pulses_sent == 20_000_000


def test_ctrl_c_stops_a_sweep(lab):
    assert_interrupted(lambda: qkdsim.sweep(lab, "link.length_km", [1.0, 2.0, 3.0], pulses=1e15))


def test_ctrl_c_stops_a_route(data):
    assert_interrupted(lambda: qkdsim.route(data / "route.toml", duration_s=3e4))


def test_ctrl_c_stops_reconcile():
    assert_interrupted(lambda: qkdsim.reconcile(100_000, 0.03, runs=1_000_000_000))


def test_ctrl_c_stops_theory(repo):
    s = qkdsim.Scenario.from_file(repo / "scenarios" / "hof-plauen.toml")
    assert_interrupted(lambda: qkdsim.theory(s, from_km=0, to_km=200, steps=10000, optimize=True))


def test_the_gil_is_released_during_a_run(lab):
    # A Python thread keeps counting while the run computes: with the GIL held for the
    # whole call it could not run at all until the call returned.
    ticks = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.005)

    # A run of about a second on this machine (scaled from a short one), long enough for
    # the counting thread to tick many times if it can run.
    t0 = time.monotonic()
    qkdsim.run(lab, pulses=1e8, engine="pulse", seed=2)
    per_pulse = max(time.monotonic() - t0, 1e-3) / 1e8
    pulses = int(min(1e12, max(1e8, 1.0 / per_pulse)))
    t = threading.Thread(target=count)
    started = time.monotonic()
    t.start()
    try:
        qkdsim.run(lab, pulses=pulses, engine="pulse", seed=2)
    finally:
        finished = time.monotonic()
        stop.set()
        t.join()
    during = [x for x in ticks if started + 0.1 < x < finished - 0.05]
    assert finished - started > 0.3, "the run was too short to tell"
    # With the GIL held for the whole call the thread could not tick at all.
    assert len(during) > 10, f"{len(during)} ticks during {finished - started:.2f} s"


def test_two_python_threads_run_at_once_with_identical_results(lab):
    results = {}

    def work(name: str) -> None:
        results[name] = without_timings(qkdsim.run(lab, pulses=5e7, seed=3, threads=1).to_dict())

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"] == results["b"]
