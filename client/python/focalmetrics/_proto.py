"""The generated protobuf and gRPC modules, with a helpful error when missing."""

from __future__ import annotations

try:
    from focalmetrics.v1 import focal_metrics_pb2 as pb
    from focalmetrics.v1 import focal_metrics_pb2_grpc as pb_grpc
except ImportError as error:  # pragma: no cover - depends on the build
    raise ImportError(
        "focalmetrics: the generated stubs (focalmetrics/v1/*_pb2.py) are missing. "
        "They are built from proto/ by the CMake build: run scripts/build.sh "
        "(or cmake --build build --target fm_python_stubs)."
    ) from error

__all__ = ["pb", "pb_grpc"]
