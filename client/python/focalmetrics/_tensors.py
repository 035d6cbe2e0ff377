"""Conversion between numpy arrays / torch tensors and the wire Tensor message."""

from __future__ import annotations

from typing import Any

import numpy as np

from focalmetrics._proto import pb

_NUMPY_DTYPES: dict[np.dtype, int] = {
    np.dtype(np.float32): pb.DTYPE_FLOAT32,
    np.dtype(np.float16): pb.DTYPE_FLOAT16,
    np.dtype(np.float64): pb.DTYPE_FLOAT64,
    np.dtype(np.int64): pb.DTYPE_INT64,
    np.dtype(np.int32): pb.DTYPE_INT32,
    np.dtype(np.uint8): pb.DTYPE_UINT8,
    np.dtype(np.bool_): pb.DTYPE_BOOL,
}


def _is_torch_tensor(value: Any) -> bool:
    # Checked by module name so that torch is imported only by its users.
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def to_tensor(value: Any, name: str) -> pb.Tensor:
    """A Tensor message holding `value` (numpy array, torch tensor on any device,
    or anything np.asarray accepts) in its own dtype, row-major little-endian."""
    if _is_torch_tensor(value):
        import torch  # noqa: PLC0415 - only for torch users

        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        tensor = tensor.contiguous()
        if tensor.dtype == torch.bfloat16:
            raw = tensor.view(torch.int16).numpy()
            return pb.Tensor(shape=list(tensor.shape), dtype=pb.DTYPE_BFLOAT16,
                             data=raw.astype("<i2", copy=False).tobytes())
        array = tensor.numpy()
    else:
        array = np.asarray(value)
    dtype = _NUMPY_DTYPES.get(array.dtype.newbyteorder("="))
    if dtype is None:
        raise TypeError(
            f"{name}: dtype {array.dtype} is not supported; use float32, float16, "
            "bfloat16 (torch), float64, int64, int32, uint8 or bool")
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return pb.Tensor(shape=list(array.shape), dtype=dtype,
                     data=np.ascontiguousarray(little).tobytes())


def from_float64_tensor(tensor: pb.Tensor) -> np.ndarray:
    """The FLOAT64 tensors the server returns, as numpy arrays."""
    return np.frombuffer(tensor.data, dtype="<f8").reshape(tuple(tensor.shape)).copy()
