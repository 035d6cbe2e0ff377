"""focalmetrics.torch: the loss modules equal the golden PyTorch/torchvision
references and the running server (value, per-element values, gradient), and
ClassBalancedFocalLoss.from_service follows a run's class counts."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections import defaultdict
from typing import Any, Callable

import numpy as np
import pytest
import torch

import focalmetrics
from conftest import REPO, RunningServer
from focalmetrics.torch import (AsymmetricLoss, ClassBalancedFocalLoss, FocalDiceLoss,
                                FocalLoss, OHEMLoss, RetinaNetLoss, effective_number_weights)
from golden import array, load_cases

KINDS = ("FOCAL", "CLASS_BALANCED_FOCAL", "ASYMMETRIC", "OHEM", "FOCAL_DICE", "RETINANET")
CASES = [case for case in load_cases() if any(e["spec"]["kind"] in KINDS for e in case["losses"])]
TOLERANCE = {"rtol": 1e-5, "atol": 1e-12}


def module_for(case: dict[str, Any], spec: dict[str, Any]) -> torch.nn.Module:
    """The module computing `spec` (a golden LossSpec dict) on `case`'s task."""
    kind, task = spec["kind"], case["task"].lower()
    common = {"reduction": spec["reduction"].lower(), "input_kind": case["input_kind"].lower()}
    ignore = {"ignore_index": case["ignore_index"]} if "ignore_index" in case else {}
    if kind == "FOCAL" and task == "multiclass":
        return FocalLoss(gamma=spec.get("gamma", 2.0), task="multiclass",
                         class_alpha=spec.get("class_alpha"), **ignore, **common)
    if kind == "FOCAL":
        return FocalLoss(alpha=spec.get("alpha", 0.25), gamma=spec.get("gamma", 2.0),
                         task=task, **common)
    if kind == "CLASS_BALANCED_FOCAL":
        return ClassBalancedFocalLoss(spec["samples_per_class"], beta=spec.get("beta", 0.999),
                                      gamma=spec.get("gamma", 2.0), **ignore, **common)
    if kind == "ASYMMETRIC":
        return AsymmetricLoss(gamma_pos=spec.get("gamma_pos", 1.0),
                              gamma_neg=spec.get("gamma_neg", 4.0), clip=spec.get("clip", 0.05),
                              **common)
    if kind == "OHEM":
        return OHEMLoss(ratio=spec.get("ohem_ratio", 0.25),
                        task="binary" if task == "binary" else "multiclass", **ignore, **common)
    if kind == "FOCAL_DICE":
        return FocalDiceLoss(alpha=spec.get("alpha", 0.25), gamma=spec.get("gamma", 2.0),
                             **common)
    assert kind == "RETINANET", kind
    return RetinaNetLoss(alpha=spec.get("alpha", 0.25), gamma=spec.get("gamma", 2.0),
                         smooth_l1_beta=spec.get("smooth_l1_beta", 1.0), **common)


def float64_inputs(case: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, tuple[Any, ...]]:
    """The case's scores as float64 holding the values of its wire dtype,
    targets as float64 (sigmoid tasks) or int64 class ids, and the boxes."""
    shape = tuple(case["scores"]["shape"])
    scores = torch.tensor(case["scores"]["values"], dtype=torch.float64).reshape(shape)
    class_ids = case["task"] in ("MULTICLASS", "DETECTION")
    targets = torch.tensor(case["targets"]["values"],
                           dtype=torch.int64 if class_ids else torch.float64)
    targets = targets.reshape(tuple(case["targets"]["shape"]))
    boxes: tuple[Any, ...] = ()
    if "box_preds" in case:
        boxes = tuple(torch.tensor(case[k]["values"], dtype=torch.float64).reshape(-1, 4)
                      for k in ("box_preds", "box_targets"))
    return scores, targets, boxes


def evaluate(module: torch.nn.Module, case: dict[str, Any]) -> tuple[torch.Tensor, np.ndarray]:
    """The module's output on the case and d(output.sum()) / d scores."""
    scores, targets, boxes = float64_inputs(case)
    leaf = scores.clone().requires_grad_(True)
    out = module(leaf, targets, *boxes)
    assert out.dtype == torch.float64
    (gradient,) = torch.autograd.grad(out.sum(), leaf)
    assert torch.isfinite(gradient).all()
    return out.detach(), gradient.numpy()


def implemented(case: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in case["losses"] if e["spec"]["kind"] in KINDS]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_golden_reference(case: dict[str, Any]) -> None:
    for expected in implemented(case):
        label = f"{case['id']} {expected['spec']}"
        out, gradient = evaluate(module_for(case, expected["spec"]), case)
        np.testing.assert_allclose(float(out.sum()), expected["value"], err_msg=label,
                                   **TOLERANCE)
        np.testing.assert_allclose(gradient.reshape(-1), expected["gradient"], err_msg=label,
                                   **TOLERANCE)
        assert gradient.shape == tuple(case["scores"]["shape"])
        if expected["spec"]["reduction"] == "NONE":
            assert tuple(out.shape) == tuple(expected["values_shape"]), label
            np.testing.assert_allclose(out.reshape(-1).numpy(), expected["values"],
                                       err_msg=label, **TOLERANCE)
        else:
            assert out.dim() == 0, label


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_running_server(client: focalmetrics.Client, case: dict[str, Any]) -> None:
    by_reduction: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for expected in implemented(case):
        by_reduction[expected["spec"]["reduction"]].append(expected)
    kwargs: dict[str, Any] = {}
    if "ignore_index" in case:
        kwargs["ignore_index"] = case["ignore_index"]
    if "box_preds" in case:
        kwargs["box_preds"] = array(case["box_preds"])
        kwargs["box_targets"] = array(case["box_targets"])
    for group in by_reduction.values():
        served = client.compute_loss(
            array(case["scores"]), array(case["targets"]), task=case["task"],
            input_kind=case["input_kind"], losses=[dict(e["spec"]) for e in group],
            return_gradients=True, **kwargs)
        for expected, result in zip(group, served.values()):
            label = f"{case['id']} {expected['spec']}"
            out, gradient = evaluate(module_for(case, expected["spec"]), case)
            np.testing.assert_allclose(float(out.sum()), result.value, err_msg=label,
                                       **TOLERANCE)
            np.testing.assert_allclose(gradient, result.gradient, err_msg=label, **TOLERANCE)
            if result.values is not None:
                np.testing.assert_allclose(out.numpy(), result.values, err_msg=label,
                                           **TOLERANCE)


def test_golden_set_covers_every_module() -> None:
    seen = {(e["spec"]["kind"], c["task"]) for c in CASES for e in implemented(c)}
    assert seen >= {("FOCAL", "BINARY"), ("FOCAL", "MULTILABEL"), ("FOCAL", "MULTICLASS"),
                    ("CLASS_BALANCED_FOCAL", "MULTICLASS"), ("ASYMMETRIC", "MULTILABEL"),
                    ("OHEM", "BINARY"), ("OHEM", "MULTICLASS"), ("FOCAL_DICE", "BINARY"),
                    ("RETINANET", "DETECTION")}


# ---- numerics beyond the golden set --------------------------------------------


EXTREME = torch.tensor([1e4, -1e4, 730.0, -730.0, 40.0, -40.0, 0.0], dtype=torch.float64)


@pytest.mark.parametrize("make", [
    lambda: FocalLoss(alpha=-1.0, gamma=0.5),
    lambda: FocalLoss(gamma=0.3, reduction="sum"),
    lambda: AsymmetricLoss(gamma_pos=0.5, gamma_neg=0.5, clip=0.0),
    lambda: AsymmetricLoss(gamma_pos=0.25, gamma_neg=0.7),
    lambda: FocalDiceLoss(gamma=0.5),
], ids=["focal_noalpha_g05", "focal_g03", "asl_noclip_g05", "asl_clip_g07", "focal_dice_g05"])
def test_sigmoid_gradient_is_finite_where_autograd_of_the_formula_is_not(
        make: Callable[[], torch.nn.Module]) -> None:
    # p_t = 1 exactly at +-1e4: d (1 - p_t)^gamma with gamma < 1 is 0 * inf in
    # a naive autograd; the limit is 0. +-730 makes 1 - p_t subnormal.
    x = EXTREME.clone().requires_grad_(True)
    targets = (EXTREME > 0).double()
    value = make()(x, targets)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(x.grad).all()
    assert x.grad[0] == 0 and x.grad[1] == 0


def test_softmax_gradient_is_finite_at_certainty() -> None:
    x = torch.tensor([[1e4, 0.0, -5.0], [0.0, 800.0, 0.0], [1.0, 2.0, 3.0]],
                     dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 1, 2])
    for module in (FocalLoss(gamma=0.5, task="multiclass"),
                   ClassBalancedFocalLoss([5, 5, 2], gamma=0.25)):
        (gradient,) = torch.autograd.grad(module(x, targets), x)
        assert torch.isfinite(gradient).all()
        assert (gradient[:2] == 0).all() and (gradient[2] != 0).all()


def test_confident_rows_keep_relative_precision() -> None:
    # p_t = 1 - e^-40: log_softmax would round log p_t to 0 and lose the loss.
    x = torch.tensor([[40.0, 0.0]], dtype=torch.float64, requires_grad=True)
    loss = FocalLoss(gamma=0.0, task="multiclass")(x, torch.tensor([0]))
    assert loss.item() == pytest.approx(np.exp(-40.0), rel=1e-12)
    loss.backward()
    assert x.grad[0, 0].item() == pytest.approx(-np.exp(-40.0), rel=1e-12)
    bce = FocalLoss(alpha=-1.0, gamma=0.0)(torch.tensor([40.0], dtype=torch.float64),
                                          torch.tensor([1.0], dtype=torch.float64))
    assert bce.item() == pytest.approx(4.248354255291589e-18, rel=1e-12)


def test_custom_backward_passes_gradcheck() -> None:
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(6, 5, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    soft = torch.rand(6, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 4, 2, -100, 1, 3])
    boxes = torch.randn(6, 4, generator=g, dtype=torch.float64)
    anchors = torch.tensor([0, -1, -2, 3, -1, 4])
    checks: list[Callable[[torch.Tensor], torch.Tensor]] = [
        lambda v: FocalLoss(gamma=1.5)(v, soft),
        lambda v: FocalLoss(gamma=2.5, task="multiclass", class_alpha=[1, 2, 3, 4, 5],
                            ignore_index=-100, reduction="none")(v, labels),
        lambda v: ClassBalancedFocalLoss([9, 1, 0, 4, 2], beta=0.9, ignore_index=-100)(v, labels),
        lambda v: AsymmetricLoss(reduction="sum")(v, (soft > 0.5).double()),
        lambda v: OHEMLoss(ratio=0.5, ignore_index=-100)(v, labels),
        lambda v: FocalDiceLoss()(v, (soft > 0.7).double()),
        lambda v: RetinaNetLoss(smooth_l1_beta=0.5)(v, anchors, boxes, boxes * 0.5),
        lambda v: FocalLoss(input_kind="probabilities")(torch.sigmoid(v), soft),
    ]
    for check in checks:
        assert torch.autograd.gradcheck(check, (x,), eps=1e-6, atol=1e-7)


def test_dtypes_and_mean_over_nothing() -> None:
    g = torch.Generator().manual_seed(5)
    x64 = torch.randn(64, 7, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 7, (64,), generator=g)
    module = FocalLoss(task="multiclass")
    reference = module(x64, labels)
    for dtype, rtol in ((torch.float32, 1e-6), (torch.float16, 1e-2), (torch.bfloat16, 2e-2)):
        x = x64.to(dtype).requires_grad_(True)
        value = module(x, labels)
        assert value.dtype == (torch.float32 if dtype != torch.float32 else dtype)
        value.backward()
        assert x.grad is not None and x.grad.dtype == dtype
        assert value.item() == pytest.approx(reference.item(), rel=rtol)
    everything_ignored = FocalLoss(task="multiclass", ignore_index=-1)
    x = x64[:3].clone().requires_grad_(True)
    value = everything_ignored(x, torch.full((3,), -1))
    value.backward()
    assert value.item() == 0.0 and (x.grad == 0).all()
    assert OHEMLoss(ignore_index=-1)(x64[:3], torch.full((3,), -1)).item() == 0.0
    assert FocalLoss()(torch.zeros(0), torch.zeros(0)).item() == 0.0


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="class_alpha"):
        FocalLoss(alpha=0.25, task="multiclass")
    with pytest.raises(ValueError, match="reduction"):
        FocalDiceLoss(reduction="none")
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match="beta"):
        ClassBalancedFocalLoss([1, 2], beta=1.0)
    with pytest.raises(ValueError, match="ratio"):
        OHEMLoss(ratio=0.0)
    with pytest.raises(ValueError, match="samples_per_class"):
        ClassBalancedFocalLoss([1, 2, 3])(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))


def test_gamma_presets_are_design_values(client: focalmetrics.Client) -> None:
    """DESIGN.md's presets by name, in the torch modules and in loss specs sent
    to the server: the same loss as the number."""
    assert dict(focalmetrics.GAMMA_PRESETS) == {
        "extreme_imbalance": 5.0, "object_detection": 2.0, "medical_rare_disease": 3.0,
        "mild_imbalance": 1.0, "no_imbalance": 0.0}
    x = torch.randn(64, 5, dtype=torch.float64)
    t = torch.randint(0, 5, (64,))
    by_name = FocalLoss(gamma="medical_rare_disease", task="multiclass")
    assert by_name.gamma == 3.0
    assert torch.equal(by_name(x, t), FocalLoss(gamma=3.0, task="multiclass")(x, t))
    assert AsymmetricLoss(gamma_pos="no_imbalance", gamma_neg="EXTREME_IMBALANCE").gamma_neg == 5
    served = client.compute_loss(x.numpy(), t.numpy(), task="multiclass",
                                 losses=[{"kind": "focal", "gamma": "extreme_imbalance",
                                          "name": "preset"},
                                         {"kind": "focal", "gamma": 5}])
    assert served["preset"].value == served["focal"].value
    with pytest.raises(ValueError, match="'huge' is neither a number nor a preset"):
        FocalLoss(gamma="huge")


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, focalmetrics; sys.exit('torch' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYTHONPATH": str(REPO / "client" / "python")})


# ---- the closed class-balance loop ----------------------------------------------


def report(client: focalmetrics.Client, run: str, counts: list[int], seq: int) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    scores = np.zeros((len(labels), len(counts)), np.float32)
    client.report(run, scores, labels, task="multiclass", worker="w", seq=seq)


def batch(classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    return (torch.randn(12, classes, generator=g, dtype=torch.float64),
            torch.arange(12) % classes)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_from_service_refreshes_from_the_run(client: focalmetrics.Client) -> None:
    report(client, "torch-cb", [300, 30, 3], seq=1)
    loss = ClassBalancedFocalLoss.from_service(client, "torch-cb", refresh_every=3, beta=0.99)
    x, y = batch()
    first = loss(x, y)
    served = client.class_weights("torch-cb", scheme="effective_number", beta=0.99)
    assert loss.refreshes == 1 and loss.last_refresh_error is None
    assert loss.samples_per_class == [300, 30, 3]
    np.testing.assert_allclose(loss.class_weights.numpy(), served.weights, rtol=1e-12)
    # The server's beta is a proto float.
    local = ClassBalancedFocalLoss([300, 30, 3], beta=float(np.float32(0.99)))
    assert first.item() == pytest.approx(local(x, y).item(), rel=1e-12)
    expected = client.compute_loss(x.numpy(), y.numpy(), task="multiclass",
                                   losses="class_balanced_focal", run="torch-cb")
    assert ClassBalancedFocalLoss.from_service(client, "torch-cb")(x, y).item() == pytest.approx(
        expected["class_balanced_focal"].value, rel=1e-6)

    # New counts are picked up at the next refresh, not before.
    report(client, "torch-cb", [0, 0, 3000], seq=2)
    before = loss.class_weights.clone()
    loss(x, y)
    loss(x, y)
    assert torch.equal(loss.class_weights, before) and loss.refreshes == 1
    loss(x, y)  # the 4th call refreshes
    assert loss.refreshes == 2 and loss.samples_per_class == [300, 30, 3003]
    np.testing.assert_allclose(loss.class_weights.numpy(), effective_number_weights(
        [300, 30, 3003], float(np.float32(0.99))), rtol=1e-12)


def test_from_service_keeps_the_last_weights_when_the_server_goes_away() -> None:
    server = RunningServer()
    try:
        with focalmetrics.Client(server.target, timeout=2.0) as client:
            report(client, "torch-cb-down", [50, 5, 500], seq=1)
            loss = ClassBalancedFocalLoss.from_service(client, "torch-cb-down", refresh_every=2,
                                                       timeout=0.5)
            x, y = batch()
            value = loss(x, y)
            weights = loss.class_weights.clone()
            assert loss.refreshes == 1
            server.kill()
            loss(x, y)
            x.requires_grad_(True)
            after = loss(x, y)  # the 3rd call's refresh fails
            after.backward()
            assert isinstance(loss.last_refresh_error, focalmetrics.FocalMetricsError)
            assert torch.equal(loss.class_weights, weights) and loss.refreshes == 1
            assert after.item() == value.item() and torch.isfinite(x.grad).all()
    finally:
        server.kill()


def test_from_service_without_a_server_trains_with_uniform_weights() -> None:
    with focalmetrics.Client(f"127.0.0.1:{closed_port()}", timeout=0.5) as nowhere:
        loss = ClassBalancedFocalLoss.from_service(nowhere, "any-run", refresh_every=1)
        x, y = batch(4)
        for _ in range(2):
            value = loss(x, y)
        assert isinstance(loss.last_refresh_error, focalmetrics.FocalMetricsError)
        assert loss.refreshes == 0 and loss.forward_calls == 2
        assert value.item() == pytest.approx(FocalLoss(task="multiclass")(x, y).item(),
                                             rel=1e-12)


def test_from_service_records_an_unknown_run(client: focalmetrics.Client) -> None:
    loss = ClassBalancedFocalLoss.from_service(client, "torch-no-such-run")
    assert not loss.refresh()
    assert isinstance(loss.last_refresh_error, focalmetrics.FocalMetricsError)
    report(client, "torch-cb-2", [4, 4], seq=1)
    mismatched = ClassBalancedFocalLoss.from_service(client, "torch-cb-2")
    x, y = batch(3)
    mismatched(x, y)
    assert "2 classes" in str(mismatched.last_refresh_error)
