#!/usr/bin/python3
"""Writes tests/golden/losses.json: loss values and gradients from the reference
implementations, for the C++ core test and the gRPC test to check against.

References (Debian's python3-torch 1.13 and python3-torchvision 0.14, float64):
- CROSS_ENTROPY: torch.nn.functional.binary_cross_entropy_with_logits /
  cross_entropy (ignore_index) / binary_cross_entropy for probabilities.
- FOCAL (BINARY, MULTILABEL): torchvision.ops.sigmoid_focal_loss.
- FOCAL (MULTICLASS), CLASS_BALANCED_FOCAL: -(1-p_t)^g log p_t from log_softmax
  times a per-class weight; class-balanced weights as in Cui et al.'s official
  code (effective number, normalised to sum to C).
- ASYMMETRIC: the formula of DESIGN.md, which on hard targets equals the
  official ASL code's AsymmetricLoss (checked below) divided by the element
  count (DESIGN.md takes the mean where the official code sums).
- OHEM: per-sample cross-entropy, mean of the top-k.
- FOCAL_DICE: sigmoid_focal_loss mean plus the soft dice term.
- RETINANET: torchvision's RetinaNet head semantics: sigmoid_focal_loss summed
  over non-ignored anchors plus smooth_l1_loss over foreground boxes, both over
  max(1, foreground).

Gradients come from torch.autograd on the reduced value (for NONE, its sum).
Scores of FLOAT32/FLOAT16/BFLOAT16 cases are rounded to that dtype first, and
the reference is computed on the rounded values. MEAN over zero elements is
0 by focalmetrics' definition (docs/losses.md); torch would give NaN.

Run: /usr/bin/python3 tests/golden/generate_losses.py  (deterministic).
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

OUT = pathlib.Path(__file__).with_name("losses.json")
REDUCTIONS = ("MEAN", "SUM", "NONE")
TORCH_DTYPES = {
    "FLOAT32": torch.float32,
    "FLOAT16": torch.float16,
    "BFLOAT16": torch.bfloat16,
    "FLOAT64": torch.float64,
}


def f32(value: float) -> float:
    """The value a proto `float` field holds."""
    return float(np.float32(value))


def rounded(x: torch.Tensor, dtype: str) -> torch.Tensor:
    return x.to(TORCH_DTYPES[dtype]).to(torch.float64)


def tensor_json(x: torch.Tensor, dtype: str) -> dict[str, Any]:
    values = x.detach().reshape(-1).tolist()
    if dtype in ("INT64", "INT32", "UINT8", "BOOL"):
        values = [int(v) for v in values]
    return {"shape": list(x.shape), "dtype": dtype, "values": values}


def reduce(per_element: torch.Tensor, reduction: str, count: Optional[int] = None) -> torch.Tensor:
    """MEAN divides by max(1, count): torch's mean where count > 0."""
    if reduction == "NONE":
        return per_element
    total = per_element.sum()
    if reduction == "SUM":
        return total
    n = per_element.numel() if count is None else count
    return total / max(1, n)


# ---- references ------------------------------------------------------------


def sigmoid_ce(x, t, r, probabilities=False):
    if probabilities:
        per = F.binary_cross_entropy(x, t, reduction="none")
    else:
        per = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    if r == "MEAN" and x.numel() > 0:
        if probabilities:
            return F.binary_cross_entropy(x, t, reduction="mean")
        return F.binary_cross_entropy_with_logits(x, t, reduction="mean")
    return reduce(per, r)


def focal_on_probabilities(p, t, alpha, gamma):
    # torchvision's formula with the probabilities given directly.
    ce = F.binary_cross_entropy(p, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


def sigmoid_focal(x, t, r, alpha=0.25, gamma=2.0, probabilities=False):
    if probabilities:
        return reduce(focal_on_probabilities(x, t, alpha, gamma), r)
    if r == "MEAN" and x.numel() > 0:
        return sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction="mean")
    return reduce(sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction="none"), r)


def asymmetric_official_sum(x, y, gamma_neg, gamma_pos, clip, eps=1e-8):
    """The official ASL code's AsymmetricLoss.forward (hard targets)."""
    x_sigmoid = torch.sigmoid(x)
    xs_pos = x_sigmoid
    xs_neg = 1 - x_sigmoid
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    los_pos = y * torch.log(xs_pos.clamp(min=eps))
    los_neg = (1 - y) * torch.log(xs_neg.clamp(min=eps))
    loss = los_pos + los_neg
    if gamma_neg > 0 or gamma_pos > 0:
        pt = xs_pos * y + xs_neg * (1 - y)
        one_sided_gamma = gamma_pos * y + gamma_neg * (1 - y)
        loss *= torch.pow(1 - pt, one_sided_gamma)
    return -loss.sum()


def asymmetric(x, t, r, gamma_pos=1.0, gamma_neg=4.0, clip=0.05):
    eps = 1e-8
    p = torch.sigmoid(x)
    p_m = (p - clip).clamp(min=0)
    pos = t * (1 - p) ** gamma_pos * torch.log(p.clamp(min=eps))
    neg = (1 - t) * p_m**gamma_neg * torch.log((1 - p_m).clamp(min=eps))
    per = -(pos + neg)
    hard = bool(((t == 0) | (t == 1)).all())
    if hard and x.numel() > 0:
        official = asymmetric_official_sum(x.detach(), t, gamma_neg, gamma_pos, clip)
        assert torch.allclose(per.detach().sum(), official, rtol=1e-12, atol=1e-12), (
            per.sum(), official)
    return reduce(per, r)


def ohem_binary(x, t, r, ratio=0.25):
    per = F.binary_cross_entropy_with_logits(x, t, reduction="none").reshape(-1)
    return ohem_select(per, r, ratio, x.shape)


def ohem_select(per, r, ratio, shape, eligible=None):
    n = per.numel() if eligible is None else int(eligible.sum())
    if n == 0:
        return per.sum() * 0 if r != "NONE" else (per * 0).reshape(shape)
    k = max(1, int(math.floor(ratio * n)))
    candidates = per if eligible is None else per.masked_fill(~eligible, -math.inf)
    top = torch.topk(candidates, k)
    if r == "MEAN":
        return top.values.mean()
    if r == "SUM":
        return top.values.sum()
    keep = torch.zeros_like(per, dtype=torch.bool)
    keep[top.indices] = True
    return torch.where(keep, per, torch.zeros_like(per)).reshape(shape)


def focal_dice(x, t, r, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(x)
    dice = 1 - 2 * (p * t).sum() / (p.sum() + t.sum() + 1)
    return sigmoid_focal(x, t, r, alpha, gamma) + dice


def softmax_focal_rows(x, t, gamma, weights, ignore_index, probabilities=False):
    logp = torch.log(x) if probabilities else F.log_softmax(x, dim=1)
    valid = torch.ones_like(t, dtype=torch.bool) if ignore_index is None else t != ignore_index
    safe_t = torch.where(valid, t, torch.zeros_like(t))
    lp_t = logp.gather(1, safe_t[:, None])[:, 0]
    w = torch.ones_like(lp_t) if weights is None else torch.tensor(weights, dtype=torch.float64)[safe_t]
    per = -w * (1 - torch.exp(lp_t)) ** gamma * lp_t
    return torch.where(valid, per, torch.zeros_like(per)), valid


def softmax_ce(x, t, r, ignore_index=None, probabilities=False):
    if probabilities:
        per, valid = softmax_focal_rows(x, t, 0.0, None, ignore_index, True)
        return reduce(per, r, int(valid.sum()))
    kwargs = {} if ignore_index is None else {"ignore_index": ignore_index}
    valid = int((t != ignore_index).sum()) if ignore_index is not None else t.numel()
    if r == "MEAN" and valid > 0:
        return F.cross_entropy(x, t, reduction="mean", **kwargs)
    per = F.cross_entropy(x, t, reduction="none", **kwargs) if x.shape[0] else x.sum(1)
    return reduce(per, r, valid)


def softmax_focal(x, t, r, gamma=2.0, class_alpha=None, ignore_index=None, probabilities=False):
    per, valid = softmax_focal_rows(x, t, gamma, class_alpha, ignore_index, probabilities)
    return reduce(per, r, int(valid.sum()))


def class_balanced_weights(samples_per_class: list[int], beta: float) -> list[float]:
    # Cui et al.'s official code, with n_c = 0 counted as 1.
    n = np.maximum(np.array(samples_per_class, dtype=np.float64), 1)
    effective_num = 1.0 - np.power(beta, n)
    weights = (1.0 - beta) / effective_num
    weights = weights / np.sum(weights) * len(samples_per_class)
    return weights.tolist()


def softmax_ohem(x, t, r, ratio=0.25, ignore_index=None):
    per, valid = softmax_focal_rows(x, t, 0.0, None, ignore_index)
    return ohem_select(per, r, ratio, per.shape, valid)


def detection_targets(t, classes):
    valid = t != -2
    onehot = torch.zeros(t.shape[0], classes, dtype=torch.float64)
    fg = t >= 0
    onehot[fg, t[fg]] = 1.0
    return valid, fg, onehot


def detection_ce(x, t, r):
    valid, _, onehot = detection_targets(t, x.shape[1])
    per = F.binary_cross_entropy_with_logits(x, onehot, reduction="none")
    per = torch.where(valid[:, None], per, torch.zeros_like(per))
    return reduce(per, r, int(valid.sum()) * x.shape[1])


def retinanet(x, t, r, box_preds, box_targets, alpha=0.25, gamma=2.0, beta=1.0):
    valid, fg, onehot = detection_targets(t, x.shape[1])
    n_fg = max(1, int(fg.sum()))
    if r == "NONE":
        cls = sigmoid_focal_loss(x, onehot, alpha=alpha, gamma=gamma, reduction="none").sum(1)
        cls = torch.where(valid, cls, torch.zeros_like(cls))
        box = F.smooth_l1_loss(box_preds, box_targets, beta=beta, reduction="none").sum(1)
        return cls + torch.where(fg, box, torch.zeros_like(box))
    cls = sigmoid_focal_loss(x[valid], onehot[valid], alpha=alpha, gamma=gamma, reduction="sum")
    box = F.smooth_l1_loss(box_preds[fg], box_targets[fg], beta=beta, reduction="sum")
    total = cls + box
    return total / n_fg if r == "MEAN" else total


# ---- cases -------------------------------------------------------------------


class Writer:
    def __init__(self) -> None:
        self.cases: list[dict[str, Any]] = []

    def add(self, case_id: str, task: str, scores: torch.Tensor, dtype: str,
            targets: torch.Tensor, target_dtype: str,
            losses: list[tuple[dict[str, Any], Callable[..., torch.Tensor]]],
            input_kind: str = "LOGITS", ignore_index: Optional[int] = None,
            boxes: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> None:
        x = rounded(scores, dtype)
        case: dict[str, Any] = {
            "id": case_id, "task": task, "input_kind": input_kind,
            "scores": tensor_json(x, dtype),
            "targets": tensor_json(targets, target_dtype),
            "losses": [],
        }
        if ignore_index is not None:
            case["ignore_index"] = ignore_index
        if boxes is not None:
            case["box_preds"] = tensor_json(boxes[0], "FLOAT64")
            case["box_targets"] = tensor_json(boxes[1], "FLOAT64")
        for spec, fn in losses:
            for reduction in REDUCTIONS:
                if spec["kind"] == "FOCAL_DICE" and reduction == "NONE":
                    continue
                leaf = x.clone().requires_grad_(True)
                value = fn(leaf, reduction)
                total = value.sum()
                if leaf.numel() > 0:
                    (grad,) = torch.autograd.grad(total, leaf, allow_unused=True)
                    if grad is None:
                        grad = torch.zeros_like(leaf)
                else:
                    grad = torch.zeros_like(leaf)
                expected: dict[str, Any] = {
                    "spec": dict(spec, reduction=reduction),
                    "value": float(total),
                    "gradient": grad.reshape(-1).tolist(),
                }
                if reduction == "NONE":
                    expected["values"] = value.detach().reshape(-1).tolist()
                    expected["values_shape"] = list(value.shape)
                assert all(math.isfinite(v) for v in expected["gradient"]), case_id
                assert math.isfinite(expected["value"]), (case_id, spec, reduction)
                case["losses"].append(expected)
        self.cases.append(case)


def main() -> None:
    torch.manual_seed(20261203)
    g = torch.Generator().manual_seed(7)
    w = Writer()

    def randn(*shape: int, scale: float = 2.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    def hard(*shape: int, prevalence: float = 0.2) -> torch.Tensor:
        return (torch.rand(*shape, generator=g, dtype=torch.float64) < prevalence).double()

    def soft(*shape: int) -> torch.Tensor:
        return rounded(torch.rand(*shape, generator=g, dtype=torch.float64), "FLOAT32")

    a, gm = f32(0.25), f32(2.0)
    alpha_half, gamma_half = f32(0.5), f32(0.5)
    clip0, gp, gn = f32(0.0), f32(0.0), f32(2.0)
    ratio = f32(0.3)

    def sigmoid_losses(probabilities: bool = False, binary: bool = True, extreme: bool = False):
        p = probabilities
        losses: list[tuple[dict[str, Any], Callable[..., torch.Tensor]]] = [
            ({"kind": "CROSS_ENTROPY"}, lambda x, r, t: sigmoid_ce(x, t, r, p)),
            ({"kind": "FOCAL"}, lambda x, r, t: sigmoid_focal(x, t, r, probabilities=p)),
        ]
        if p:
            return losses
        losses += [
            ({"kind": "FOCAL", "name": "focal_noalpha", "alpha": -1.0, "gamma": gamma_half},
             lambda x, r, t: sigmoid_focal(x, t, r, -1.0, gamma_half)),
            ({"kind": "FOCAL", "name": "focal_g0", "alpha": alpha_half, "gamma": 0.0},
             lambda x, r, t: sigmoid_focal(x, t, r, alpha_half, 0.0)),
            ({"kind": "ASYMMETRIC"}, lambda x, r, t: asymmetric(x, t, r, f32(1.0), f32(4.0), f32(0.05))),
            ({"kind": "ASYMMETRIC", "name": "asl_noclip", "gamma_pos": gp, "gamma_neg": gn, "clip": clip0},
             lambda x, r, t: asymmetric(x, t, r, gp, gn, clip0)),
        ]
        if extreme:
            # torch.autograd gives NaN for m^gamma with gamma < 1 at m = 1 - p_t = 0
            # exactly (0 * inf); the true derivative there is 0 (docs/losses.md).
            losses = [(spec, fn) for spec, fn in losses
                      if spec.get("name") not in ("focal_noalpha", "asl_noclip")]
        if binary:
            losses += [
                ({"kind": "OHEM"}, lambda x, r, t: ohem_binary(x, t, r, f32(0.25))),
                ({"kind": "OHEM", "name": "ohem_03", "ohem_ratio": ratio},
                 lambda x, r, t: ohem_binary(x, t, r, ratio)),
                ({"kind": "FOCAL_DICE"}, lambda x, r, t: focal_dice(x, t, r)),
            ]
        return losses

    def bind(losses, t):
        return [(spec, (lambda fn: lambda x, r: fn(x, r, t))(fn)) for spec, fn in losses]

    # BINARY: random shapes, soft targets, extremes, empty, half types.
    for i, shape in enumerate([(37,), (3, 5, 7), (2, 3, 4, 5), (1,)]):
        t = hard(*shape)
        w.add(f"binary_hard_{i}", "BINARY", randn(*shape), "FLOAT32", t, "FLOAT32",
              bind(sigmoid_losses(), t))
    t = soft(6, 11)
    w.add("binary_soft", "BINARY", randn(6, 11), "FLOAT32", t, "FLOAT32", bind(sigmoid_losses(), t))
    x = randn(40)
    # Distinct extremes: OHEM's choice among tied losses is arbitrary in torch.
    x[::4] = 1e4 - torch.arange(10, dtype=torch.float64)
    x[1::4] = -1e4 + torch.arange(10, dtype=torch.float64)
    x[2::8] = 30.0
    x[3::8] = -30.0
    t = hard(40, prevalence=0.5)
    w.add("binary_extreme", "BINARY", x, "FLOAT64", t, "FLOAT64",
          bind(sigmoid_losses(extreme=True), t))
    t = torch.zeros(0, dtype=torch.float64)
    w.add("binary_empty", "BINARY", torch.zeros(0, dtype=torch.float64), "FLOAT32", t, "FLOAT32",
          bind(sigmoid_losses(), t))
    for dtype in ("FLOAT16", "BFLOAT16"):
        t = hard(8, 9)
        w.add(f"binary_{dtype.lower()}", "BINARY", randn(8, 9), dtype, t, "UINT8",
              bind(sigmoid_losses(), t))
    t = hard(5, 7)
    probs = torch.rand(5, 7, generator=g, dtype=torch.float64) * 0.98 + 0.01
    w.add("binary_probabilities", "BINARY", probs, "FLOAT32", t, "FLOAT32",
          bind(sigmoid_losses(probabilities=True), t), input_kind="PROBABILITIES")

    # MULTILABEL.
    t = hard(12, 6, prevalence=0.3)
    t[:, 4] = 0  # a class without positives
    w.add("multilabel_hard", "MULTILABEL", randn(12, 6), "FLOAT32", t, "FLOAT32",
          bind(sigmoid_losses(binary=False), t))
    t = soft(9, 4)
    w.add("multilabel_soft", "MULTILABEL", randn(9, 4), "FLOAT64", t, "FLOAT64",
          bind(sigmoid_losses(binary=False), t))
    t = hard(7, 5)
    w.add("multilabel_bfloat16", "MULTILABEL", randn(7, 5), "BFLOAT16", t, "BOOL",
          bind(sigmoid_losses(binary=False), t))

    # MULTICLASS.
    def softmax_losses(classes: int, counts: list[int], ignore_index=None, probabilities=False,
                       extreme: bool = False):
        ii = ignore_index
        if probabilities:
            return [
                ({"kind": "CROSS_ENTROPY"}, lambda x, r, t: softmax_ce(x, t, r, ii, True)),
                ({"kind": "FOCAL"}, lambda x, r, t: softmax_focal(x, t, r, gm, None, ii, True)),
            ]
        class_alpha = [f32(0.1 + 0.2 * c) for c in range(classes)]
        beta = f32(0.999)
        beta_small = f32(0.9)
        losses = [
            ({"kind": "CROSS_ENTROPY"}, lambda x, r, t: softmax_ce(x, t, r, ii)),
            ({"kind": "FOCAL"}, lambda x, r, t: softmax_focal(x, t, r, gm, None, ii)),
            ({"kind": "FOCAL", "name": "focal_alpha", "gamma": f32(1.5), "class_alpha": class_alpha},
             lambda x, r, t: softmax_focal(x, t, r, f32(1.5), class_alpha, ii)),
            ({"kind": "CLASS_BALANCED_FOCAL", "samples_per_class": counts},
             lambda x, r, t: softmax_focal(x, t, r, gm, class_balanced_weights(counts, beta), ii)),
            ({"kind": "CLASS_BALANCED_FOCAL", "name": "cb_beta09", "beta": beta_small, "gamma": f32(0.5),
              "samples_per_class": counts},
             lambda x, r, t: softmax_focal(x, t, r, f32(0.5), class_balanced_weights(counts, beta_small), ii)),
            ({"kind": "OHEM"}, lambda x, r, t: softmax_ohem(x, t, r, f32(0.25), ii)),
            ({"kind": "OHEM", "name": "ohem_03", "ohem_ratio": ratio},
             lambda x, r, t: softmax_ohem(x, t, r, ratio, ii)),
        ]
        if extreme:  # gamma < 1 at p_t = 1: torch.autograd's NaN, as above.
            losses = [(spec, fn) for spec, fn in losses if spec.get("name") != "cb_beta09"]
        return losses

    def class_ids(n: int, classes: int, missing: Optional[int] = None) -> torch.Tensor:
        t = torch.randint(0, classes, (n,), generator=g)
        if missing is not None:
            t[t == missing] = (missing + 1) % classes
        return t

    for i, (n, c) in enumerate([(33, 5), (8, 12), (1, 2)]):
        t = class_ids(n, c, missing=c - 1 if c > 2 else None)
        counts = [int((t == k).sum()) * 100 + k for k in range(c)]
        counts[-1] = 0
        w.add(f"multiclass_{i}", "MULTICLASS", randn(n, c), "FLOAT32", t, "INT64",
              bind(softmax_losses(c, counts), t))
    t = class_ids(20, 4)
    t[::3] = -100
    counts = [500, 40, 3, 0]
    w.add("multiclass_ignore", "MULTICLASS", randn(20, 4), "FLOAT32", t, "INT64",
          bind(softmax_losses(4, counts, ignore_index=-100), t), ignore_index=-100)
    t = torch.full((4,), 255)
    w.add("multiclass_all_ignored", "MULTICLASS", randn(4, 3), "FLOAT32", t, "INT32",
          bind(softmax_losses(3, [1, 2, 3], ignore_index=255), t), ignore_index=255)
    x = randn(12, 3)
    x[::2, 0] = 1e4
    x[1::2, 1] = -1e4
    t = class_ids(12, 3)
    w.add("multiclass_extreme", "MULTICLASS", x, "FLOAT64", t, "INT64", bind(softmax_losses(3, [5, 5, 2], extreme=True), t))
    t = torch.zeros(0, dtype=torch.int64)
    w.add("multiclass_empty", "MULTICLASS", torch.zeros(0, 4, dtype=torch.float64), "FLOAT32", t, "INT64",
          bind(softmax_losses(4, [1, 1, 1, 1]), t))
    for dtype in ("FLOAT16", "BFLOAT16"):
        t = class_ids(10, 6)
        w.add(f"multiclass_{dtype.lower()}", "MULTICLASS", randn(10, 6), dtype, t, "INT64",
              bind(softmax_losses(6, [10, 20, 30, 40, 50, 60]), t))
    t = class_ids(9, 4)
    probs = torch.softmax(randn(9, 4), dim=1)
    w.add("multiclass_probabilities", "MULTICLASS", probs, "FLOAT64", t, "INT64",
          bind(softmax_losses(4, [1, 2, 3, 4], probabilities=True), t), input_kind="PROBABILITIES")

    # DETECTION.
    def detection_losses(boxes):
        bp, bt = boxes
        return [
            ({"kind": "CROSS_ENTROPY"}, lambda x, r, t: detection_ce(x, t, r)),
            ({"kind": "RETINANET"}, lambda x, r, t: retinanet(x, t, r, bp, bt)),
            ({"kind": "RETINANET", "name": "retina_custom", "alpha": alpha_half, "gamma": f32(1.5),
              "smooth_l1_beta": f32(0.1)},
             lambda x, r, t: retinanet(x, t, r, bp, bt, alpha_half, f32(1.5), f32(0.1))),
            ({"kind": "RETINANET", "name": "retina_l1", "smooth_l1_beta": 0.0},
             lambda x, r, t: retinanet(x, t, r, bp, bt, 0.25, 2.0, 0.0)),
        ]

    for case_id, anchors, classes, dtype, kinds in [
        ("detection", 50, 4, "FLOAT32", (-2, -1, -1, -1, 0, 1, 2, 3)),
        ("detection_no_foreground", 10, 3, "FLOAT32", (-2, -1)),
        ("detection_float16", 16, 5, "FLOAT16", (-1, 0, 4)),
    ]:
        choice = torch.tensor(kinds)[torch.randint(0, len(kinds), (anchors,), generator=g)]
        boxes = (randn(anchors, 4, scale=1.0), randn(anchors, 4, scale=1.0))
        w.add(case_id, "DETECTION", randn(anchors, classes), dtype, choice, "INT64",
              bind(detection_losses(boxes), choice), boxes=boxes)
    x = randn(6, 2)
    x[:, 0] = 1e4
    x[:, 1] = -1e4
    t = torch.tensor([0, 1, -1, -2, 1, 0])
    boxes = (randn(6, 4), randn(6, 4))
    w.add("detection_extreme", "DETECTION", x, "FLOAT64", t, "INT64", bind(detection_losses(boxes), t), boxes=boxes)
    t = torch.zeros(0, dtype=torch.int64)
    boxes = (torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, 4, dtype=torch.float64))
    w.add("detection_empty", "DETECTION", torch.zeros(0, 3, dtype=torch.float64), "FLOAT32", t, "INT64",
          bind(detection_losses(boxes), t), boxes=boxes)

    OUT.write_text(json.dumps({
        "generator": "tests/golden/generate_losses.py",
        "torch": torch.__version__,
        "cases": w.cases,
    }, indent=None, separators=(",", ":")) + "\n")
    n = sum(len(c["losses"]) for c in w.cases)
    print(f"wrote {OUT} ({len(w.cases)} batches, {n} loss checks)")


if __name__ == "__main__":
    main()
