"""DESIGN.md's focal gamma presets, by name. No dependencies: the torch
modules, the CLI and the loss specifications all read them."""

from __future__ import annotations

from typing import Mapping, Union

# DESIGN.md's focal gamma presets (core/run/recommendation.h has the same).
GAMMA_PRESETS: Mapping[str, float] = {
    "extreme_imbalance": 5.0,
    "object_detection": 2.0,
    "medical_rare_disease": 3.0,
    "mild_imbalance": 1.0,
    "no_imbalance": 0.0,
}


def gamma_value(value: Union[str, float], what: str = "gamma") -> float:
    """A focusing exponent given as a number ("2" or 2) or a preset name
    ("medical_rare_disease" is 3)."""
    if isinstance(value, str):
        preset = GAMMA_PRESETS.get(value.strip().lower())
        if preset is not None:
            return preset
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{what}: {value!r} is neither a number nor a preset ("
                             + ", ".join(f"{k} = {v:g}" for k, v in GAMMA_PRESETS.items())
                             + ")") from None
    return float(value)
