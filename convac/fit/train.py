"""Fitting ConvACs by gradient: a student network trained on a teacher's outputs.

Features are random patch features (``N(0, 1)``, seeded) or real ones: scikit-learn's
bundled 8x8 digits cut into patches (:class:`~convac.representation.Patches`) and passed
through a fixed representation.  The objective is the squared relative error
``||pred - target||^2 / ||target||^2`` of each batch, and the figure reported is the
held-out relative error ``||pred - target|| / ||target||`` on a split never trained on.

Long products over- or underflow; in log space (:meth:`ConvAC.forward_log`) both
prediction and target are ``(log|h|, sign)`` pairs and the relative error is evaluated
after a common shift by the largest log-magnitude, which leaves the ratio unchanged.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import arrays, validate
from ..nets.network import ConvAC, node_conv
from ..nets.pooling import PRODUCT
from ..nets.representation import Patches, Representation
from ..nets.tree import fold, fold_levels, traverse

__all__ = [
    "TrainResult",
    "LOG_SPACE_PATCHES",
    "random_features",
    "FEATURE_DISTRIBUTIONS",
    "digits_features",
    "DIGITS_REPRESENTATIONS",
    "relative_error",
    "train_student",
    "OPTIMIZERS",
    "output_jacobian",
    "balance",
]

LOG_SPACE_PATCHES = 32
"""``log_space="auto"`` computes in log space from this many patches on."""

_ETA = 1e-2
"""Final learning rate of the cosine decay, as a fraction of ``lr``."""

_LM_PROGRESS = 1e-6
"""Levenberg-Marquardt: an accepted step that lowers the best training loss by less than
this fraction counts towards ``patience``."""

DIGITS_MAX_BYTES = 2**30
"""Memory budget of :func:`digits_features` and :func:`random_features` (float64
features ``(S, N, M)``)."""


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_student`.

    Attributes
    ----------
    held_out_error : float
        ``||pred - target|| / ||target||`` on the held-out split (float64 evaluation).
    train_error : float
        The same on the training split.
    losses : tuple of float
        Training objective (squared relative error of the batch) at every step.
    steps, batch_size : int
    lr : float
    seed : int
    n_train, n_test : int
    log_space : bool
        Whether training and evaluation ran in log space.
    device : str
    dtype : str
    student : ConvAC
        The trained copy of the student (the network passed in is left untouched).
    restart, n_restarts : int
        Which restart was kept (lowest validation error; training error without a
        validation split) out of how many.
    validation_error : float
        Relative error on the validation split (NaN without one).
    n_validation : int
    steps_run : int
        Steps the kept restart ran before early stopping.
    """

    held_out_error: float
    train_error: float
    losses: tuple
    steps: int
    batch_size: int
    lr: float
    seed: int
    n_train: int
    n_test: int
    log_space: bool
    device: str
    dtype: str
    student: ConvAC
    restart: int = 0
    n_restarts: int = 1
    validation_error: float = math.nan
    n_validation: int = 0
    steps_run: int = 0


def _sphere(draw: torch.Tensor) -> torch.Tensor:
    """Normal draws ``(B, N, M)`` scaled to length ``sqrt(M)`` per patch."""
    norm = torch.linalg.vector_norm(draw, dim=-1, keepdim=True).clamp_min(1e-300)
    return draw * (math.sqrt(draw.shape[-1]) / norm)


FEATURE_DISTRIBUTIONS = {"normal": lambda draw: draw, "sphere": _sphere}
"""Distributions of :func:`random_features`; each has ``E[x x^T] = I`` per patch."""


def random_features(n_samples: int, n_patches: int, n_channels: int, seed: int = 0,
                    dtype: torch.dtype = torch.float64,
                    distribution: str = "normal") -> torch.Tensor:
    """Seeded random patch features, shape ``(n_samples, N, M)``, independent across
    patches, each patch with ``E[x x^T] = I``.

    ``distribution``: ``"normal"`` (standard normal entries) or ``"sphere"`` (uniform on
    the sphere of radius ``sqrt(M)``: the normal draw normalised).  Both make the
    expected squared output of a ConvAC the squared Frobenius norm of its coefficient
    tensor, so the population error of a student is ``||A - B||_F / ||A||_F`` either
    way; the sphere's lighter tails (``E x_d^4 = 3M / (M + 2)`` against 3, raised to the
    power ``N`` in a product of ``N`` patches) make the sample error a far less noisy
    estimate of it.  ``dtype`` must be a floating dtype (integer draws would be
    truncated)."""
    n_samples = validate.positive_int(n_samples, "n_samples")
    n_patches = validate.positive_int(n_patches, "n_patches")
    n_channels = validate.positive_int(n_channels, "n_channels")
    seed = validate.integer(seed, "seed", 0, 2**63 - 1)
    shape = validate.option(FEATURE_DISTRIBUTIONS, distribution, "feature distribution")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise validate.InvalidValueError(
            f"dtype must be a floating torch dtype (float32, float64, ..), got {dtype}")
    validate.check_shape_budget((n_samples, n_patches, n_channels), DIGITS_MAX_BYTES,
                                "random features")
    gen = torch.Generator().manual_seed(int(seed))
    draw = torch.randn((n_samples, n_patches, n_channels), generator=gen,
                       dtype=torch.float64)  # (B, N, M)
    return shape(draw).to(dtype)


@torch.no_grad()
def _affine_rep(patches: torch.Tensor, n_channels, gen) -> nn.Module:
    """``f_0 = 1``, ``f_d = x_d``: a :class:`~convac.representation.Linear` layer fixed to
    pixels plus a constant channel (blank patches are not zero vectors, so products over
    patches do not vanish)."""
    dim = patches.shape[-1]
    if n_channels not in (None, dim + 1):
        raise validate.InvalidValueError(
            f"the affine representation has n_channels={dim + 1} (patch pixels + 1), "
            f"got n_channels={n_channels}")
    layer = Representation("linear", dim, dim + 1).to(patches.dtype)
    layer.linear.weight.copy_(torch.cat([torch.zeros(1, dim), torch.eye(dim)]))  # (D+1, D)
    layer.linear.bias.copy_(torch.eye(dim + 1)[0])  # (D+1,)
    return layer


@torch.no_grad()
def _gaussian_rep(patches: torch.Tensor, n_channels, gen) -> nn.Module:
    """A :class:`~convac.representation.Gaussian` layer with ``M`` templates drawn from
    the patches themselves and ``2 sigma^2`` twice the median squared distance."""
    m = 4 if n_channels is None else n_channels
    flat = patches.reshape(-1, patches.shape[-1])  # (B*N, D)
    if m > flat.shape[0]:
        raise validate.InvalidValueError(
            f"n_channels must be at most the number of patches ({flat.shape[0]}) for the "
            f"gaussian representation, got {m}")
    means = flat[torch.randperm(flat.shape[0], generator=gen)[:m]]  # (M, D)
    sigma2 = torch.median(torch.cdist(flat, means).pow(2)).clamp_min(1e-12)
    layer = Representation("gaussian", flat.shape[1], m).to(patches.dtype)
    layer.means.copy_(means)
    layer.log_sigma.fill_(0.5 * float(torch.log(sigma2)))
    return layer


DIGITS_REPRESENTATIONS = {"gaussian": _gaussian_rep, "affine": _affine_rep}
"""Fixed representations for :func:`digits_features`, built from
:mod:`convac.nets.representation` layers: ``gaussian`` (similarity to ``M`` patches drawn with
the seed, ``2 sigma^2`` twice the median squared distance; default ``M = 4``) and
``affine`` (a constant channel and the pixels, ``M = patch_size**2 + 1``)."""


def digits_features(patch_size: int = 2, representation: str = "gaussian",
                    n_channels: int | None = None, seed: int = 0,
                    dtype: torch.dtype = torch.float64):
    """Patch features of scikit-learn's bundled 8x8 digits (1797 images).

    Pixels are scaled to ``[0, 1]``, cut into non-overlapping ``patch_size`` patches in
    quad-tree order and mapped by a fixed (not trained) representation.

    Returns
    -------
    features : Tensor, shape ``(1797, N, M)``, ``N = (8 / patch_size)^2``
    labels : Tensor, int64, shape ``(1797,)``
    """
    from sklearn.datasets import load_digits

    fn = validate.option(DIGITS_REPRESENTATIONS, representation, "digits representation")
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or (
            patch_size not in (1, 2, 4, 8)):
        raise validate.InvalidValueError(
            f"patch_size must divide 8 into a power-of-two grid (1, 2, 4 or 8), "
            f"got {patch_size!r}")
    if n_channels is not None:
        n_channels = validate.positive_int(n_channels, "n_channels")
        # the features are (1797, N, M) float64: refuse before building them
        validate.check_shape_budget((1797, (8 // patch_size) ** 2, n_channels),
                                    DIGITS_MAX_BYTES, "digits features")
    seed = validate.seed(seed)
    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float64) / 16.0  # (B, 8, 8)
    patches = Patches(patch_size)(images.unsqueeze(1))  # (B, N, p*p), quad-tree order
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        feats = fn(patches, n_channels, gen)(patches)  # (B, N, M)
    return feats.to(dtype), torch.as_tensor(digits.target, dtype=torch.int64)


def relative_error(pred, target) -> torch.Tensor:
    """``||pred - target|| / ||target||``; pairs ``(log|h|, sign)`` are compared in log
    space after a common shift by the largest finite log-magnitude."""
    if isinstance(pred, tuple):
        (lp, sp), (lt, st) = pred, target
        both = torch.cat([lp.reshape(-1), lt.reshape(-1)])
        finite = both[torch.isfinite(both)]
        shift = finite.max().detach() if finite.numel() else torch.zeros((), dtype=lp.dtype)
        pred = sp * torch.exp(lp - shift)  # (B, Y), |entries| <= 1
        target = st * torch.exp(lt - shift)  # (B, Y)
    return torch.linalg.vector_norm(pred - target) / torch.linalg.vector_norm(target)


def _check_pair(student: ConvAC, teacher: ConvAC | None, features, targets) -> None:
    validate.network(student)
    if teacher is not None:
        validate.network(teacher)
        for what in ("n_patches", "n_channels", "n_outputs"):
            a, b = getattr(student, what), getattr(teacher, what)
            if a != b:
                raise validate.InvalidValueError(
                    f"student {what}={a} differs from teacher {what}={b}")
    elif targets is None:
        raise validate.InvalidValueError("give a teacher or targets, got neither")
    if features is not None:
        if features.ndim != 3 or tuple(features.shape[1:]) != (student.n_patches,
                                                                 student.n_channels):
            raise validate.InvalidValueError(
                f"features must have shape (n_samples, n_patches={student.n_patches}, "
                f"n_channels={student.n_channels}), got {tuple(features.shape)}"
            )
        _finite(features, "features")


def _finite(values: torch.Tensor, name: str) -> None:
    """Refuse NaN or infinite entries, naming the first one."""
    bad = ~torch.isfinite(torch.as_tensor(values))
    if bool(bad.any()):
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise validate.InvalidValueError(
            f"{name} must be finite, got {float(torch.as_tensor(values)[index])} at index "
            f"{index} ({int(bad.sum())} non-finite in all)")


@torch.no_grad()
def _match_scale(model: ConvAC, x: torch.Tensor, y, log_space: bool) -> None:
    """Rescale ``model`` by the least-squares factor ``alpha = <p, t> / <p, p>`` between its
    outputs ``p`` and the targets ``t``, spread evenly over the leaves.

    Every leaf enters each product once, so leaves times ``|alpha|^(1/N)`` scale the
    outputs by ``|alpha|``; the sign goes to the output layer.  Computed with each side
    shifted by its own largest log-magnitude, so no product overflows.
    """
    if log_space:
        (lp, sp), (lt, st) = model.forward_log(x), y
    else:
        p, t = model(x), y
        lp, sp, lt, st = torch.log(p.abs()), torch.sign(p), torch.log(t.abs()), torch.sign(t)
    cp, ct = lp[torch.isfinite(lp)], lt[torch.isfinite(lt)]
    if cp.numel() == 0 or ct.numel() == 0:
        return
    cp, ct = cp.max(), ct.max()
    p, t = sp * torch.exp(lp - cp), st * torch.exp(lt - ct)  # (B, Y) each, |entries| <= 1
    inner = float((p * t).sum())
    if inner == 0.0:
        return
    log_alpha = math.log(abs(inner)) - math.log(float((p * p).sum())) + float(ct - cp)
    leaf_scale = math.exp(log_alpha / model.n_patches)
    for w in (model.weight_levels()[:model.n_patches] if model.is_tree else [model.weights[0]]):
        w.mul_(leaf_scale)  # every leaf (a tree keeps one weight per leaf)
    if inner < 0:
        model.weights[-1].neg_()


class _EarlyStopping:
    """Keep the weights with the lowest validation error; signal a stop after ``patience``
    measurements without a relative improvement of 1e-4 (``patience=0``: never)."""

    def __init__(self, model, forward, val, patience: int):
        self.model, self.forward, self.val, self.patience = model, forward, val, patience
        self.best, self.state, self.since = math.inf, None, 0

    @torch.no_grad()
    def measure(self) -> bool:
        """Measure the validation error now; True when training should stop."""
        err = float(relative_error(self.forward(self.val[0]), self.val[1]))
        err = err if math.isfinite(err) else math.inf
        if err < self.best * (1 - 1e-4):
            self.best, self.since = err, 0
            self.state = copy.deepcopy(self.model.state_dict())
        else:
            self.since += 1
        return bool(self.patience) and self.since >= self.patience

    def restore(self) -> None:
        if self.state is not None:
            self.model.load_state_dict(self.state)


class _NoBar:
    """``range(steps)`` with the two methods of a tqdm bar the loops call."""

    def __init__(self, steps: int):
        self._steps = steps

    def __iter__(self):
        return iter(range(self._steps))

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(steps: int, progress: bool, desc: str | None):
    """A tqdm bar over ``range(steps)`` when ``progress`` is on, else a silent range: tqdm
    is an optional extra (``convac[fit]``), imported only when a bar is shown."""
    if not progress:
        return _NoBar(steps)
    return tqdm(range(steps), desc=desc, leave=False)


OPTIMIZERS = validate.Registry("optimizer")
"""Training loops of :func:`train_student`, each
``fn(model, x_train, y_train, steps, batch_size, lr, gen, log_space, progress, desc, val,
patience) -> (losses, best validation error, steps run)``."""


@OPTIMIZERS.register("adam")
def _adam(model, x_train, y_train, steps, bs, lr, gen, log_space, progress, desc,
          val=None, patience: int = 0) -> tuple:
    """Adam on seeded mini-batches with cosine decay and early stopping.

    With ``val = (x_val, y_val)`` the validation error is measured every
    ``max(1, steps // 100)`` steps; the weights with the lowest one are kept, and training
    stops after ``patience`` measurements without a relative improvement of 1e-4
    (``patience=0``: never).  Returns ``(losses, best validation error, steps run)``.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * _ETA)
    forward = model.forward_log if log_space else model.forward
    n_train = x_train.shape[0]
    device = x_train.device
    losses = []
    every = max(1, steps // 100)
    stop = _EarlyStopping(model, forward, val, patience)
    bar = _bar(steps, progress, desc)
    order, pos = torch.randperm(n_train, generator=gen), 0
    for step in bar:
        if pos + bs > n_train:
            order, pos = torch.randperm(n_train, generator=gen), 0
        idx = order[pos:pos + bs].to(device)
        pos += bs
        yb = tuple(t[idx] for t in y_train) if log_space else y_train[idx]
        loss = relative_error(forward(x_train[idx]), yb) ** 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        value = float(loss.detach())
        losses.append(value)
        if val is not None and ((step + 1) % every == 0 or step + 1 == steps):
            if stop.measure():
                break
        if progress:
            bar.set_postfix(loss=f"{value:.3g}", val=f"{stop.best:.3g}", refresh=False)
    bar.close()
    stop.restore()
    return tuple(losses), stop.best, len(losses)


def _recorded_forward(model: ConvAC, x: torch.Tensor) -> tuple:
    """The forward pass of ``model`` keeping every level's input and conv output.

    Returns
    -------
    outputs : Tensor, shape ``(B, Y)``
    records : list of ``(input, conv)`` per level ``l``, shapes ``(nodes_l, B, r_{l-1})``
        and ``(nodes_l, B, r_l)`` (``r_{-1} = M``): ``conv = input @ weights[l]^T`` node
        by node.  For a :class:`PoolingTree`, one per node in key order (the order of
        ``weights``), shapes ``(1, B, rank_in)`` and ``(1, B, rank_out)``.
    """
    model.check_state()
    weights = model.weight_levels()
    records = []

    def conv(lvl: int, inputs: torch.Tensor) -> torch.Tensor:
        out = node_conv(inputs, weights[lvl])  # (nodes, B, r_l)
        if not out.requires_grad:  # weights without grad: differentiate at the convs
            out.requires_grad_()
        records.append((inputs, out))
        return out

    def level(lvl: int, w: int, values: torch.Tensor) -> torch.Tensor:
        n, b, r = values.shape
        return conv(lvl, model.pooling(values.view(n // w, w, b, r)))

    leaves = x.to(weights[0].dtype).index_select(1, model.order).transpose(0, 1)  # (N, B, M)
    if model.is_tree:  # weights by key: the fold visits the nodes in key order
        out = fold(model.schedule, lambda tn: conv(tn.key, leaves[tn.index][None])[0],
                   lambda tn, kids: conv(tn.key, model.pooling.pool_children(kids)[None])[0])
        return out, records  # (B, Y)
    return fold_levels(model.schedule, conv(0, leaves), level)[0], records


def output_jacobian(model: ConvAC, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs of ``model`` on ``x`` and their Jacobian with respect to all weights.

    Samples are independent, so one backward pass per output gives every sample's
    gradient with respect to each level's conv outputs; the conv is linear in its
    weights, so the per-sample weight gradient is that gradient times the conv's input
    (an outer product per node, summed over nodes for shared weights).  This costs
    ``Y`` backward passes instead of ``B * Y`` (reverse mode) or one forward per
    parameter (forward mode).

    Parameters
    ----------
    model : ConvAC
    x : Tensor, shape ``(B, N, M)``

    Returns
    -------
    outputs : Tensor, shape ``(B, Y)``, detached
    jacobian : Tensor, shape ``(B * Y, P)``
        Row ``b * Y + y`` is the gradient of ``outputs[b, y]`` with respect to the weights
        flattened level by level (``P = sum_l weights[l].numel()``, the order of
        ``torch.cat([w.reshape(-1) for w in model.weight_levels()])``).
    """
    weights = model.weight_levels()
    with torch.enable_grad():
        out, records = _recorded_forward(model, x)
        convs = [c for _, c in records]
        rows = []
        for y in range(out.shape[1]):
            grads = torch.autograd.grad(out[:, y].sum(), convs, retain_graph=True)
            blocks = []
            for (inputs, _), g, w in zip(records, grads, weights, strict=True):
                block = torch.einsum("nbo,nbi->bnoi", g, inputs)  # (B, nodes, r_l, r_{l-1})
                if w.ndim == 2:
                    block = block.sum(1)  # one weight for every node
                blocks.append(block.reshape(block.shape[0], -1))
            rows.append(torch.cat(blocks, 1))  # (B, P)
    jac = torch.stack(rows, 1).reshape(out.numel(), -1)  # (B * Y, P)
    return out.detach(), jac.detach()


@torch.no_grad()
def balance(model: ConvAC) -> bool:
    """Rescale the weights in place without changing the function: at every pooling
    window, a child's output channel ``k`` (row ``k`` of its weight) and the parent's
    input channel ``k`` (column ``k``) get the geometric mean of their ``w + 1`` norms.

    Product pooling multiplies the children's channel ``k``, so scaling the children's
    rows by ``c_1 .. c_w`` and the parent's column by ``1 / (c_1 .. c_w)`` leaves every
    output unchanged.  Levenberg-Marquardt's damping ``mu I`` is not invariant under
    these rescalings; balancing every step sped its crossing of CP swamps up 2-3x (the
    report teacher at K=16: 137-245 iterations instead of 452-613 or more).  Only
    non-shared weights and product pooling; other networks are left as they are.

    Returns
    -------
    bool
        Whether the network was balanced.
    """
    if model.shared or model.pooling is not PRODUCT:
        return False
    if model.is_tree:
        weights = model.node_weights()
        for tn in traverse(model.schedule):
            if tn.level == 0:
                continue
            parent = weights[tn.key]  # (rank_out, r): its columns are the pooled channels
            logs = torch.stack([weights[c].norm(dim=1).log() for c in tn.children]
                               + [parent.norm(dim=0).log()])  # (w+1, r)
            if not bool(torch.isfinite(logs).all()):
                continue
            scale = torch.exp(logs.mean(0, keepdim=True) - logs)  # (w+1, r)
            for c, row in zip(tn.children, scale[:-1], strict=True):
                weights[c].mul_(row.unsqueeze(1))
            parent.mul_(scale[-1])
        return True
    weights = model.weight_levels()
    for lvl, w in enumerate(model.schedule.windows, start=1):
        child = weights[lvl - 1]  # (nodes_{l-1}, r_{l-1}, r_{l-2})
        parent = weights[lvl] if weights[lvl].ndim == 3 else weights[lvl].unsqueeze(0)
        nodes = parent.shape[0]  # parent: (nodes_l, r_l, r_{l-1}), a view of the top level
        logs = torch.cat([child.norm(dim=2).view(nodes, w, -1).log(),
                          parent.norm(dim=1).log().unsqueeze(1)], 1)  # (nodes_l, w+1, r)
        if not bool(torch.isfinite(logs).all()):  # a zero row or column: nothing to share
            continue
        scale = torch.exp(logs.mean(1, keepdim=True) - logs)  # (nodes_l, w+1, r_{l-1})
        child.mul_(scale[:, :w].reshape(child.shape[0], -1, 1))
        parent.mul_(scale[:, w].unsqueeze(1))
    return True


@OPTIMIZERS.register("lm")
def _levenberg_marquardt(model, x_train, y_train, steps, bs, lr, gen, log_space, progress,
                         desc, val=None, patience: int = 0) -> tuple:
    """Levenberg-Marquardt on the full training split (``bs``, ``lr`` and ``gen`` unused).

    Minimises ``||r||^2``, ``r = (outputs - targets) / ||targets||``: each step solves
    ``(J^T J + mu I) d = -J^T r`` with the exact Jacobian (:func:`output_jacobian`) and
    keeps ``d`` if the loss drops, with Nielsen's damping update (``mu`` shrinks by up to
    3x on a good step, doubles and keeps doubling on rejected ones).  Near a zero-residual
    solution this is Gauss-Newton: quadratic convergence.  The network is balanced
    (:func:`balance`) before every Jacobian.  The validation error is
    measured after every accepted step and the weights with the lowest one are kept;
    ``patience`` counts accepted steps that lower the training loss by less than
    :data:`_LM_PROGRESS` (relative), not validation measurements, since LM crosses CP
    swamps (near-degenerate components) where the validation error stalls for a hundred
    steps before it drops.  Stops also when the loss is zero to rounding or ``mu`` has
    grown past ``1e16`` times the Gauss-Newton diagonal (no step reduces the loss).
    """
    if log_space:
        raise validate.InvalidValueError(
            "optimizer='lm' works in linear space; got log_space=True (pass "
            "log_space=False, or use optimizer='adam')")
    params = model.weight_levels()
    norm = torch.linalg.vector_norm(y_train)

    def residual():
        with torch.no_grad():
            return ((model(x_train) - y_train) / norm).reshape(-1)

    def shift(step: torch.Tensor) -> None:
        with torch.no_grad():
            for w, d in zip(params, torch.split(step, [w.numel() for w in params]),
                            strict=True):
                w.add_(d.view_as(w))

    keep = _EarlyStopping(model, model.forward, val, 0)  # only keeps the best weights
    losses = []
    mu, nu, since = None, 2.0, 0
    balance(model)
    out, jac = output_jacobian(model, x_train)
    r = ((out - y_train) / norm).reshape(-1)
    jac = jac / norm
    loss = best = float(r @ r)
    eps = torch.finfo(r.dtype).eps
    bar = _bar(steps, progress, desc)
    for _ in bar:
        losses.append(loss)
        gram, grad = jac.T @ jac, jac.T @ r  # (P, P), (P,)
        diag_max = float(gram.diagonal().max())
        if mu is None:
            mu = 1e-3 * diag_max
        if loss <= eps ** 2 or mu > 1e16 * max(diag_max, eps):
            break
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        chol, info = torch.linalg.cholesky_ex(gram + mu * eye)
        if int(info):
            mu, nu = mu * nu, nu * 2
            continue
        step = -torch.cholesky_solve(grad.unsqueeze(1), chol).squeeze(1)
        predicted = float(step @ (mu * step - grad))  # ||r||^2 - ||r + J d||^2 - mu ||d||^2
        shift(step)
        new_r = residual()
        new_loss = float(new_r @ new_r)
        rho = (loss - new_loss) / predicted if predicted > 0 else -1.0
        if not (math.isfinite(new_loss) and rho > 0):
            shift(-step)
            mu, nu = mu * nu, nu * 2
            continue
        mu *= max(1 / 3, 1 - (2 * rho - 1) ** 3)
        nu = 2.0
        balance(model)
        out, jac = output_jacobian(model, x_train)
        r, jac, loss = ((out - y_train) / norm).reshape(-1), jac / norm, new_loss
        if val is not None:
            keep.measure()
        since = 0 if loss < best * (1 - _LM_PROGRESS) else since + 1
        best = min(best, loss)
        if patience and since >= patience:
            break
        if progress:
            bar.set_postfix(loss=f"{loss:.3g}", val=f"{keep.best:.3g}", refresh=False)
    bar.close()
    keep.restore()
    return tuple(losses), keep.best, len(losses)


def train_student(
    student: ConvAC,
    teacher: ConvAC | None = None,
    *,
    features=None,
    targets=None,
    n_samples: int = 2048,
    test_fraction: float = 0.25,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-2,
    seed: int = 0,
    device="cpu",
    dtype: torch.dtype = torch.float64,
    log_space="auto",
    progress: bool = True,
    n_restarts: int = 3,
    match_scale: bool = True,
    validation_fraction: float = 0.1,
    patience: int = 20,
    optimizer: str = "adam",
    distribution: str = "normal",
) -> TrainResult:
    """Train a copy of ``student`` (Adam or Levenberg-Marquardt) to reproduce a teacher's outputs.

    Parameters
    ----------
    student : ConvAC
        Its initial weights are used as they are (seed it at construction).
    teacher : ConvAC, optional
        Gives the targets ``teacher(features)``; must match the student's ``n_patches``,
        ``n_channels`` and ``n_outputs``.
    features : Tensor, shape ``(S, N, M)``, optional
        Default: ``n_samples`` seeded standard-normal features (:func:`random_features`).
    targets : Tensor, shape ``(S, Y)``, optional
        Instead of a teacher.
    n_samples : int, default 2048
        Random features drawn when ``features`` is not given.
    test_fraction : float, default 0.25
        Held-out share of the samples (a seeded permutation decides which).
    steps, batch_size : int
        Adam steps on mini-batches drawn with the seed (cosine learning-rate decay).
    lr : float, default 1e-2
    seed : int, default 0
        Seeds the features, the split and the batches.
    device : str or torch.device, default "cpu"
    dtype : torch.float32 or torch.float64, default float64
        Training dtype; evaluation is float64.
    log_space : bool or "auto"
        Train and evaluate with :meth:`ConvAC.forward_log`; ``"auto"`` does so from
        :data:`LOG_SPACE_PATCHES` patches on.
    progress : bool, default True
        Show a tqdm progress bar.
    n_restarts : int, default 3
        Restart 0 starts from the student's own weights, restart ``r >= 1`` from
        ``reset_parameters(seed + r)``; the restart with the lowest validation error
        is kept.
    match_scale : bool, default True
        Before training, rescale each start by the least-squares factor between its
        outputs and the training targets (leaves times ``|alpha|^(1/N)``, sign to the
        output layer), so Adam does not spend its steps on the overall scale.
    validation_fraction : float, default 0.1
        Share of the training split set aside (seeded) for early stopping: the weights
        with the lowest validation error are kept, and restarts are compared on it.
        0 trains on the whole training split and compares restarts on training error.
    patience : int, default 20
        Stop after this many validation measurements (one every ``steps // 100`` steps)
        without a relative improvement of 1e-4; 0 never stops early.  With
        ``optimizer="lm"``: accepted steps without a relative improvement of the training
        loss of :data:`_LM_PROGRESS`.
    distribution : {"normal", "sphere"}, default "normal"
        Of the random features drawn when ``features`` is not given
        (:func:`random_features`); ``"sphere"`` has the same population error with a less
        noisy sample estimate of it (see the notes).
    optimizer : {"adam", "lm"}, default "adam"
        A registered training loop (:data:`OPTIMIZERS`): ``"adam"`` (mini-batches of
        ``batch_size``, ``lr``, cosine decay) or ``"lm"``, Levenberg-Marquardt on the whole
        training split with the exact Jacobian (:func:`output_jacobian`); ``steps`` then
        bounds its iterations (rejected ones included), ``batch_size`` and ``lr`` are
        unused, and it needs ``log_space=False``.  One iteration costs ``Y`` backward
        passes and an ``S_train x P`` by ``P x P`` product (``P`` weights).

    Returns
    -------
    TrainResult

    Notes
    -----
    ``distribution="sphere"`` features have the normal features' population error with a
    lighter-tailed sample estimate (fourth moment of a product of ``N`` features
    ``(9/5)^N`` against ``3^N`` at ``M = 3``).  How the defaults were chosen, and the
    students measured against CP-ALS and on digits: ``docs/students.md``.

    References
    ----------
    K. Levenberg (1944), D. Marquardt (1963); H. B. Nielsen, "Damping parameter in
    Marquardt's method", IMM-REP-1999-05 (the damping update of ``"lm"``).
    """
    if isinstance(features, np.ndarray):
        features = torch.as_tensor(features)
    _check_pair(student, teacher, features, targets)
    steps = validate.count(steps, "steps")
    batch_size = validate.positive_int(batch_size, "batch_size")
    if dtype not in (torch.float32, torch.float64):
        raise validate.InvalidValueError(
            f"dtype must be torch.float32 or torch.float64, got {dtype}")
    test_fraction = validate.real(test_fraction, "test_fraction", 0.0, 1.0,
                                  strict_minimum=True, strict_maximum=True)
    lr = validate.real(lr, "lr", 0.0, strict_minimum=True)
    seed = validate.integer(seed, "seed", 0, 2**63 - 1)
    progress = validate.boolean(progress, "progress")
    match_scale = validate.boolean(match_scale, "match_scale")
    validation_fraction = validate.real(validation_fraction, "validation_fraction", 0.0, 1.0,
                                        strict_maximum=True)
    patience = validate.count(patience, "patience", minimum=0)
    n_restarts = validate.count(n_restarts, "n_restarts")
    fit_loop = validate.option(OPTIMIZERS, optimizer, "optimizer")
    if log_space == "auto":
        log_space = student.n_patches >= LOG_SPACE_PATCHES
    if not isinstance(log_space, bool):
        raise validate.InvalidValueError(
            f"log_space must be True, False or 'auto', got {log_space!r}")
    device = arrays.device(device) or torch.device("cpu")
    dtype = arrays.float_dtype(dtype)
    gen = torch.Generator().manual_seed(int(seed))
    if features is None:
        n_samples = validate.positive_int(n_samples, "n_samples")
        features = random_features(n_samples, student.n_patches, student.n_channels, seed,
                                   distribution=distribution)
    feats = features.detach().to("cpu", torch.float64)  # (S, N, M)
    n_total = feats.shape[0]
    n_test = max(1, round(test_fraction * n_total))
    if n_total - n_test < 1:
        raise validate.InvalidValueError(f"need at least 2 samples to split, got {n_total}")
    perm = torch.randperm(n_total, generator=gen)
    test_idx, train_idx = perm[:n_test], perm[n_test:]

    with torch.no_grad():
        if targets is None:
            ref = copy.deepcopy(teacher).to("cpu", torch.float64)
            target = ref.forward_log(feats) if log_space else ref(feats)
        else:
            target = torch.as_tensor(targets).detach().to("cpu", torch.float64)
            if target.ndim != 2 or target.shape != (n_total, student.n_outputs):
                raise validate.InvalidValueError(
                    f"targets must have shape (n_samples={n_total}, n_outputs="
                    f"{student.n_outputs}), got {tuple(target.shape)}")
            _finite(target, "targets")
            if log_space:
                target = (torch.log(target.abs()), torch.sign(target))

    def take(idx, dev=None, dt=None):
        def one(t):
            return t[idx].to(dev or t.device, dt or t.dtype)
        return tuple(one(t) for t in target) if log_space else one(target)

    n_val = round(validation_fraction * len(train_idx))
    if n_val >= len(train_idx):
        raise validate.InvalidValueError(
            f"validation_fraction={validation_fraction} leaves no training samples")
    val_idx, train_idx = train_idx[:n_val], train_idx[n_val:]
    x_train = feats[train_idx].to(device, dtype)  # (S_train, N, M)
    y_train = take(train_idx, device, dtype)
    val = (feats[val_idx].to(device, dtype), take(val_idx, device, dtype)) if n_val else None
    n_train = x_train.shape[0]
    bs = min(batch_size, n_train)
    best = None
    for restart in range(n_restarts):
        model = copy.deepcopy(student).to(device, dtype)
        if restart:
            model.reset_parameters(seed + restart)
        if match_scale:
            _match_scale(model, x_train, y_train, log_space)
        losses, _, run = fit_loop(model, x_train, y_train, steps, bs, lr, gen, log_space,
                               progress, f"train {restart + 1}/{n_restarts}", val, patience)
        with torch.no_grad():
            ev = copy.deepcopy(model).to("cpu", torch.float64)
            ev_fwd = ev.forward_log if log_space else ev.forward
            train = float(relative_error(ev_fwd(feats[train_idx]), take(train_idx)))
            held = float(relative_error(ev_fwd(feats[test_idx]), take(test_idx)))
            valid = (float(relative_error(ev_fwd(feats[val_idx]), take(val_idx)))
                     if n_val else math.nan)
        key = valid if n_val else train
        key = key if math.isfinite(key) else math.inf
        if best is None or key < best[0]:
            best = (key, train, held, valid, losses, model, restart, run)
    _, train, held, valid, losses, model, kept, run = best
    return TrainResult(
        held_out_error=held, train_error=train, losses=losses, steps=steps,
        batch_size=bs, lr=float(lr), seed=int(seed), n_train=int(n_train), n_test=int(n_test),
        log_space=log_space, device=str(device), dtype=str(dtype).replace("torch.", ""),
        student=model, restart=kept, n_restarts=int(n_restarts), validation_error=valid,
        n_validation=int(n_val), steps_run=int(run),
    )
