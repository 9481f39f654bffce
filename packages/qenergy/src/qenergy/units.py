"""Power values with units: "245.31 W", "0.7 kW", bare numbers under a column that names its unit.

qenergy never guesses a unit: a bare number needs a column name that says W or kW, and a value
that looks like the other unit (a GPU drawing 0.7 "W", or 700 "kW") is refused, not converted.
"""

from __future__ import annotations

import math
import re

from qenergy.errors import AmbiguousUnits

__all__ = ["check_plausible", "parse_power", "unit_from_name"]

_VALUE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*$")
_SCALE = {"w": 1.0, "kw": 1000.0}  # "mW" is read case-sensitively below; "MW" is refused

# a GPU board draws between ~20 W (idle, low-power parts) and ~1,200 W (B200-class); a
# per-GPU value outside [MIN, MAX] watts is a unit mistake far more often than a real reading
MIN_PLAUSIBLE_W_PER_GPU = 5.0
MAX_PLAUSIBLE_W_PER_GPU = 2000.0


def unit_from_name(name: str) -> str | None:
    """The unit a column name declares: 'W' for power_w / power.draw [W], 'kW' for power_kw."""
    low = name.strip().lower()
    if re.search(r"(\[kw\]|_kw$|\(kw\)|kilowatt)", low):
        return "kW"
    if re.search(r"(\[w\]|_w$|\(w\)|watts?$)", low):
        return "W"
    return None


def parse_power(value: object, field: str, column_unit: str | None) -> float:
    """Watts from ``value``: a number (unit from the column) or a string with its own unit."""
    if isinstance(value, bool):
        raise AmbiguousUnits(
            f"{field}: {value!r} is not a power; give watts, e.g. 245.3 or '245.3 W'."
        )
    if isinstance(value, int | float):
        number, unit = float(value), None
    elif isinstance(value, str):
        match = _VALUE.match(value)
        if match is None:
            raise AmbiguousUnits(
                f"{field}: cannot read {value!r} as a power; write e.g. '245.3 W' or '0.25 kW'."
            )
        number, unit = float(match.group(1)), match.group(2) or None
    else:
        try:  # numpy scalars
            number, unit = float(value), None  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise AmbiguousUnits(
                f"{field}: {type(value).__name__} is not a power; give a number of watts."
            ) from None
    if not math.isfinite(number):
        raise AmbiguousUnits(f"{field}: {value!r} is not finite; give a number of watts.")
    if unit is None:
        unit = column_unit
        if unit is None:
            raise AmbiguousUnits(
                f"{field}: {value!r} has no unit and the column does not name one; name the "
                "column power_w or power_kw, or write the unit ('245.3 W')."
            )
    if unit == "mW":
        return number * 1e-3
    scale = _SCALE.get(unit.lower())
    if scale is None:
        raise AmbiguousUnits(f"{field}: unknown power unit {unit!r} in {value!r}; use W or kW.")
    return number * scale


def check_plausible(watts_per_gpu: float, field: str, unit: str | None) -> None:
    """Refuse a per-GPU power that only makes sense in the other unit (no silent rescaling)."""
    if watts_per_gpu < MIN_PLAUSIBLE_W_PER_GPU and watts_per_gpu != 0.0:
        hint = "kW" if unit != "kW" else "W"
        raise AmbiguousUnits(
            f"{field}: {watts_per_gpu:g} W per GPU is below {MIN_PLAUSIBLE_W_PER_GPU:g} W, which "
            f"looks like a value in {hint}; convert it or name the unit explicitly."
        )
    if watts_per_gpu > MAX_PLAUSIBLE_W_PER_GPU:
        raise AmbiguousUnits(
            f"{field}: {watts_per_gpu:g} W per GPU is above {MAX_PLAUSIBLE_W_PER_GPU:g} W, which "
            "looks like a value in mW or a total for many GPUs; convert it or fix the gpus column."
        )
