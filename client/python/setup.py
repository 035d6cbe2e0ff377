"""Builds the gRPC stubs from the repository's proto/ while packaging, with
Debian's protoc and grpc_python_plugin (packages protobuf-compiler and
protobuf-compiler-grpc), so generated code is never edited or committed.

    pip install --no-build-isolation client/python
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE.parents[1] / "proto"
PROTO = "focalmetrics/v1/focal_metrics.proto"


class BuildWithStubs(build_py):
    def run(self) -> None:
        protoc = shutil.which("protoc")
        plugin = shutil.which("grpc_python_plugin")
        if protoc is None or plugin is None:
            raise SystemExit("focalmetrics: building needs protoc and grpc_python_plugin "
                             "(apt-get install protobuf-compiler protobuf-compiler-grpc)")
        if not (PROTO_ROOT / PROTO).exists():
            raise SystemExit(f"focalmetrics: {PROTO_ROOT / PROTO} not found; build from the "
                             "repository checkout")
        subprocess.run([protoc, f"-I{PROTO_ROOT}", f"--python_out={HERE}", f"--pyi_out={HERE}",
                        f"--grpc_python_out={HERE}", f"--plugin=protoc-gen-grpc_python={plugin}",
                        str(PROTO_ROOT / PROTO)], check=True)
        (HERE / "focalmetrics" / "v1" / "__init__.py").touch()
        super().run()


setup(cmdclass={"build_py": BuildWithStubs})
