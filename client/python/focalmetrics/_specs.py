"""Loss specifications and enum names as users write them, turned into messages."""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

from focalmetrics._presets import gamma_value
from focalmetrics._proto import pb

LossLike = Union[str, Mapping[str, Any], "pb.LossSpec"]

_GAMMA_KEYS = ("gamma", "gamma_pos", "gamma_neg")
_FLOAT_PARAMETERS = ("alpha", "gamma", "beta", "gamma_pos", "gamma_neg", "clip",
                     "ohem_ratio", "smooth_l1_beta")


def enum_value(enum: Any, prefix: str, value: Union[str, int], what: str) -> int:
    """`"binary"`, `"BINARY"`, `"TASK_BINARY"` or the number, for enum `prefix`."""
    if isinstance(value, int):
        return value
    name = value.upper()
    if not name.startswith(prefix):
        name = prefix + name
    try:
        return enum.Value(name)
    except ValueError:
        choices = ", ".join(n[len(prefix):].lower() for n in enum.keys()
                            if not n.endswith("UNSPECIFIED"))
        raise ValueError(f"{what}: unknown {value!r}; expected one of {choices}") from None


def loss_spec(loss: LossLike) -> pb.LossSpec:
    """A LossSpec from a kind name ("focal"), a dict of fields
    ({"kind": "focal", "gamma": 3, "name": "focal_g3"}) or a LossSpec."""
    if isinstance(loss, pb.LossSpec):
        return loss
    if isinstance(loss, str):
        loss = {"kind": loss}
    fields = dict(loss)
    if "kind" not in fields:
        raise ValueError(f"loss {loss!r}: 'kind' is required (e.g. 'focal')")
    spec = pb.LossSpec(kind=enum_value(pb.LossKind, "LOSS_KIND_", fields.pop("kind"), "loss kind"))
    if "reduction" in fields:
        spec.reduction = enum_value(pb.Reduction, "REDUCTION_", fields.pop("reduction"), "reduction")
    if "name" in fields:
        spec.name = fields.pop("name")
    for key in _FLOAT_PARAMETERS:
        if key in fields:
            value = fields.pop(key)
            setattr(spec, key, gamma_value(value, key) if key in _GAMMA_KEYS else float(value))
    if "class_alpha" in fields:
        spec.class_alpha.extend(float(a) for a in fields.pop("class_alpha"))
    if "samples_per_class" in fields:
        spec.samples_per_class.extend(int(n) for n in fields.pop("samples_per_class"))
    if fields:
        raise ValueError(f"loss {loss!r}: unknown fields {sorted(fields)}")
    return spec


def loss_specs(losses: Union[LossLike, Sequence[LossLike]]) -> list[pb.LossSpec]:
    if isinstance(losses, (str, Mapping, pb.LossSpec)):
        return [loss_spec(losses)]
    return [loss_spec(loss) for loss in losses]
