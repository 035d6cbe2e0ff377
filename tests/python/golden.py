"""Reads tests/golden/losses.json into the arrays and loss dicts the client takes."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden" / "losses.json"

NUMPY = {"FLOAT32": np.float32, "FLOAT16": np.float16, "FLOAT64": np.float64,
         "INT64": np.int64, "INT32": np.int32, "UINT8": np.uint8, "BOOL": np.bool_}


def load_cases() -> list[dict[str, Any]]:
    return json.loads(GOLDEN.read_text())["cases"]


def array(tensor: dict[str, Any], as_torch: bool = False) -> Any:
    """The tensor in its wire dtype: numpy, or torch where asked (and always for
    BFLOAT16, which numpy lacks)."""
    shape = tuple(tensor["shape"])
    if tensor["dtype"] == "BFLOAT16" or as_torch:
        import torch

        dtype = {"BFLOAT16": torch.bfloat16, "FLOAT32": torch.float32,
                 "FLOAT16": torch.float16, "FLOAT64": torch.float64,
                 "INT64": torch.int64, "INT32": torch.int32, "UINT8": torch.uint8,
                 "BOOL": torch.bool}[tensor["dtype"]]
        return torch.tensor(tensor["values"], dtype=torch.float64).reshape(shape).to(dtype)
    return np.array(tensor["values"], dtype=NUMPY[tensor["dtype"]]).reshape(shape)
