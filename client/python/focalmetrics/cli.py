"""The `focalmetrics` command line: a run's metrics, class weights, recommendation
and precision-recall curve from a server, losses of .npy arrays, and a focal-loss
explainer that needs no server.

    python -m focalmetrics --target localhost:50051 metrics my-run
    python -m focalmetrics explain --gamma 2

Exit codes: 0 success, 1 the server refused or failed the call (its message,
which names the field, is printed) or `delete` found no such run, 2 a usage
error.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import pathlib
import sys
import time
from typing import Any, Callable, Optional, Sequence, TextIO

import grpc
import numpy as np

from focalmetrics._presets import GAMMA_PRESETS, gamma_value
from focalmetrics._proto import pb
from focalmetrics._specs import loss_spec
from focalmetrics.client import Client, FocalMetricsError

DEFAULT_TARGET = "localhost:50051"
TARGET_ENV = "FOCALMETRICS_TARGET"

# Kinds whose SUM over a batch is the sum of their SUMs over its row chunks;
# the others (OHEM's top-k, the dice term, RetinaNet's foreground normaliser)
# depend on the whole batch and must be sent in one request.
_CHUNKABLE_KINDS = frozenset({pb.LOSS_KIND_CROSS_ENTROPY, pb.LOSS_KIND_FOCAL,
                              pb.LOSS_KIND_CLASS_BALANCED_FOCAL, pb.LOSS_KIND_ASYMMETRIC})


class UsageError(Exception):
    """A mistake in the command line or its input files (exit code 2)."""


# ---------------------------------------------------------------------------
# Output: tables, numbers and a progress bar.


class ProgressBar:
    """A one-line progress bar on stderr, redrawn in place at most ten times a
    second, finished with a newline. Disabled, it prints nothing."""

    def __init__(self, total: int, label: str, enabled: bool,
                 stream: Optional[TextIO] = None, width: int = 30) -> None:
        self.total = max(1, total)
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self._drawn_at = 0.0

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)
        now = time.monotonic()
        if self.done == self.total or now - self._drawn_at >= 0.1:
            self._draw()
            self._drawn_at = now

    def _draw(self) -> None:
        if not self.enabled:
            return
        filled = self.width * self.done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        percent = 100 * self.done // self.total
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}% {self.done}/{self.total}")
        self.stream.flush()

    def __enter__(self) -> "ProgressBar":
        self._draw()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def progress_enabled(mode: str, steps: int) -> bool:
    """`auto` shows a bar for work of several steps when stderr is a terminal."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    return steps > 1 and sys.stderr.isatty()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str,
          indent: str = "") -> str:
    """Columns padded to their widest cell; `align` has one 'l' or 'r' per column."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [str(cell).ljust(w) if a == "l" else str(cell).rjust(w)
                  for cell, w, a in zip(cells, widths, align)]
        return (indent + "  ".join(padded)).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def number(value: float, digits: int) -> str:
    return f"{value:.{digits}g}"


def enum_name(enum: Any, prefix: str, value: int) -> str:
    """`pb.TASK_MULTICLASS` -> "multiclass"."""
    try:
        return enum.Name(value)[len(prefix):].lower()
    except ValueError:
        return str(value)


def spec_dict(spec: "pb.LossSpec") -> dict[str, Any]:
    """A LossSpec as the JSON object `loss --loss` accepts. Parameters are float32
    on the wire; seven significant digits give back what was meant (0.999)."""
    fields: dict[str, Any] = {"kind": enum_name(pb.LossKind, "LOSS_KIND_", spec.kind)}
    if spec.name:
        fields["name"] = spec.name
    if spec.reduction:
        fields["reduction"] = enum_name(pb.Reduction, "REDUCTION_", spec.reduction)
    for field in ("alpha", "gamma", "beta", "gamma_pos", "gamma_neg", "clip", "ohem_ratio",
                  "smooth_l1_beta"):
        if spec.HasField(field):
            fields[field] = float(f"{getattr(spec, field):.7g}")
    if spec.class_alpha:
        fields["class_alpha"] = [float(f"{a:.7g}") for a in spec.class_alpha]
    if spec.samples_per_class:
        fields["samples_per_class"] = list(spec.samples_per_class)
    return fields


def connect(args: argparse.Namespace) -> Client:
    return Client(args.target, timeout=args.timeout)


def split_label(split: str) -> str:
    return split or "train"


# ---------------------------------------------------------------------------
# Commands. Each takes the parsed arguments and returns the exit code.


def cmd_runs(args: argparse.Namespace) -> int:
    with connect(args) as client:
        runs = client.list_runs()
    if not runs:
        print(f"no runs on {args.target}")
        return 0
    rows = [[r.run, r.split, enum_name(pb.Task, "TASK_", r.task), str(r.epoch), str(r.samples)]
            for r in runs]
    print(table(["run", "split", "task", "epoch", "samples"], rows, "lllrr"))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with connect(args) as client:
        deleted = client.delete_run(args.run, split=args.split)
    what = f"split '{args.split}' of run '{args.run}'" if args.split else f"run '{args.run}'"
    if deleted == 0:
        print(f"no {what} on {args.target}", file=sys.stderr)
        return 1
    print(f"deleted {what} ({deleted} split{'s' if deleted != 1 else ''})")
    return 0


def ap_text(ap: "pb.ClassAP", exact: bool, digits: int) -> str:
    if not ap.defined:
        return "n/a (no positives)"
    if exact:
        return number(ap.ap, digits)
    return f"{number(ap.ap, digits)} [{number(ap.lower, digits)}, {number(ap.upper, digits)}]"


def cmd_metrics(args: argparse.Namespace) -> int:
    with connect(args) as client:
        metrics = client.metrics(args.run, split=args.split, epoch=args.epoch)
    digits = args.digits
    print(f"run {metrics.run}  split {metrics.split}  epoch {metrics.epoch}  "
          f"step {metrics.step}")
    print(f"samples {metrics.samples}  batches {metrics.batches}")

    print("\nlosses")
    if metrics.losses:
        rows = [[s.name, enum_name(pb.LossKind, "LOSS_KIND_", s.kind), number(s.last, digits),
                 number(s.mean, digits), number(s.ema, digits)] for s in metrics.losses]
        print(table(["name", "kind", "last", "mean", "EMA"], rows, "llrrr", indent="  "))
    else:
        print("  none tracked (report with losses=[...] to track some)")

    ap = metrics.average_precision
    defined = [c for c in ap.per_class if c.defined]
    print("\nPR-AUC " + ("(exact)" if ap.exact else
                         "(bounded memory: estimates with certified [lower, upper])"))
    if not defined:
        print("  undefined: no class has positives yet")
    elif ap.exact:
        print(f"  macro {number(ap.macro, digits)}  micro {number(ap.micro, digits)}  "
              f"weighted {number(ap.weighted, digits)}")
    else:
        # Macro and weighted are means of the per-class APs, so the per-class
        # bounds bound them too; micro pools pairs and has no bound of its own.
        positives = sum(c.positives for c in defined)
        bounds = {
            "macro": (sum(c.lower for c in defined) / len(defined),
                      sum(c.upper for c in defined) / len(defined)),
            "weighted": (sum(c.lower * c.positives for c in defined) / positives,
                         sum(c.upper * c.positives for c in defined) / positives),
        }
        for name, value in (("macro", ap.macro), ("weighted", ap.weighted)):
            lower, upper = bounds[name]
            print(f"  {name:<8} {number(value, digits)} "
                  f"[{number(lower, digits)}, {number(upper, digits)}]")
        print(f"  {'micro':<8} {number(ap.micro, digits)} (estimate)")

    print("\nclasses")
    aps = {c.class_id: c for c in ap.per_class}
    rows = []
    for stats in metrics.classes:
        class_ap = aps.get(stats.class_id)
        rows.append([str(stats.class_id), str(stats.positives), str(stats.negatives),
                     number(stats.mean_probability, digits),
                     ap_text(class_ap, ap.exact, digits) if class_ap else "n/a"])
    if rows:
        print(table(["class", "positives", "negatives", "mean prob", "AP"], rows, "rrrrl",
                    indent="  "))
    else:
        print("  none yet")
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    with connect(args) as client:
        weights = client.class_weights(args.run, split=args.split, scheme=args.scheme,
                                       beta=args.beta)
    header = f"run {args.run}  split {split_label(args.split)}  scheme {args.scheme}"
    if args.scheme == "effective_number":
        header += f"  beta {args.beta if args.beta is not None else '0.999 (default)'}"
    print(header)
    rows = [[str(c), str(n), number(w, args.digits)]
            for c, (n, w) in enumerate(zip(weights.samples_per_class, weights.weights))]
    print(table(["class", "samples", "weight"], rows, "rrr"))
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    with connect(args) as client:
        metrics = client.metrics(args.run, split=args.split)
    recommendation = metrics.recommendation
    spec = json.dumps(spec_dict(recommendation.loss))
    print(f"run {metrics.run}  split {metrics.split}  samples {metrics.samples}")
    print(f"recommended loss: {spec}")
    print(f"reason: {recommendation.reason}")
    if recommendation.warnings:
        print("warnings:")
        for warning in recommendation.warnings:
            print(f"  - {warning}")
    else:
        print("warnings: none")
    print(f"\ntry it on a batch: focalmetrics loss --scores S.npy --targets T.npy "
          f"--task TASK --loss '{spec}'")
    return 0


def cmd_pr_curve(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"--out: directory {str(out.parent)!r} does not exist")
    class_ids: list[int] = args.class_id or [0]
    curves: list[tuple[int, "pb.PrecisionRecallCurve"]] = []
    with connect(args) as client, ProgressBar(
            1 + len(class_ids), "fetching curves",
            progress_enabled(args.progress, 1 + len(class_ids))) as bar:
        metrics = client.metrics(args.run, split=args.split)
        bar.advance()
        for class_id in class_ids:
            curves.append((class_id, client.precision_recall_curve(
                args.run, class_id=class_id, split=args.split, max_points=args.max_points)))
            bar.advance()

    aps = {c.class_id: c for c in metrics.average_precision.per_class}
    stats = {c.class_id: c for c in metrics.classes}
    drawn = [(c, curve) for c, curve in curves if len(curve.recall)]
    for class_id, curve in curves:
        if not len(curve.recall):
            print(f"warning: class {class_id} has no positives in run {args.run!r} "
                  f"(split {split_label(args.split)!r}): no curve to draw", file=sys.stderr)
    if not drawn:
        print(f"{args.parser.prog}: no curve to draw; {args.out} not written", file=sys.stderr)
        return 1

    exact = metrics.average_precision.exact

    def ap_label(class_id: int) -> str:
        ap = aps[class_id]
        return (f"AP {ap.ap:.3f}" if exact else
                f"AP {ap.ap:.3f} [{ap.lower:.3f}, {ap.upper:.3f}]")

    lines = []
    for class_id, curve in drawn:
        counts = stats.get(class_id)
        total = counts.positives + counts.negatives if counts else 0
        prevalence = counts.positives / total if total else 0.0
        lines.append((f"class {class_id} ({ap_label(class_id)})", list(curve.recall),
                      list(curve.precision), prevalence))
    where = f"run {metrics.run} / {metrics.split}"
    if len(drawn) == 1:
        title = f"Precision-recall, {where}, class {drawn[0][0]}: {ap_label(drawn[0][0])}"
    else:
        title = (f"Precision-recall, {where}: "
                 f"macro AP {metrics.average_precision.macro:.3f}")
    try:
        plot_precision_recall(lines, title, out)
    except ValueError as error:  # e.g. an extension matplotlib cannot write
        raise UsageError(f"--out: {error}") from None
    for class_id, curve in drawn:
        print(f"class {class_id}: {len(curve.recall)} points, {ap_label(class_id)}")
    print(f"wrote {out}")
    return 0


def plot_precision_recall(lines: list[tuple[str, list[float], list[float], float]],
                          title: str, out: pathlib.Path) -> None:
    """Step curves of (label, recall, precision, prevalence), recall increasing.
    The step at recall r_n has height p_n, the area being the AP."""
    # Imported here: matplotlib is slow to import and only this command needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, recall, precision, prevalence in lines:
        xs, ys = [0.0, *recall], [precision[0], *precision]
        (line,) = axes.step(xs, ys, where="pre", label=label, linewidth=1.8)
        if len(lines) == 1:  # the area is the AP; several overlapping areas only blur
            axes.fill_between(xs, ys, step="pre", alpha=0.12, color=line.get_color())
        axes.axhline(prevalence, linestyle=":", linewidth=1, color=line.get_color(),
                     label=f"chance level ({prevalence:.3f})" if len(lines) == 1 else None)
    axes.set_xlabel("Recall")
    axes.set_ylabel("Precision")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.02)
    axes.grid(alpha=0.3)
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(out)


def load_npy(path: str, flag: str) -> np.ndarray:
    """A .npy file, memory-mapped so that chunks are read as they are sent."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{flag}: no such file {path!r}") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"{flag}: {path!r} is not a .npy array file ({error})") from None


def parse_loss(text: str, reduction: Optional[str]) -> "pb.LossSpec":
    """A kind name ("focal") or a JSON object of LossSpec fields."""
    fields: Any = text
    if text.lstrip().startswith("{"):
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"--loss {text!r}: not valid JSON ({error})") from None
    if isinstance(fields, str):
        fields = {"kind": fields}
    if reduction is not None:
        fields.setdefault("reduction", reduction)
    try:
        return loss_spec(fields)
    except (ValueError, TypeError) as error:
        raise UsageError(f"--loss: {error}") from None


def chunk_rows(scores: np.ndarray, targets: np.ndarray, chunk_mb: float) -> int:
    """Rows per request so that scores and targets stay under chunk_mb MiB."""
    if scores.ndim == 0:
        return 1
    row_bytes = (scores.nbytes + targets.nbytes) / max(1, scores.shape[0])
    return max(1, int(chunk_mb * (1 << 20) // max(1.0, row_bytes)))


def cmd_loss(args: argparse.Namespace) -> int:
    if args.chunk_mb <= 0:
        raise UsageError("--chunk-mb: must be positive")
    scores = load_npy(args.scores, "--scores")
    targets = load_npy(args.targets, "--targets")
    specs = [parse_loss(text, args.reduction) for text in args.loss or ["focal"]]
    rows_total = scores.shape[0] if scores.ndim else 1
    if scores.ndim and targets.ndim and targets.shape[0] != rows_total:
        raise UsageError(f"--targets: {targets.shape[0]} rows, but --scores has {rows_total}")
    per_chunk = chunk_rows(scores, targets, args.chunk_mb)
    bounds = [(a, min(rows_total, a + per_chunk)) for a in range(0, rows_total, per_chunk)]
    if len(bounds) > 1:
        whole_batch = [s for s in specs if s.kind not in _CHUNKABLE_KINDS]
        if whole_batch:
            kind = enum_name(pb.LossKind, "LOSS_KIND_", whole_batch[0].kind)
            raise UsageError(
                f"--loss {kind}: its value depends on the whole batch, which needs "
                f"{len(bounds)} requests of --chunk-mb {args.chunk_mb}; raise --chunk-mb "
                "(the server accepts requests up to its --max_message_mb)")
    options = dict(task=args.task, input_kind=args.input_kind, ignore_index=args.ignore_index,
                   return_gradients=args.gradients_out is not None, run=args.run or "",
                   split=args.split)
    with connect(args) as client:
        try:
            if len(bounds) <= 1:
                values, gradients = loss_in_one_request(client, scores, targets, specs, options)
            else:
                values, gradients = loss_in_chunks(client, scores, targets, specs, options,
                                                   bounds, args)
        except (TypeError, ValueError) as error:
            raise UsageError(str(error)) from None

    rows = []
    for spec, (name, value) in zip(specs, values.items()):
        rows.append([name, enum_name(pb.LossKind, "LOSS_KIND_", spec.kind),
                     enum_name(pb.Reduction, "REDUCTION_", spec.reduction or pb.REDUCTION_MEAN),
                     number(value, args.digits)])
    print(f"{args.task} batch: scores {list(scores.shape)} {scores.dtype}, "
          f"targets {list(targets.shape)} {targets.dtype}")
    print(table(["loss", "kind", "reduction", "value"], rows, "lllr"))
    if any(spec.reduction == pb.REDUCTION_NONE for spec in specs):
        print("(reduction none: the value shown is the sum of the per-element values)")
    if len(bounds) > 1:
        print(f"(sent in {len(bounds)} requests of at most {args.chunk_mb:g} MiB)")
    if args.gradients_out is not None:
        print()
        for path, gradient_name in write_gradients(args.gradients_out, gradients):
            print(f"wrote d {gradient_name} / d scores to {path}")
    return 0


def loss_in_one_request(client: Client, scores: np.ndarray, targets: np.ndarray,
                        specs: list["pb.LossSpec"], options: dict[str, Any]
                        ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    results = client.compute_loss(np.asarray(scores), np.asarray(targets), losses=specs,
                                  **options)
    return ({name: r.value for name, r in results.items()},
            {name: r.gradient for name, r in results.items() if r.gradient is not None})


def loss_in_chunks(client: Client, scores: np.ndarray, targets: np.ndarray,
                   specs: list["pb.LossSpec"], options: dict[str, Any],
                   bounds: list[tuple[int, int]], args: argparse.Namespace
                   ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Sums each loss over row chunks (SUM of a chunkable kind adds up), then
    divides MEAN losses and their gradients by what the server's MEAN averages
    over: every element, or the non-ignored rows for MULTICLASS."""
    summed = []
    for spec in specs:
        copy = pb.LossSpec()
        copy.CopyFrom(spec)
        copy.reduction = pb.REDUCTION_SUM
        summed.append(copy)
    totals: dict[str, float] = {}
    gradients: dict[str, np.ndarray] = {}
    averaged_over = 0
    with ProgressBar(len(bounds), "computing", progress_enabled(args.progress, len(bounds))) as bar:
        for a, b in bounds:
            chunk_targets = np.asarray(targets[a:b])
            results = client.compute_loss(np.asarray(scores[a:b]), chunk_targets,
                                          losses=summed, **options)
            for name, result in results.items():
                totals[name] = totals.get(name, 0.0) + result.value
                if result.gradient is not None:
                    gradients.setdefault(name, np.empty(scores.shape, np.float64))[a:b] = \
                        result.gradient
            if args.task == "multiclass":
                averaged_over += (b - a if args.ignore_index is None else
                                  int(np.count_nonzero(chunk_targets != args.ignore_index)))
            else:
                averaged_over += int(np.prod(scores[a:b].shape))
            bar.advance()
    for spec, name in zip(specs, list(totals)):
        if spec.reduction in (pb.REDUCTION_UNSPECIFIED, pb.REDUCTION_MEAN):
            # MEAN over nothing is 0, as the server defines it.
            totals[name] = totals[name] / averaged_over if averaged_over else 0.0
            if name in gradients:
                gradients[name] = (gradients[name] / averaged_over if averaged_over
                                   else np.zeros_like(gradients[name]))
    return totals, gradients


def write_gradients(out: str, gradients: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """One loss: `out` itself; several: `<stem>.<name>.npy` next to it."""
    path = pathlib.Path(out)
    if not path.parent.is_dir():
        raise UsageError(f"--gradients-out: directory {str(path.parent)!r} does not exist")
    written = []
    for name, gradient in gradients.items():
        target = path if len(gradients) == 1 else path.with_name(f"{path.stem}.{name}.npy")
        np.save(target, gradient)
        written.append((str(target), name))
    return written


def _gamma_argument(text: str) -> float:
    """--gamma: a number or a preset name (focalmetrics.GAMMA_PRESETS)."""
    try:
        return gamma_value(text, "--gamma")
    except ValueError as error:  # argparse says "argument --gamma:" itself
        raise argparse.ArgumentTypeError(str(error).removeprefix("--gamma: ")) from None


def cmd_explain(args: argparse.Namespace) -> int:
    gamma, alpha, digits = args.gamma, args.alpha, args.digits
    if gamma < 0:
        raise UsageError("--gamma: must be >= 0")
    if alpha is not None and not 0 <= alpha <= 1:
        raise UsageError("--alpha: must lie in [0, 1]")
    checked = [("--pt", p) for p in args.pt] + [("--easy-pt", args.easy_pt),
                                                 ("--hard-pt", args.hard_pt)]
    for flag, value in checked:
        if not 0 < value < 1:
            raise UsageError(f"{flag}: p_t must lie in (0, 1), got {value}")
    if args.easy_count < 0 or args.hard_count < 0:
        raise UsageError("--easy-count, --hard-count: must be >= 0")

    def terms(p_t: float) -> tuple[float, float, float]:
        cross_entropy = -math.log(p_t)
        factor = (1.0 - p_t) ** gamma
        return cross_entropy, factor, factor * cross_entropy

    print(f"focal loss FL(p_t) = -(1 - p_t)^gamma log(p_t) against cross-entropy "
          f"CE(p_t) = -log(p_t), gamma = {gamma:g}"
          + (f", alpha = {alpha:g}" if alpha is not None else ""))
    print("Here p_t is the probability the model gives the true class; p_t >= 0.5 is an easy "
          "(well-classified) example.\n")
    headers = ["p_t", "example", "CE", "(1-p_t)^gamma", "focal", "CE / focal"]
    align = "rlrrrr"
    if alpha is not None:
        headers += ["focal x alpha (pos)", "focal x (1-alpha) (neg)"]
        align += "rr"
    rows = []
    for p_t in args.pt:
        cross_entropy, factor, focal = terms(p_t)
        row = [f"{p_t:g}", "easy" if p_t >= 0.5 else "hard", number(cross_entropy, digits),
               number(factor, digits), number(focal, digits),
               f"{cross_entropy / focal:.4g}x" if focal > 0 else "inf"]
        if alpha is not None:
            row += [number(alpha * focal, digits), number((1 - alpha) * focal, digits)]
        rows.append(row)
    print(table(headers, rows, align))

    groups = [("easy", args.easy_count, args.easy_pt, 1 - alpha if alpha is not None else 1.0),
              ("hard", args.hard_count, args.hard_pt, alpha if alpha is not None else 1.0)]
    totals = []
    for label, count, p_t, alpha_t in groups:
        cross_entropy, _, focal = terms(p_t)
        totals.append((label, count, p_t, count * cross_entropy, count * focal,
                       count * focal * alpha_t))
    ce_sum = sum(t[3] for t in totals)
    focal_sum = sum(t[4] for t in totals)
    weighted_sum = sum(t[5] for t in totals)

    def share(part: float, whole: float) -> str:
        return f"{100 * part / whole:.1f}%" if whole > 0 else "n/a"

    print(f"\nexample batch: {args.easy_count} easy examples at p_t = {args.easy_pt:g} "
          f"and {args.hard_count} hard ones at p_t = {args.hard_pt:g}")
    headers = ["", "count", "p_t", "CE total", "CE share", "focal total", "focal share"]
    align = "lrrrrrr"
    if alpha is not None:
        headers += ["focal x alpha_t total", "share"]
        align += "rr"
    rows = []
    for label, count, p_t, ce_total, focal_total, weighted_total in totals:
        row = [label, str(count), f"{p_t:g}", number(ce_total, digits), share(ce_total, ce_sum),
               number(focal_total, digits), share(focal_total, focal_sum)]
        if alpha is not None:
            row += [number(weighted_total, digits), share(weighted_total, weighted_sum)]
        rows.append(row)
    print(table(headers, rows, align))
    if alpha is not None:
        print("alpha_t: easy examples counted as negatives (1 - alpha), hard ones as positives "
              "(alpha), as background anchors and objects are in dense detection.")
    print(f"\nWith gamma = {gamma:g} the easy examples carry {share(totals[0][3], ce_sum)} of the "
          f"cross-entropy but {share(totals[0][4], focal_sum)} of the focal loss "
          "(Lin et al. 2017, Focal Loss for Dense Object Detection, section 3).")
    return 0


# ---------------------------------------------------------------------------
# The parser.

Handler = Callable[[argparse.Namespace], int]


def add_command(commands: Any, common: argparse.ArgumentParser, name: str, handler: Handler,
                summary: str, example: str) -> argparse.ArgumentParser:
    """A command whose --help shows `summary` and `example`."""
    parser = commands.add_parser(
        name, parents=[common], help=summary, description=summary,
        epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler, parser=parser)
    return parser


def add_global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--target",
                        default=default(os.environ.get(TARGET_ENV) or DEFAULT_TARGET),
                        help=f"server host:port (default: ${TARGET_ENV}, else {DEFAULT_TARGET})")
    parser.add_argument("--timeout", type=float, default=default(30.0),
                        help="seconds per call (default: 30)")
    parser.add_argument("--digits", type=int, default=default(6),
                        help="significant digits of printed numbers (default: 6)")
    parser.add_argument("--progress", choices=["auto", "always", "never"],
                        default=default("auto"),
                        help="progress bar on stderr; auto: when stderr is a terminal")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="run id")
    parser.add_argument("--split", default="", help="split (default: train)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="focalmetrics",
        description="Query a focalmetrics server: run metrics, class weights, loss\n"
                    "recommendations, precision-recall curves and losses of .npy arrays.",
        epilog="example:\n  focalmetrics --target localhost:50051 metrics my-run\n\n"
               "exit codes: 0 success, 1 server error (its message is printed), 2 usage error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_global_options(parser, defaults=True)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    # Global options are accepted after the command too; there they default to
    # SUPPRESS so that they do not overwrite the values given before it.
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, defaults=False)
    command = functools.partial(add_command, commands, common)

    command("runs", cmd_runs, "List the runs the server holds.", "focalmetrics runs")

    sub = command("delete", cmd_delete,
                  "Delete a run (every split, or one) and its state on the server.",
                  "focalmetrics delete loadtest --split val")
    sub.add_argument("run", help="run id")
    sub.add_argument("--split", default="", help="only this split (default: every split)")

    sub = command("metrics", cmd_metrics,
                  "Show a run's counts, losses, PR-AUC and per-class statistics.",
                  "focalmetrics metrics my-run --split val --epoch 3")
    add_run_arguments(sub)
    sub.add_argument("--epoch", type=int, help="a closed epoch (default: the current one)")

    sub = command("weights", cmd_weights,
                  "Show class weights derived from a run's class counts.",
                  "focalmetrics weights my-run --scheme effective_number --beta 0.999")
    add_run_arguments(sub)
    sub.add_argument("--scheme", default="effective_number",
                     choices=["effective_number", "inverse_frequency", "inverse_sqrt_frequency"])
    sub.add_argument("--beta", type=float, help="effective_number beta (server default 0.999)")

    sub = command("recommend", cmd_recommend,
                  "Show the loss recommended for a run's imbalance, why, and warnings.",
                  "focalmetrics recommend my-run")
    add_run_arguments(sub)

    sub = command("pr-curve", cmd_pr_curve,
                  "Draw a run's precision-recall curve(s) into an image (PNG).",
                  "focalmetrics pr-curve my-run --class-id 0 --class-id 2 --out curve.png")
    add_run_arguments(sub)
    sub.add_argument("--class-id", type=int, action="append",
                     help="class to draw (repeat for several; default: 0)")
    sub.add_argument("--max-points", type=int, default=0,
                     help="at most this many points per curve (default: the server's)")
    sub.add_argument("--out", required=True, help="image file to write, e.g. curve.png")

    sub = command(
        "loss", cmd_loss,
        "Compute losses of scores and targets stored in .npy files.",
        "focalmetrics loss --scores s.npy --targets t.npy --task binary --loss focal "
        "--loss '{\"kind\":\"focal\",\"gamma\":3,\"name\":\"focal_g3\"}'")
    sub.add_argument("--scores", required=True, help=".npy file of scores (logits by default)")
    sub.add_argument("--targets", required=True, help=".npy file of targets")
    sub.add_argument("--task", required=True, choices=["binary", "multiclass", "multilabel"])
    sub.add_argument("--loss", action="append",
                     help="a kind (focal, cross_entropy, class_balanced_focal, asymmetric, "
                          "ohem, focal_dice) or a JSON object of LossSpec fields; repeatable "
                          "(default: focal)")
    sub.add_argument("--reduction", choices=["mean", "sum", "none"],
                     help="for losses that do not set one (default: mean; none prints the sum)")
    sub.add_argument("--input-kind", default="logits", choices=["logits", "probabilities"])
    sub.add_argument("--ignore-index", type=int, help="multiclass: targets to leave out")
    sub.add_argument("--run", help="run whose class counts feed class_balanced_focal")
    sub.add_argument("--split", default="", help="split of --run (default: train)")
    sub.add_argument("--gradients-out", metavar="GRAD.npy",
                     help="write d loss / d scores (float64); several losses: GRAD.<name>.npy")
    sub.add_argument("--chunk-mb", type=float, default=16.0,
                     help="MiB of scores and targets per request; larger arrays are sent in "
                          "chunks and summed (default: 16)")

    sub = command(
        "explain", cmd_explain,
        "Compare focal loss and cross-entropy on easy and hard examples (no server needed).",
        "focalmetrics explain --gamma 2 --alpha 0.25")
    sub.add_argument("--gamma", type=_gamma_argument, default=2.0,
                     help="focusing exponent, or a preset: " +
                          ", ".join(f"{k} ({v:g})" for k, v in GAMMA_PRESETS.items()) +
                          " (default: 2)")
    sub.add_argument("--alpha", type=float, help="also show the alpha-weighted focal loss")
    sub.add_argument("--pt", type=float, nargs="+", default=[0.99, 0.9, 0.6, 0.4, 0.1],
                     help="p_t values of the table (default: 0.99 0.9 0.6 0.4 0.1)")
    sub.add_argument("--easy-count", type=int, default=1000,
                     help="easy examples in the example batch (default: 1000)")
    sub.add_argument("--easy-pt", type=float, default=0.9, help="their p_t (default: 0.9)")
    sub.add_argument("--hard-count", type=int, default=10,
                     help="hard examples in the example batch (default: 10)")
    sub.add_argument("--hard-pt", type=float, default=0.1, help="their p_t (default: 0.1)")
    return parser


def server_hint(code: grpc.StatusCode, target: str) -> str:
    if code == grpc.StatusCode.UNAVAILABLE:
        return (f"\nhint: is focalmetrics-server running at {target}? "
                f"Set --target or ${TARGET_ENV}.")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "\nhint: raise --timeout."
    return ""


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one command; returns its exit code (argparse exits 2 by itself)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: argparse.ArgumentParser = args.parser
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"{command.prog}: error: {error}", file=sys.stderr)
        return 2
    except FocalMetricsError as error:
        print(f"{command.prog}: server error {error.code.name}: {error.message}"
              f"{server_hint(error.code, args.target)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) left; silence the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
