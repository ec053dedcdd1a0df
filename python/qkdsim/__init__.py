"""qkdsim from Python: simulate a decoy-state BB84 QKD link over fibre, bit by bit, with
the real post-processing (Cascade, verification, privacy amplification), beside the
closed-form theory.

The heavy lifting is the Rust library, called in-process (no subprocess, no JSON on a
pipe): :func:`run`, :func:`sweep`, :func:`route` and :func:`reconcile` release the GIL
while they compute and stop on Ctrl-C (``KeyboardInterrupt``). Every result's
``to_dict()`` is the JSON document the command line prints with ``--json`` for the same
inputs (the library produces both; wall-clock figures live only in ``timings``)::

    import qkdsim
    s = qkdsim.Scenario.from_file("scenarios/gys-2004.toml")
    s.set("link.length_km", 50.0)
    r = qkdsim.run(s, pulses=2e8, seed=7)
    r.secret_key_rate_bps, r.qber_z
    qkdsim.sweep(s, "link.length_km", [0, 25, 50, 75]).to_pandas()

Scenario errors raise :class:`ScenarioError` (a ``ValueError``) with the key path, the
value and the allowed range; other bad arguments raise ``ValueError`` or ``TypeError``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from . import _qkdsim
from ._errors import RouteError, ScenarioError, Violation
from ._qkdsim import Scenario

if TYPE_CHECKING:  # pandas is optional
    import pandas

__all__ = [
    "Scenario",
    "ScenarioError",
    "RouteError",
    "Violation",
    "RunResult",
    "SweepResult",
    "TheoryResult",
    "ReconcileResult",
    "RouteResult",
    "run",
    "sweep",
    "theory",
    "reconcile",
    "route",
    "grid",
    "max_threads",
    "__version__",
]

__version__: str = _qkdsim.__version__

PathLike = Union[str, "os.PathLike[str]"]
Number = Union[int, float]


def _scenario(scenario: Union[Scenario, PathLike]) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, os.PathLike)):
        return Scenario.from_file(scenario)
    raise TypeError(
        f"scenario: expected a qkdsim.Scenario or the path of a scenario file, "
        f"got a {type(scenario).__name__}"
    )


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_pandas() needs pandas: pip install pandas (or qkdsim[pandas])"
        ) from e
    return pandas


def _flatten(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """One flat row from a nested record: nested objects as ``a.b`` columns, lists of
    labelled objects (``per_intensity``) as ``per_intensity.<label>.field``, security
    warnings as their codes joined by ``;``; other lists (per block, per intensity in
    theory) are left to the records."""
    out: Dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, name + "."))
        elif isinstance(v, list):
            if k == "security_warnings":
                out[name] = ";".join(str(w.get("code", "")) for w in v)
            elif v and all(isinstance(x, dict) and "label" in x for x in v):
                for x in v:
                    out.update(_flatten(x, f"{name}.{x['label']}."))
        else:
            out[name] = v
    return out


class _Document:
    """A result holding one JSON document of the command line."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._doc: Dict[str, Any] = json.loads(text)

    def to_json(self) -> str:
        """The document as the command line prints it with ``--json``."""
        return self._text

    def to_dict(self) -> Dict[str, Any]:
        """The document as a dict (a fresh copy: changing it changes nothing here). It
        equals ``json.loads`` of the command line's ``--json`` output for the same inputs
        and seed, except for the wall-clock figures in ``timings``."""
        return json.loads(self._text)

    def __getitem__(self, key: str) -> Any:
        """A top-level field of the document, e.g. ``result["qber_z"]``."""
        return self._doc[key]

    def __contains__(self, key: object) -> bool:
        return key in self._doc

    def keys(self) -> List[str]:
        """The document's top-level field names."""
        return list(self._doc)


class RunResult(_Document):
    """The result of :func:`run`: the ``run --json`` document, and the final keys when
    asked for with ``keep_keys=True``."""

    def __init__(self, text: str, keys: Optional[tuple] = None) -> None:
        super().__init__(text)
        self._keys = keys

    @property
    def secret_bits(self) -> int:
        """Final secret key bits over all blocks."""
        return int(self._doc["secret_bits"])

    @property
    def secret_key_rate_bps(self) -> float:
        """Secret bits per second of link time."""
        return float(self._doc["secret_key_rate_bps"])

    @property
    def secret_bits_per_pulse(self) -> float:
        """Secret bits per pulse sent."""
        return float(self._doc["secret_bits_per_pulse"])

    @property
    def qber_z(self) -> Optional[float]:
        """QBER of the sifted key-basis (Z) bits; ``None`` over no bits."""
        return self._doc["qber_z"]

    @property
    def qber_x(self) -> Optional[float]:
        """QBER of the sifted test-basis (X) bits; ``None`` over no bits."""
        return self._doc["qber_x"]

    @property
    def pulses_sent(self) -> int:
        """Pulses simulated."""
        return int(self._doc["pulses_sent"])

    @property
    def final_keys_match(self) -> bool:
        """Alice's and Bob's final keys agreed bit for bit in every block."""
        return bool(self._doc["final_keys_match"])

    @property
    def aborted(self) -> Optional[str]:
        """Why the run produced no key, or ``None``."""
        return self._doc["aborted"]

    @property
    def security_warnings(self) -> List[Dict[str, str]]:
        """Ways the scenario leaves the security proof's assumptions (``code``,
        ``message``, ``reference``)."""
        return list(self._doc["security_warnings"])

    @property
    def eve(self) -> Optional[Dict[str, Any]]:
        """What the simulated eavesdropper knows (``[adversary]`` in the scenario), as the
        ``eve`` object of ``run --json``: ``attack``, ``fraction``, ``known_sifted_bits``,
        ``sifted_bits``, ``known_final_key_bits`` (``None`` when not counted),
        ``final_key_bits``, ``naive_secret_bits``, ``naive_known_final_key_bits``,
        ``blocks_not_counted``, ``exact_limit_bits`` and, for PNS, ``pns``; ``None``
        without an adversary."""
        e = self._doc.get("eve")
        return None if e is None else json.loads(json.dumps(e))

    @property
    def naive_secret_bits(self) -> Optional[int]:
        """Key the naive bound (every detection a single photon, no decoy states) would
        have produced; ``None`` without an adversary."""
        v = self._doc.get("naive_secret_bits")
        return None if v is None else int(v)

    def _key(self, i: int) -> Optional[np.ndarray]:
        if self._keys is None:
            return None
        return np.frombuffer(bytearray(self._keys[i]), dtype=np.uint8)

    @property
    def alice_key(self) -> Optional[np.ndarray]:
        """Alice's final key (all blocks in order) as a ``numpy.uint8`` array of 0s and
        1s, one element per bit; ``None`` unless the run kept keys (``keep_keys=True``).
        ``numpy.packbits(key, bitorder="little")`` gives the bytes of ``run --keys-out``'s
        ``alice.key``."""
        return self._key(0)

    @property
    def bob_key(self) -> Optional[np.ndarray]:
        """Bob's final key, like :attr:`alice_key`."""
        return self._key(1)

    def __repr__(self) -> str:
        d = self._doc
        return (
            f"RunResult(scenario={d['scenario']!r}, pulses_sent={d['pulses_sent']}, "
            f"qber_z={d['qber_z']}, secret_bits={d['secret_bits']}, "
            f"secret_key_rate_bps={d['secret_key_rate_bps']:.6g})"
        )


class SweepResult(_Document):
    """The result of :func:`sweep`: the ``sweep --json`` document. Iterating, indexing and
    ``len()`` give its point records (one run document each, plus ``value`` and
    ``statistics``)."""

    @property
    def records(self) -> List[Dict[str, Any]]:
        """One dict per swept value, in order (the document's ``points``)."""
        return list(self._doc["points"])

    @property
    def param(self) -> str:
        """The swept key."""
        return str(self._doc["param"])

    @property
    def values(self) -> List[float]:
        """The swept values, as the runs used them."""
        return [p["value"] for p in self._doc["points"]]

    @property
    def theory(self) -> List[Dict[str, Any]]:
        """The closed-form rates on a fine grid over the swept range."""
        return list(self._doc["theory"])

    @property
    def max_distance(self) -> Optional[Dict[str, Any]]:
        """Where the key ends (simulated and theory), when ``link.length_km`` is swept."""
        return self._doc.get("max_distance")

    def __len__(self) -> int:
        return len(self._doc["points"])

    def __iter__(self) -> Iterator[Dict[str, Any]]:  # type: ignore[override]
        return iter(self.records)

    def __getitem__(self, key: Union[int, str]) -> Any:  # type: ignore[override]
        """``result[i]`` is point i's record; ``result["field"]`` a document field."""
        if isinstance(key, int):
            return self._doc["points"][key]
        return self._doc[key]

    def to_pandas(self) -> "pandas.DataFrame":
        """One row per point: the swept value, the run's figures (nested objects as
        ``ec.leaked_bits``-style columns, intensity classes as
        ``per_intensity.<label>.gain``) and the error bars (``statistics.*``). Needs
        pandas."""
        pd = _pandas()
        return pd.DataFrame([_flatten(p) for p in self._doc["points"]])

    def theory_to_pandas(self) -> "pandas.DataFrame":
        """The theory lines on the fine grid (``value``, ``finite_bps``,
        ``asymptotic_bps``, ``plob_bps``, …), one row per grid value. Needs pandas."""
        pd = _pandas()
        return pd.DataFrame(self._doc["theory"])

    def __repr__(self) -> str:
        return f"SweepResult(param={self.param!r}, points={len(self)})"


class TheoryResult(_Document):
    """The result of :func:`theory`: the ``theory --json`` document (curves versus
    distance: ``gllp_no_decoy``, ``decoy_vacuum_weak``, ``decoy_infinite``,
    ``finite_key``, ``finite_key_asymptotic``, ``plob``, ``tgw``)."""

    @property
    def curves(self) -> Dict[str, Dict[str, Any]]:
        """The curves by name."""
        return {c["name"]: c for c in self._doc["curves"]}

    def to_pandas(self) -> "pandas.DataFrame":
        """Long format: one row per curve and distance (``curve``, ``distance_km``,
        ``bits_per_pulse``, ``bits_per_second``); ``df.pivot(index="distance_km",
        columns="curve", values="bits_per_second")`` gives one column per curve. Needs
        pandas."""
        pd = _pandas()
        rows = [
            {
                "curve": c["name"],
                "distance_km": d,
                "bits_per_pulse": bpp,
                "bits_per_second": bps,
            }
            for c in self._doc["curves"]
            for d, bpp, bps in zip(c["distance_km"], c["bits_per_pulse"], c["bits_per_second"])
        ]
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"TheoryResult(curves={list(self.curves)})"


class ReconcileResult(_Document):
    """The result of :func:`reconcile`: the ``reconcile --json`` document."""

    @property
    def efficiency_mean(self) -> Optional[float]:
        """Mean f = leaked / (n h(Q)); ``None`` when no run had an error planted."""
        return self._doc["efficiency_mean"]

    def __repr__(self) -> str:
        d = self._doc
        return (
            f"ReconcileResult(bits={d['bits']}, qber={d['qber']}, variant={d['variant']!r}, "
            f"runs={d['runs']}, efficiency_mean={d['efficiency_mean']})"
        )


class RouteResult(_Document):
    """The result of :func:`route`: the ``route --json`` document (spans, demands, key
    stores)."""

    @property
    def spans(self) -> List[Dict[str, Any]]:
        """One record per span."""
        return list(self._doc["spans"])

    @property
    def demands(self) -> List[Dict[str, Any]]:
        """One record per end-to-end demand."""
        return list(self._doc["demands"])

    def to_pandas(self) -> "pandas.DataFrame":
        """One row per span (nested objects flattened as in
        :meth:`SweepResult.to_pandas`). Needs pandas."""
        pd = _pandas()
        return pd.DataFrame([_flatten(s) for s in self._doc["spans"]])

    def demands_to_pandas(self) -> "pandas.DataFrame":
        """One row per demand. Needs pandas."""
        pd = _pandas()
        return pd.DataFrame([_flatten(d) for d in self._doc["demands"]])

    def __repr__(self) -> str:
        return f"RouteResult(route={self._doc.get('route')!r}, spans={len(self.spans)}, demands={len(self.demands)})"


def run(
    scenario: Union[Scenario, PathLike],
    pulses: Optional[Number] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    engine: Optional[str] = None,
    keep_keys: bool = False,
) -> RunResult:
    """Simulates a scenario end to end, like ``qkdsim run``.

    Args:
        scenario: a :class:`Scenario`, or the path of a scenario file.
        pulses: pulses to send (a whole number in [1, 1e15]; ``1e9`` is fine); default
            the scenario's ``simulation.pulses`` or ``duration_s``.
        seed: seed of every random stream; default ``simulation.seed``. Same inputs and
            seed give the same result for any ``threads``.
        threads: worker threads (``None`` or 0: one per core).
        engine: ``"pulse"`` (the reference), ``"event"`` or ``"auto"``; default
            ``simulation.engine``.
        keep_keys: keep Alice's and Bob's final keys (:attr:`RunResult.alice_key`).

    Returns:
        A :class:`RunResult`; ``to_dict()`` is the ``run --json`` document.

    Raises:
        ValueError: a bad argument (named, with its allowed range).
        KeyboardInterrupt: Ctrl-C; the run stops within a fraction of a second.
    """
    text, keys = _qkdsim.run(
        _scenario(scenario),
        pulses=pulses,
        seed=seed,
        threads=threads,
        engine=engine,
        keep_keys=keep_keys,
    )
    return RunResult(text, keys)


def sweep(
    scenario: Union[Scenario, PathLike],
    param: str,
    values: Sequence[float],
    pulses: Optional[Number] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    engine: Optional[str] = None,
) -> SweepResult:
    """One full run per value of a numeric scenario key, like ``qkdsim sweep --param
    PARAM --values ...``: points run in parallel, each with a seed derived from
    (``seed``, its index), beside the theory on a fine grid.

    Args:
        scenario: a :class:`Scenario`, or the path of a scenario file.
        param: a dotted numeric key (``"link.length_km"``,
            ``"postprocessing.block_bits"``, ``"source.intensities.0.mean_photon_number"``;
            :meth:`Scenario.numeric_keys` lists them).
        values: the values (a list, a numpy array, :func:`grid`); each is checked with the
            scenario file's rule for ``param`` before anything runs.
        pulses, seed, threads, engine: as in :func:`run` (``pulses`` per point).

    Returns:
        A :class:`SweepResult` of point records; ``to_dict()`` is the ``sweep --json``
        document and ``to_pandas()`` one row per point.

    Raises:
        ScenarioError: a value outside ``param``'s range (``e.violations[i].at`` is
            ``values.<index>``) or an unknown key.
        ValueError: a bad argument.
        KeyboardInterrupt: Ctrl-C.
    """
    text = _qkdsim.sweep(
        _scenario(scenario),
        param,
        [float(v) for v in values],
        pulses=pulses,
        seed=seed,
        threads=threads,
        engine=engine,
    )
    return SweepResult(text)


def theory(
    scenario: Union[Scenario, PathLike],
    from_km: Optional[float] = None,
    to_km: Optional[float] = None,
    steps: Optional[int] = None,
    distances_km: Optional[Sequence[float]] = None,
    optimize: bool = False,
    detector_model: str = "mean_field",
) -> TheoryResult:
    """Closed-form key rates and bounds versus fibre length, like ``qkdsim theory``:
    GLLP without decoys, vacuum+weak and infinite decoys, the finite key at the
    scenario's block size, PLOB and TGW.

    Args:
        scenario: a :class:`Scenario`, or the path of a scenario file.
        from_km, to_km, steps: the grid (default 0 to 200 km in 21 steps), as
            ``--from --to --steps``.
        distances_km: explicit fibre lengths instead of the grid.
        optimize: optimise intensities, probabilities and basis bias per distance.
        detector_model: ``"mean_field"`` (the run table's stationary model) or
            ``"lim2014"``.

    Returns:
        A :class:`TheoryResult`; ``to_dict()`` is the ``theory --json`` document.
    """
    text = _qkdsim.theory(
        _scenario(scenario),
        from_km=from_km,
        to_km=to_km,
        steps=steps,
        distances_km=None if distances_km is None else [float(d) for d in distances_km],
        optimize=optimize,
        detector_model=detector_model,
    )
    return TheoryResult(text)


def reconcile(
    bits: int,
    qber: float,
    variant: str = "yanetal",
    runs: int = 20,
    seed: int = 1,
    binomial: bool = False,
    epsilon_cor: float = 1e-15,
    threads: Optional[int] = None,
) -> ReconcileResult:
    """Cascade on random keys with planted errors, like ``qkdsim reconcile``.

    Args:
        bits: key length, 1 to 2^32 - 1 (refused before any work if the runs would not
            fit in this process's memory).
        qber: error rate in (0, 0.5), also Cascade's estimate.
        variant: ``original``, ``biconf``, ``yanetal``, ``option7`` or ``option8``.
        runs: independent runs (1 to 1e9).
        seed: master seed; results are identical for any ``threads``.
        binomial: flip each bit with probability ``qber`` instead of planting exactly
            round(qber * bits) errors.
        epsilon_cor: correctness parameter of the verification hash.
        threads: worker threads (``None`` or 0: one per core).

    Returns:
        A :class:`ReconcileResult`; ``to_dict()`` is the ``reconcile --json`` document.
    """
    text = _qkdsim.reconcile(
        bits,
        qber,
        variant=variant,
        runs=runs,
        seed=seed,
        binomial=binomial,
        epsilon_cor=epsilon_cor,
        threads=threads,
    )
    return ReconcileResult(text)


def route(
    path_or_text: PathLike,
    duration_s: Optional[float] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
) -> RouteResult:
    """Simulates a route of QKD spans through trusted nodes, like ``qkdsim route``:
    every span a full run, keys relayed by one-time pad, stores and demands over time.

    Args:
        path_or_text: the route file (a path; its ``base`` scenario is read relative to
            the file's folder) or the route's TOML text itself (any string holding a
            newline or ``=``; ``base`` then relative to the current directory).
        duration_s: link time every span simulates; default the route's
            ``simulation.duration_s``.
        seed: route seed (span i runs with a seed derived from it and i).
        threads: worker threads (``None`` or 0: one per core).

    Returns:
        A :class:`RouteResult`; ``to_dict()`` is the ``route --json`` document.

    Raises:
        RouteError: the route file breaks a rule (key paths like
            ``spans[2].link.length_km``).
        KeyboardInterrupt: Ctrl-C.
    """
    if isinstance(path_or_text, str) and ("\n" in path_or_text or "=" in path_or_text):
        text = _qkdsim.route(text=path_or_text, duration_s=duration_s, seed=seed, threads=threads)
    else:
        text = _qkdsim.route(
            path=os.fspath(path_or_text), duration_s=duration_s, seed=seed, threads=threads
        )
    return RouteResult(text)


def grid(start: float, stop: float, steps: int, log: bool = False) -> List[float]:
    """``steps`` values from ``start`` to ``stop``, both included, evenly or (``log``)
    geometrically spaced: the grid of ``qkdsim sweep --from --to --steps [--log]``."""
    return _qkdsim.grid(start, stop, steps, log=log)


def max_threads() -> int:
    """The largest ``threads=`` accepted on this machine."""
    return _qkdsim.max_threads()
