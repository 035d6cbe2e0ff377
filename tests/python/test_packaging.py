"""The client installs offline with Debian's python3 (stubs built from proto/
during the build), and the training example learns on imbalanced data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, RunningServer


def test_pip_install_builds_the_stubs_offline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
         "--no-index", "--target", str(site), str(REPO / "client" / "python")],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    env = dict(os.environ, PYTHONPATH=str(site))
    check = subprocess.run(
        [sys.executable, "-c", "import focalmetrics, focalmetrics.v1.focal_metrics_pb2 as pb; "
                               "print(focalmetrics.__file__, pb.DESCRIPTOR.package)"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert check.returncode == 0, check.stderr
    assert str(site) in check.stdout and "focalmetrics.v1" in check.stdout
    cli = subprocess.run([str(site / "bin" / "focalmetrics"), "--help"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert cli.returncode == 0 and "runs" in cli.stdout


def test_training_example_improves_pr_auc(server: RunningServer) -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "client" / "python" / "examples" / "train_imbalanced.py"),
         "--target", server.target, "--epochs", "5", "--run", "example-digits"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO / "client" / "python")))
    assert out.returncode == 0, out.stderr
    macro = [float(m) for m in re.findall(r"PR-AUC macro ([0-9.]+)", out.stdout)]
    assert len(macro) == 5
    assert macro[-1] > macro[0] + 0.2, out.stdout
