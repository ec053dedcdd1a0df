"""Type stubs of the Rust extension ``qkdsim._qkdsim`` (python/src/). The public API is
``qkdsim`` (``__init__.py``), which wraps these calls; the functions here return the
command line's JSON documents as text."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

__version__: str

_Path = Union[str, "os.PathLike[str]"]
_Number = Union[int, float]

class Scenario:
    """A validated QKD link scenario (the scenario file, defaults filled in)."""

    @classmethod
    def from_file(cls, path: _Path) -> "Scenario":
        """Reads and validates a scenario file (TOML); errors name the file."""
    @classmethod
    def from_toml(cls, text: str, origin: str = "<string>") -> "Scenario":
        """Parses and validates scenario TOML text; ``origin`` names it in messages."""
    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Scenario":
        """Validates a scenario given as nested dicts and lists (the TOML file's shape);
        ``None`` values count as absent."""
    def set(self, key: str, value: Union[_Number, str, bool]) -> "Scenario":
        """Sets one value by its dotted key, with the command line's checks, in place;
        returns the scenario. On error it is unchanged and ``ScenarioError`` is raised."""
    def get(self, key: str) -> Any:
        """The value at a dotted key."""
    def numeric_keys(self) -> List[str]:
        """Every numeric dotted key (what ``set`` takes numbers for, what ``sweep`` sweeps)."""
    def to_dict(self) -> Dict[str, Any]:
        """The effective scenario as nested dicts and lists."""
    def to_toml(self) -> str:
        """The effective scenario as TOML (what ``qkdsim check`` prints)."""
    def copy(self) -> "Scenario":
        """A copy."""
    def __copy__(self) -> "Scenario": ...
    def __deepcopy__(self, memo: Any) -> "Scenario": ...
    @property
    def name(self) -> str:
        """The scenario's ``name``."""
    @property
    def pulses(self) -> int:
        """Pulses a run sends by default."""
    def __eq__(self, other: object) -> bool: ...
    def __reduce__(self) -> Any: ...

def run(
    scenario: Scenario,
    pulses: Optional[_Number] = None,
    seed: Optional[_Number] = None,
    threads: Optional[int] = None,
    engine: Optional[str] = None,
    keep_keys: bool = False,
) -> Tuple[str, Optional[Tuple[bytes, bytes]]]:
    """``run --json`` text and, with ``keep_keys``, both final keys (one byte per bit)."""

def sweep(
    scenario: Scenario,
    param: str,
    values: Sequence[float],
    pulses: Optional[_Number] = None,
    seed: Optional[_Number] = None,
    threads: Optional[int] = None,
    engine: Optional[str] = None,
) -> str:
    """``sweep --json`` text."""

def theory(
    scenario: Scenario,
    from_km: Optional[float] = None,
    to_km: Optional[float] = None,
    steps: Optional[int] = None,
    distances_km: Optional[Sequence[float]] = None,
    optimize: bool = False,
    detector_model: str = "mean_field",
) -> str:
    """``theory --json`` text."""

def reconcile(
    bits: _Number,
    qber: float,
    variant: str = "yanetal",
    runs: Optional[_Number] = None,
    seed: Optional[_Number] = None,
    binomial: bool = False,
    epsilon_cor: float = 1e-15,
    threads: Optional[int] = None,
) -> str:
    """``reconcile --json`` text."""

def route(
    path: Optional[_Path] = None,
    text: Optional[str] = None,
    duration_s: Optional[float] = None,
    seed: Optional[_Number] = None,
    threads: Optional[int] = None,
) -> str:
    """``route --json`` text, from a route file or its text."""

def grid(start: float, stop: float, steps: _Number, log: bool = False) -> List[float]:
    """The grid of ``qkdsim sweep --from --to --steps [--log]``."""

def max_threads() -> int:
    """The largest ``threads=`` accepted on this machine."""
