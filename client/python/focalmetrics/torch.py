"""The service's losses as `torch.nn.Module`s, for training without a round trip.

    from focalmetrics.torch import FocalLoss, ClassBalancedFocalLoss
    criterion = FocalLoss(gamma=2.0, task="multiclass")
    loss = criterion(logits, labels)      # same value and gradient as ComputeLoss

Every module computes exactly what `ComputeLoss` computes for the same loss
(docs/losses.md): the same reductions (MEAN over nothing is 0), the same stable
forms (log-sigmoid, 1 - p_t without cancellation, log p_t of a softmax via
log1p), and a backward equal to the service's gradient, finite where a naive
autograd of the formula is not (gamma < 1 at 1 - p_t = 0). Arithmetic runs in
the scores' dtype (float16/bfloat16 are widened to float32), so float64 scores
give float64-accurate values and gradients; CPU and CUDA tensors both work.
Targets are constants: no gradient flows into them. Inputs are not validated
element by element (that would synchronise with the GPU); shapes and
parameters are.

This module imports torch; `import focalmetrics` does not import it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from focalmetrics._presets import gamma_value

__all__ = [
    "AsymmetricLoss",
    "ClassBalancedFocalLoss",
    "FocalDiceLoss",
    "FocalLoss",
    "OHEMLoss",
    "RetinaNetLoss",
    "effective_number_weights",
]

_LOG = logging.getLogger(__name__)

_REDUCTIONS = ("mean", "sum", "none")
_INPUT_KINDS = ("logits", "probabilities")
_SIGMOID_TASKS = ("binary", "multilabel")
# log(1e-8): ASL's floor on its logarithms (official code's eps).
_LOG_FLOOR = math.log(1e-8)
# Probabilities become log-odds (log-probabilities for MULTICLASS) clamped here,
# and their derivative denominators are floored here, as PyTorch's
# binary_cross_entropy does and as the service does (docs/losses.md).
_MAX_LOG_MAGNITUDE = 100.0
_MIN_DERIVATIVE_DENOMINATOR = 1e-12


# ---- parameters ---------------------------------------------------------------


def _choice(value: str, choices: Sequence[str], what: str) -> str:
    lowered = value.lower()
    if lowered not in choices:
        raise ValueError(f"{what}: unknown {value!r}; expected one of {', '.join(choices)}")
    return lowered


def _in_range(value: float, what: str, low: float, high: float,
              low_open: bool = False, high_open: bool = False) -> float:
    v = float(value)
    inside = (math.isfinite(v) and (v > low if low_open else v >= low)
              and (v < high if high_open else v <= high))
    if not inside:
        raise ValueError(f"{what}: must lie in {'(' if low_open else '['}{low}, "
                         f"{high}{')' if high_open else ']'}, got {value}")
    return v


def _gamma(value: Union[float, str], what: str = "gamma") -> float:
    """A number, or a preset name (focalmetrics.GAMMA_PRESETS)."""
    return _in_range(gamma_value(value, what), what, 0.0, math.inf, high_open=True)


def _alpha(value: float) -> float:
    return _in_range(value, "alpha", -math.inf, 1.0, low_open=True)


def effective_number_weights(samples_per_class: Sequence[int], beta: float) -> list[float]:
    """Cui et al. 2019: w_c = (1 - beta) / (1 - beta^n_c), normalised to sum to
    the number of classes; n_c = 0 counts as 1. Computed as the service does
    (1 - beta^n as -expm1(n log beta), exact when beta is close to 1)."""
    beta = _in_range(beta, "beta", 0.0, 1.0, high_open=True)
    counts = [int(n) for n in samples_per_class]
    if not counts:
        raise ValueError("samples_per_class: no classes (need one count per class)")
    weights = []
    for c, n in enumerate(counts):
        if n < 0:
            raise ValueError(f"samples_per_class[{c}]: negative count {n}")
        if beta == 0.0:
            weights.append(1.0)
        else:
            weights.append((1.0 - beta) / -math.expm1(max(n, 1) * math.log(beta)))
    scale = len(weights) / sum(weights)
    return [w * scale for w in weights]


# ---- elementwise kernels --------------------------------------------------------


def _compute_dtype(scores: Tensor, what: str = "scores") -> torch.dtype:
    if not scores.is_floating_point():
        raise TypeError(f"{what}: floating-point tensor expected, got {scores.dtype}")
    return scores.dtype if scores.dtype in (torch.float32, torch.float64) else torch.float32


def _sigmoid_parts(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """p = sigmoid(x), q = 1 - p, log p and log q, each from exp(-|x|) so that
    nothing cancels or saturates at large |x|."""
    e = torch.exp(-x.abs())
    log1p_e = torch.log1p(e)
    inv = 1.0 / (1.0 + e)
    nonnegative = x >= 0
    p = torch.where(nonnegative, inv, e * inv)
    q = torch.where(nonnegative, e * inv, inv)
    log_p = -(torch.clamp(-x, min=0) + log1p_e)
    log_q = -(torch.clamp(x, min=0) + log1p_e)
    return p, q, log_p, log_q


def _power(base: Tensor, exponent: float) -> Tensor:
    if exponent == 0.0:
        return torch.ones_like(base)
    if exponent == 1.0:
        return base
    if exponent == 2.0:
        return base * base
    return torch.pow(base, exponent)


class _SigmoidFocal(torch.autograd.Function):
    """torchvision's sigmoid_focal_loss per element (alpha < 0: no alpha;
    gamma = 0, alpha < 0: BCE-with-logits); backward is the service's exact
    derivative, finite everywhere."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, t: Tensor, alpha: float, gamma: float) -> Tensor:
        p, q, log_p, log_q = _sigmoid_parts(x)
        one_minus_t = 1.0 - t
        ce = -(t * log_p + one_minus_t * log_q)  # two non-negative terms
        m = p * one_minus_t + q * t  # 1 - p_t without cancellation
        m_pow = _power(m, gamma)
        alpha_t = alpha * t + (1.0 - alpha) * one_minus_t if alpha >= 0 else torch.ones_like(x)
        # d/dx = alpha_t [gamma m^gamma (p q / m) (1 - 2t) ce + m^gamma (p - t)]:
        # p q / m lies in [0, 1], so a tiny m overflows nothing, and the first
        # term vanishes where m = 0 (the true limit, where autograd of m^gamma
        # with gamma < 1 gives NaN).
        positive = m > 0
        pq_over_m = torch.where(positive, p * q / torch.where(positive, m, torch.ones_like(m)),
                                torch.zeros_like(m))
        derivative = alpha_t * (gamma * m_pow * pq_over_m * (1.0 - 2.0 * t) * ce
                                + m_pow * (p - t))
        ctx.save_for_backward(derivative)
        return alpha_t * m_pow * ce

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], ...]:
        (derivative,) = ctx.saved_tensors
        return grad * derivative, None, None, None


class _Asymmetric(torch.autograd.Function):
    """ASL per element, DESIGN.md's formula, with its exact derivative (the
    official code's default treats the focusing weight as a constant)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, t: Tensor, gamma_pos: float, gamma_neg: float,
                clip: float) -> Tensor:
        p, q, log_p, log_q = _sigmoid_parts(x)
        one_minus_t = 1.0 - t
        floored_log_p = log_p.clamp(min=_LOG_FLOOR)
        pos_weight = _power(q, gamma_pos)
        pos = t * pos_weight * floored_log_p
        shifted = p - clip
        above_clip = shifted > 0
        p_m = shifted.clamp(min=0)
        one_minus_p_m = (q + clip).clamp(max=1)
        if clip == 0.0:
            raw_log_neg = log_q
        else:
            # log(1 - p_m): log1p where p_m is small, log of (q + clip) formed
            # without rounding where p_m is close to 1.
            small = p_m < 0.29
            raw_log_neg = torch.where(
                small, torch.log1p(-torch.where(small, p_m, torch.zeros_like(p_m))),
                torch.log(torch.where(small, torch.ones_like(p_m), one_minus_p_m)))
        log_neg = raw_log_neg.clamp(min=_LOG_FLOOR)
        neg_weight = _power(p_m, gamma_neg)
        neg = one_minus_t * neg_weight * log_neg

        d_log_p = torch.where(log_p > _LOG_FLOOR, q, torch.zeros_like(q))
        d_pos = t * (pos_weight * d_log_p - gamma_pos * p * pos_weight * floored_log_p)
        dp_m = torch.where(above_clip, p * q, torch.zeros_like(p))
        d_log_neg = torch.where(raw_log_neg > _LOG_FLOOR, -dp_m / one_minus_p_m,
                                torch.zeros_like(p))
        # d p_m^g / dx = g p_m^g (dp_m / p_m); dp_m / p_m <= q / (1 - clip/p) is
        # bounded away from the clip, and the term is 0 below it.
        p_m_positive = p_m > 0
        ratio = torch.where(p_m_positive,
                            dp_m / torch.where(p_m_positive, p_m, torch.ones_like(p_m)),
                            torch.zeros_like(p_m))
        d_neg_weight = gamma_neg * neg_weight * ratio
        d_neg = one_minus_t * (d_neg_weight * log_neg + neg_weight * d_log_neg)
        ctx.save_for_backward(-(d_pos + d_neg))
        return -(pos + neg)  # both terms <= 0: no cancellation

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], ...]:
        (derivative,) = ctx.saved_tensors
        return grad * derivative, None, None, None, None


class _SoftmaxFocal(torch.autograd.Function):
    """Per row -w (1 - p_t)^gamma log p_t (gamma = 0, w = 1: cross-entropy),
    0 on rows not `valid`. log p_t is -(max - x_t) - log(sum e^(x_j - max))
    with the target's own term split off so that p_t -> 1 keeps full relative
    precision; 1 - p_t is -expm1(log p_t). With `log_probabilities` the scores
    are log p already and are used without renormalisation."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, t: Tensor, valid: Tensor, weight: Tensor, gamma: float,
                log_probabilities: bool) -> Tensor:
        rows, classes = x.shape
        index = t.unsqueeze(1)
        if log_probabilities:
            log_p_t = x.gather(1, index).squeeze(1)
            softmax = None
        else:
            shifted = x - x.max(dim=1, keepdim=True).values if rows else x
            e = torch.exp(shifted)
            shifted_t = shifted.gather(1, index).squeeze(1)
            others = e.scatter(1, index, 0.0).sum(dim=1)
            is_max = shifted_t == 0
            log_p_t = torch.where(
                is_max, -torch.log1p(others),
                shifted_t - torch.log(others + torch.where(is_max, torch.zeros_like(others),
                                                           torch.exp(shifted_t))))
            softmax = e / e.sum(dim=1, keepdim=True)
        m = -torch.expm1(log_p_t)
        if gamma == 0.0:
            loss = -weight * log_p_t
            factor = weight
        else:
            # d/dx_j = w m^gamma [1 - gamma p_t (log p_t / m)] (s_j - [j = t]);
            # log p_t / m lies in [-inf, -1] and tends to -1 as m -> 0.
            m_pow = _power(m, gamma)
            positive = m > 0
            log_p_over_m = torch.where(
                positive, log_p_t / torch.where(positive, m, torch.ones_like(m)),
                -torch.ones_like(m))
            loss = -weight * m_pow * log_p_t
            factor = weight * m_pow * (1.0 - gamma * (1.0 - m) * log_p_over_m)
        zero = torch.zeros_like(loss)
        loss = torch.where(valid, loss, zero)
        factor = torch.where(valid, factor, zero)
        if softmax is None:
            gradient = torch.zeros_like(x).scatter(1, index, -factor.unsqueeze(1))
        else:
            # s_t - 1 = expm1(log p_t), formed without cancellation.
            gradient = (factor.unsqueeze(1) * softmax).scatter(
                1, index, (factor * torch.expm1(log_p_t)).unsqueeze(1))
        ctx.save_for_backward(gradient)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], ...]:
        (gradient,) = ctx.saved_tensors
        return grad.unsqueeze(1) * gradient, None, None, None, None, None


class _ProbabilitiesAsLogits(torch.autograd.Function):
    """Probabilities as the service reads them: log-odds (log-probabilities for
    softmax rows) clamped to +-100; backward divides by p (1 - p) (by p)
    floored at 1e-12, which keeps it finite at p = 0 and p = 1."""

    @staticmethod
    def forward(ctx: Any, p: Tensor, softmax_rows: bool) -> Tensor:
        if softmax_rows:
            logits = torch.log(p).clamp(min=-_MAX_LOG_MAGNITUDE)
            denominator = p
        else:
            logits = (torch.log(p) - torch.log1p(-p)).clamp(-_MAX_LOG_MAGNITUDE,
                                                           _MAX_LOG_MAGNITUDE)
            denominator = p * (1.0 - p)
        ctx.save_for_backward(denominator.clamp(min=_MIN_DERIVATIVE_DENOMINATOR))
        return logits

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], ...]:
        (denominator,) = ctx.saved_tensors
        return grad / denominator, None


# ---- shared steps ----------------------------------------------------------------


def _as_logits(scores: Tensor, input_kind: str, softmax_rows: bool) -> Tensor:
    x = scores.to(_compute_dtype(scores))
    if input_kind == "probabilities":
        x = _ProbabilitiesAsLogits.apply(x, softmax_rows)
    return x


def _reduce(per: Tensor, reduction: str, count: Optional[Any] = None) -> Tensor:
    """MEAN divides by max(1, count) (count defaults to per.numel()): MEAN
    over nothing is 0, not NaN."""
    if reduction == "none":
        return per
    total = per.sum()
    if reduction == "sum":
        return total
    if count is None:
        count = per.numel()
    if isinstance(count, Tensor):
        return total / count.clamp(min=1)
    return total / max(1, int(count))


def _sigmoid_elements(scores: Tensor, targets: Tensor, input_kind: str) -> tuple[Tensor, Tensor]:
    if targets.shape != scores.shape:
        raise ValueError(f"targets: shape {tuple(targets.shape)} differs from scores' "
                         f"{tuple(scores.shape)}")
    x = _as_logits(scores, input_kind, softmax_rows=False)
    return x, targets.to(device=x.device, dtype=x.dtype)


@dataclass(frozen=True)
class _Rows:
    x: Tensor        # [N, C] logits, or log-probabilities
    target: Tensor   # [N] class ids, ignored rows mapped to 0
    valid: Tensor    # [N] bool


def _softmax_rows(scores: Tensor, targets: Tensor, ignore_index: Optional[int],
                  input_kind: str) -> _Rows:
    if scores.dim() != 2:
        raise ValueError(f"scores: multiclass scores are [N, C], got shape {tuple(scores.shape)}")
    if targets.shape != scores.shape[:1]:
        raise ValueError(f"targets: multiclass targets are [N] class ids, got shape "
                         f"{tuple(targets.shape)} for scores {tuple(scores.shape)}")
    if targets.is_floating_point():
        raise TypeError(f"targets: integer class ids expected, got {targets.dtype}")
    x = _as_logits(scores, input_kind, softmax_rows=True)
    t = targets.to(device=x.device, dtype=torch.long)
    if ignore_index is None:
        valid = torch.ones_like(t, dtype=torch.bool)
    else:
        valid = t != ignore_index
        t = torch.where(valid, t, torch.zeros_like(t))
    return _Rows(x, t, valid)


def _softmax_focal(rows: _Rows, gamma: float, class_weights: Optional[Tensor],
                   input_kind: str) -> Tensor:
    if class_weights is None:
        weight = torch.ones_like(rows.target, dtype=rows.x.dtype)
    else:
        weight = class_weights.to(device=rows.x.device, dtype=rows.x.dtype)[rows.target]
    return _SoftmaxFocal.apply(rows.x, rows.target, rows.valid, weight, gamma,
                               input_kind == "probabilities")


def _keep_hardest(per: Tensor, ratio: float, eligible: Optional[Tensor]) -> tuple[Tensor, int]:
    """OHEM's selection on a flat tensor: the max(1, floor(ratio N)) largest of
    the N eligible values kept, the rest set to 0; ties go to the lower index."""
    n = per.numel() if eligible is None else int(eligible.sum())
    k = max(1, math.floor(ratio * n)) if n else 0
    keep = torch.zeros_like(per, dtype=torch.bool)
    if k:
        key = per.detach()
        if eligible is not None:
            key = key.masked_fill(~eligible, -math.inf)
        keep.index_fill_(0, torch.sort(key, descending=True, stable=True).indices[:k], True)
    # torch.where keeps the result in the graph even when nothing is kept.
    return torch.where(keep, per, torch.zeros_like(per)), k


# ---- modules ----------------------------------------------------------------------


class FocalLoss(nn.Module):
    """FOCAL. task "binary"/"multilabel": torchvision's sigmoid_focal_loss per
    element, alpha_t (1 - p_t)^gamma BCE (alpha defaults to 0.25; alpha < 0
    disables it), mean over elements; targets shaped as scores, soft allowed.
    task "multiclass": -(1 - p_t)^gamma log p_t from a softmax, times
    class_alpha[t] when given, mean over non-ignored rows (not a weighted
    mean); scores [N, C], targets [N] class ids. "none" returns per element
    (sigmoid) or per row (multiclass, ignored rows 0)."""

    class_alpha: Optional[Tensor]

    def __init__(self, alpha: Optional[float] = None, gamma: float = 2.0,
                 reduction: str = "mean", task: str = "binary",
                 class_alpha: Optional[Sequence[float]] = None,
                 ignore_index: Optional[int] = None, input_kind: str = "logits") -> None:
        super().__init__()
        self.task = _choice(task, _SIGMOID_TASKS + ("multiclass",), "task")
        self.gamma = _gamma(gamma)
        self.reduction = _choice(reduction, _REDUCTIONS, "reduction")
        self.input_kind = _choice(input_kind, _INPUT_KINDS, "input_kind")
        multiclass = self.task == "multiclass"
        if multiclass and alpha is not None:
            raise ValueError("alpha: not a parameter of multiclass focal loss; "
                             "use class_alpha (one weight per class)")
        if not multiclass and (class_alpha is not None or ignore_index is not None):
            raise ValueError("class_alpha and ignore_index apply to task='multiclass' only")
        self.alpha = _alpha(0.25 if alpha is None else alpha)
        self.ignore_index = ignore_index
        weights = None
        if class_alpha is not None:
            values = [float(a) for a in class_alpha]
            for c, a in enumerate(values):
                if not (math.isfinite(a) and a >= 0):
                    raise ValueError(f"class_alpha[{c}]: must be finite and >= 0, got {a}")
            weights = torch.tensor(values, dtype=torch.float64)
        self.register_buffer("class_alpha", weights)

    def forward(self, scores: Tensor, targets: Tensor) -> Tensor:
        if self.task != "multiclass":
            x, t = _sigmoid_elements(scores, targets, self.input_kind)
            return _reduce(_SigmoidFocal.apply(x, t, self.alpha, self.gamma), self.reduction)
        if self.class_alpha is not None and self.class_alpha.numel() != scores.shape[-1]:
            raise ValueError(f"class_alpha: {self.class_alpha.numel()} weights for "
                             f"{scores.shape[-1]} classes")
        rows = _softmax_rows(scores, targets, self.ignore_index, self.input_kind)
        per = _softmax_focal(rows, self.gamma, self.class_alpha, self.input_kind)
        return _reduce(per, self.reduction, rows.valid.sum())

    def extra_repr(self) -> str:
        alpha = f"alpha={self.alpha}, " if self.task != "multiclass" else ""
        return f"{alpha}gamma={self.gamma}, reduction={self.reduction!r}, task={self.task!r}"


@dataclass
class _WeightSource:
    client: Any
    run: str
    split: str
    refresh_every: int
    beta: float
    timeout: Optional[float]


class ClassBalancedFocalLoss(nn.Module):
    """CLASS_BALANCED_FOCAL: multiclass focal loss with class_alpha = the
    effective-number weights of `samples_per_class` (effective_number_weights).
    Scores [N, C], targets [N] class ids; mean over non-ignored rows.

    `from_service` makes one whose weights come from a run's accumulated class
    counts on a focalmetrics server and are refreshed during training."""

    class_weights: Tensor

    def __init__(self, samples_per_class: Sequence[int], beta: float = 0.999,
                 gamma: float = 2.0, reduction: str = "mean",
                 ignore_index: Optional[int] = None, input_kind: str = "logits") -> None:
        super().__init__()
        self.beta = _in_range(beta, "beta", 0.0, 1.0, high_open=True)
        self.gamma = _gamma(gamma)
        self.reduction = _choice(reduction, _REDUCTIONS, "reduction")
        self.ignore_index = ignore_index
        self.input_kind = _choice(input_kind, _INPUT_KINDS, "input_kind")
        self.samples_per_class = [int(n) for n in samples_per_class]
        self.register_buffer("class_weights", torch.tensor(
            effective_number_weights(self.samples_per_class, self.beta), dtype=torch.float64))
        self._source: Optional[_WeightSource] = None
        self.forward_calls = 0
        self.refreshes = 0
        self.last_refresh_error: Optional[Exception] = None

    @classmethod
    def from_service(cls, client: Any, run: str, split: str = "", refresh_every: int = 100,
                     beta: float = 0.999, gamma: float = 2.0, reduction: str = "mean",
                     ignore_index: Optional[int] = None, input_kind: str = "logits",
                     timeout: Optional[float] = 5.0) -> "ClassBalancedFocalLoss":
        """The closed class-balance loop: weights from
        `client.class_weights(run, split=split, scheme="effective_number", beta=beta)`,
        fetched on the first forward call and then every `refresh_every` calls
        (or on `refresh()`). Until the first successful fetch the weights are
        uniform (plain multiclass focal loss). A failed fetch (server down,
        unknown run, a class count that does not match the scores) keeps the
        last weights and is kept in `last_refresh_error`; training goes on.
        `timeout` bounds each fetch, in seconds."""
        if refresh_every < 1:
            raise ValueError(f"refresh_every: must be >= 1, got {refresh_every}")
        module = cls([0], beta=beta, gamma=gamma, reduction=reduction,
                     ignore_index=ignore_index, input_kind=input_kind)
        module._source = _WeightSource(client, run, split, int(refresh_every), module.beta,
                                       timeout)
        module.samples_per_class = []
        module.class_weights = torch.ones(0, dtype=torch.float64)
        return module

    def refresh(self, num_classes: Optional[int] = None) -> bool:
        """Fetches the run's weights now (from_service modules only); True when
        they were taken. On failure keeps the last weights and records the
        error in `last_refresh_error`."""
        source = self._source
        if source is None:
            raise RuntimeError("refresh: this module's weights are fixed; "
                               "use ClassBalancedFocalLoss.from_service")
        try:
            reply = source.client.class_weights(source.run, split=source.split,
                                                scheme="effective_number", beta=source.beta,
                                                timeout=source.timeout)
            weights = [float(w) for w in reply.weights]
            if not weights:
                raise ValueError(f"run {source.run!r}: no class counts yet")
            if num_classes is not None and len(weights) != num_classes:
                raise ValueError(f"run {source.run!r} has {len(weights)} classes, "
                                 f"the scores have {num_classes}")
        except Exception as error:  # noqa: BLE001 - training must go on
            self.last_refresh_error = error
            _LOG.warning("focalmetrics: class weights of run %r not refreshed, keeping the "
                         "last ones: %s", source.run, error)
            return False
        self.class_weights = torch.tensor(weights, dtype=torch.float64,
                                          device=self.class_weights.device)
        self.samples_per_class = [int(n) for n in reply.samples_per_class]
        self.last_refresh_error = None
        self.refreshes += 1
        return True

    def forward(self, scores: Tensor, targets: Tensor) -> Tensor:
        classes = scores.shape[-1]
        if self._source is not None and self.forward_calls % self._source.refresh_every == 0:
            self.refresh(classes)
        self.forward_calls += 1
        weights = self.class_weights
        if weights.numel() != classes:
            if self._source is None:
                raise ValueError(f"samples_per_class: {weights.numel()} counts for "
                                 f"{classes} classes")
            weights = torch.ones(classes, dtype=torch.float64)  # nothing fetched yet
        rows = _softmax_rows(scores, targets, self.ignore_index, self.input_kind)
        per = _softmax_focal(rows, self.gamma, weights, self.input_kind)
        return _reduce(per, self.reduction, rows.valid.sum())

    def extra_repr(self) -> str:
        source = f", run={self._source.run!r}" if self._source is not None else ""
        return f"beta={self.beta}, gamma={self.gamma}, reduction={self.reduction!r}{source}"


class AsymmetricLoss(nn.Module):
    """ASYMMETRIC (Ben-Baruch 2020), binary or multilabel: with p_m =
    max(p - clip, 0), -(t (1-p)^gamma_pos log p + (1-t) p_m^gamma_neg log(1-p_m))
    per element, logarithms floored at log(1e-8), mean over elements. The
    gradient is the exact derivative."""

    def __init__(self, gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float = 0.05,
                 reduction: str = "mean", input_kind: str = "logits") -> None:
        super().__init__()
        self.gamma_pos = _gamma(gamma_pos, "gamma_pos")
        self.gamma_neg = _gamma(gamma_neg, "gamma_neg")
        self.clip = _in_range(clip, "clip", 0.0, 1.0)
        self.reduction = _choice(reduction, _REDUCTIONS, "reduction")
        self.input_kind = _choice(input_kind, _INPUT_KINDS, "input_kind")

    def forward(self, scores: Tensor, targets: Tensor) -> Tensor:
        x, t = _sigmoid_elements(scores, targets, self.input_kind)
        per = _Asymmetric.apply(x, t, self.gamma_pos, self.gamma_neg, self.clip)
        return _reduce(per, self.reduction)

    def extra_repr(self) -> str:
        return (f"gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, clip={self.clip}, "
                f"reduction={self.reduction!r}")


class OHEMLoss(nn.Module):
    """OHEM: per-sample cross-entropy (task "multiclass": softmax CE per row,
    ignore_index rows not eligible; "binary": BCE per element), mean of the
    max(1, floor(ratio N)) largest of the N eligible ones; ties go to the lower
    index. "none" returns every sample's loss with the unselected set to 0.
    Choosing k needs the eligible count on the host (one GPU sync)."""

    def __init__(self, ratio: float = 0.25, task: str = "multiclass",
                 ignore_index: Optional[int] = None, reduction: str = "mean",
                 input_kind: str = "logits") -> None:
        super().__init__()
        self.ratio = _in_range(ratio, "ratio", 0.0, 1.0, low_open=True)
        self.task = _choice(task, ("multiclass", "binary"), "task")
        if self.task == "binary" and ignore_index is not None:
            raise ValueError("ignore_index applies to task='multiclass' only")
        self.ignore_index = ignore_index
        self.reduction = _choice(reduction, _REDUCTIONS, "reduction")
        self.input_kind = _choice(input_kind, _INPUT_KINDS, "input_kind")

    def forward(self, scores: Tensor, targets: Tensor) -> Tensor:
        if self.task == "binary":
            x, t = _sigmoid_elements(scores, targets, self.input_kind)
            per = _SigmoidFocal.apply(x, t, -1.0, 0.0)
            kept, k = _keep_hardest(per.reshape(-1), self.ratio, None)
            kept = kept.reshape(per.shape)
        else:
            rows = _softmax_rows(scores, targets, self.ignore_index, self.input_kind)
            per = _softmax_focal(rows, 0.0, None, self.input_kind)
            eligible = None if self.ignore_index is None else rows.valid
            kept, k = _keep_hardest(per, self.ratio, eligible)
        return _reduce(kept, self.reduction, k)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, task={self.task!r}, reduction={self.reduction!r}"


class FocalDiceLoss(nn.Module):
    """FOCAL_DICE for binary masks: binary focal loss (mean or sum) plus the
    soft dice term 1 - 2 sum(p t) / (sum p + sum t + 1) over the whole batch.
    No "none": the dice term belongs to the batch."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean",
                 input_kind: str = "logits") -> None:
        super().__init__()
        self.alpha = _alpha(alpha)
        self.gamma = _gamma(gamma)
        self.reduction = _choice(reduction, ("mean", "sum"), "reduction")
        self.input_kind = _choice(input_kind, _INPUT_KINDS, "input_kind")

    def forward(self, scores: Tensor, targets: Tensor) -> Tensor:
        x, t = _sigmoid_elements(scores, targets, self.input_kind)
        focal = _reduce(_SigmoidFocal.apply(x, t, self.alpha, self.gamma), self.reduction)
        p = torch.sigmoid(x)
        dice = 1.0 - 2.0 * (p * t).sum() / (p.sum() + t.sum() + 1.0)
        return focal + dice

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, reduction={self.reduction!r}"


class RetinaNetLoss(nn.Module):
    """RETINANET (Lin 2017, torchvision's head): sigmoid focal loss over the
    one-hot class targets of the non-ignored anchors plus smooth-L1(beta) over
    the foreground boxes, both divided by max(1, foreground anchors).

    forward(cls_logits [A, C], targets [A] (class id, -1 background,
    -2 ignored), box_preds [A, 4], box_targets [A, 4]). "sum" drops the
    normaliser; "none" returns per anchor its class terms plus its box term."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, smooth_l1_beta: float = 1.0,
                 reduction: str = "mean", input_kind: str = "logits") -> None:
        super().__init__()
        self.alpha = _alpha(alpha)
        self.gamma = _gamma(gamma)
        self.smooth_l1_beta = _in_range(smooth_l1_beta, "smooth_l1_beta", 0.0, math.inf,
                                        high_open=True)
        self.reduction = _choice(reduction, _REDUCTIONS, "reduction")
        self.input_kind = _choice(input_kind, _INPUT_KINDS, "input_kind")

    def forward(self, cls_logits: Tensor, targets: Tensor, box_preds: Tensor,
                box_targets: Tensor) -> Tensor:
        if cls_logits.dim() != 2 or targets.shape != cls_logits.shape[:1]:
            raise ValueError(f"cls_logits [A, C] and targets [A] expected, got "
                             f"{tuple(cls_logits.shape)} and {tuple(targets.shape)}")
        anchors = cls_logits.shape[0]
        for name, boxes in (("box_preds", box_preds), ("box_targets", box_targets)):
            if tuple(boxes.shape) != (anchors, 4):
                raise ValueError(f"{name}: [A, 4] = [{anchors}, 4] expected, "
                                 f"got {tuple(boxes.shape)}")
        x = _as_logits(cls_logits, self.input_kind, softmax_rows=False)
        t = targets.to(device=x.device, dtype=torch.long)
        valid = t != -2
        foreground = t >= 0
        onehot = torch.zeros_like(x).scatter(
            1, t.clamp(min=0).unsqueeze(1), foreground.unsqueeze(1).to(x.dtype))
        focal = _SigmoidFocal.apply(x, onehot, self.alpha, self.gamma)
        cls_per_anchor = torch.where(valid, focal.sum(dim=1), torch.zeros(
            (), dtype=x.dtype, device=x.device))
        box_dtype = _compute_dtype(box_preds, "box_preds")
        box = F.smooth_l1_loss(box_preds.to(box_dtype), box_targets.to(box_dtype),
                               reduction="none", beta=self.smooth_l1_beta).sum(dim=1)
        box_per_anchor = torch.where(foreground.to(box.device), box,
                                     torch.zeros((), dtype=box.dtype, device=box.device))
        if self.reduction == "none":
            return cls_per_anchor + box_per_anchor.to(x.device)
        total = cls_per_anchor.sum() + box_per_anchor.sum().to(x.device)
        if self.reduction == "sum":
            return total
        return total / foreground.sum().clamp(min=1)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, gamma={self.gamma}, "
                f"smooth_l1_beta={self.smooth_l1_beta}, reduction={self.reduction!r}")
