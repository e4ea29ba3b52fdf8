"""Convolutional arithmetic circuits (ConvACs) as PyTorch modules.

Level 0 applies a 1x1 conv to every patch, ``conv_0[i, g] = <a^{0,i,g}, rep[i, :]>``;
level ``l >= 1`` multiplies the ``w_l`` nodes of each window (product pooling) and
applies a 1x1 conv, ``conv_l[j, g] = <a^{l,j,g}, pool_{l-1}[j, :]>``.  The last conv is
the output.  CP (shallow) networks have the schedule ``(N,)``; HT (deep) networks
``(2, .., 2)``.

Internally activations are laid out ``(nodes, batch, channels)`` so that every conv
is one batched matmul over nodes and every pooling is a reduction over a contiguous
window of nodes.  There is one forward path, the same with and without autograd (without
it the pooling accumulates in place: the same function with fewer copies); it reads the
weights afresh on every call, so weights changed by any optimizer, by ``.data`` writes,
numpy views or ``load_state_dict`` are always the ones used; the state's metadata is
checked on every call, the order's values where they change (``ConvAC._order_changed``).
On the CPU, without autograd, a batch goes through in chunks that keep each level in
cache.  Acceleration goes through torch only: ``torch.compile(net, fullgraph=True)``
traces it as one graph; on the CPU without autograd it traces each level's convs as
broadcast multiply-adds (:func:`unrolled_conv`), which inductor fuses with the pooling into
one vectorized loop per level.

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016 (eq. 2-4; Appendix E for the log-space computation).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import arrays, validate
from .geometry import GEOMETRIES, PoolingSchedule, ht_windows, patch_order
from .pooling import PRODUCT, resolve_pooling
from .tree import (
    PoolingTree,
    build_tree,
    caterpillar,
    fold,
    fold_levels,
    patch_tree,
    traverse,
    tree_text,
)

__all__ = ["ConvAC", "CPNet", "HTNet", "TTNet", "node_conv", "unrolled_conv", "materialized",
           "SAMPLE_GROUPS", "sample_groups", "signed_log", "signed_log_conv", "multiply_adds",
           "log_scale_gains", "unit_log_gain", "seeded_generator", "fan_in_draws"]


def signed_log(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``x`` into ``(log|x|, sign(x))`` (``log 0 = -inf``, sign 0)."""
    return torch.log(torch.abs(x)), torch.sign(x)


def signed_log_conv(
    log_abs: torch.Tensor, sign: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """1x1 conv of signed log-magnitude activations, a signed log-sum-exp.

    Parameters
    ----------
    log_abs, sign : Tensor, shape ``(nodes, batch, r_in)``
    weight : Tensor, shape ``(nodes, r_out, r_in)``, or ``(r_out, r_in)`` shared by the nodes

    Returns
    -------
    log_abs, sign : Tensor, shape ``(nodes, batch, r_out)``
    """
    shift = log_abs.amax(dim=-1, keepdim=True)  # (nodes, batch, 1)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    scaled = sign * torch.exp(log_abs - shift)  # (nodes, batch, r_in), entries in [-1, 1]
    value = node_conv(scaled, weight)  # (nodes, batch, r_out)
    return shift + torch.log(torch.abs(value)), torch.sign(value)


def node_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The 1x1 conv of every node of a level: one bmm, or one matmul for shared weights.

    Parameters
    ----------
    x : Tensor, shape ``(nodes, batch, r_in)``
    weight : Tensor, shape ``(nodes, r_out, r_in)`` per node, or ``(r_out, r_in)`` shared
        (and at the one-node top level)

    Returns
    -------
    Tensor, shape ``(nodes, batch, r_out)``
    """
    return transposed_conv(x, weight.transpose(-1, -2))


def transposed_conv(x: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
    """:func:`node_conv` of weights given transposed, ``(nodes, r_in, r_out)`` per node or
    ``(r_in, r_out)`` shared: a forward that runs a level several times (the CPU's
    passes) transposes each level once.

    Returns
    -------
    Tensor, shape ``(nodes, batch, r_out)``
    """
    if weight_t.ndim == 2:
        return torch.matmul(x, weight_t)
    return torch.bmm(x, weight_t)


FUSE_MAX_IN = 16
"""Widest input (channels of a conv) that the compiled CPU forward writes as an unrolled
sum of broadcast products (:func:`unrolled_conv`): at ``r_in = 16`` each conv is 16
vector multiply-adds per output row, fused by inductor with the pooling into one loop
per level; wider inputs keep the matmul."""

FUSE_MAX_WINDOW = 4
"""Widest pooling window whose children's convs the compiled CPU forward fuses into one
loop (a CP window of ``N`` children would be one expression of ``N * r_in`` terms)."""


SAMPLE_GROUPS = 4
"""Samples per step of the compiled CPU forward's loops (:meth:`ConvAC._fused_forward`):
their convs share each weight load, which the loop would otherwise repeat for every
multiply-add (HT, N = 64, M = r = 16, float32, one thread: four ran at 1.28-1.38x the
throughput of one; two and eight measured below four, ``docs/forward.md``)."""


def sample_groups(batch: int) -> int:
    """Samples per step of the compiled CPU forward for a batch of ``batch``: the largest
    power of two up to :data:`SAMPLE_GROUPS` that divides it."""
    groups = SAMPLE_GROUPS
    while batch % groups:
        groups //= 2
    return groups


def materialized(t: torch.Tensor) -> torch.Tensor:
    """``t`` laid out contiguously, and kept so inside a ``torch.compile`` graph.

    Inductor folds a ``contiguous()`` copy into its readers (reading ``t`` in its old
    layout); ``as_strided`` needs a storage, so inductor writes the copy out first (for a
    weight: a few KiB, once per call).  Eagerly it is one copy.
    """
    t = t.contiguous()
    return t.as_strided(t.shape, t.stride())


def unrolled_conv(x: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
    """The 1x1 conv of every node as ``r_in`` broadcast multiply-adds (no matmul).

    Under ``torch.compile`` on the CPU this is a pointwise expression that inductor fuses
    with the pooling that reads it, vectorized over the output channels (``r_out = 16``
    floats: one AVX-512 register); an extern matmul per level, of inner size 16, costs more
    in fixed cost and memory traffic than it computes (``docs/forward.md``).

    Parameters
    ----------
    x : Tensor, shape ``(nodes, batch, r_in)``
    weight_t : Tensor, shape ``(nodes, r_in, r_out)`` per node or ``(r_in, r_out)``
        shared: the transposed weights, contiguous (:func:`materialized`).

    Returns
    -------
    Tensor, shape ``(nodes, batch, r_out)``, equal to ``node_conv(x, weight)`` up to the
    order of the sums.
    """
    w = weight_t if weight_t.ndim == 3 else weight_t[None]  # (nodes or 1, r_in, r_out)
    out = x[:, :, 0, None] * w[:, None, 0]  # (nodes, batch, r_out)
    for i in range(1, x.shape[-1]):
        out = out + x[:, :, i, None] * w[:, None, i]
    return out


CHUNK_BYTES = 2**20
"""Bytes of level-0 activations per pass of the no-grad forward (a batch is cut in chunks
of whole samples): 1 MiB kept the levels of a chunk in the 2 MiB L2 of the machine it was
measured on (``docs/forward.md``)."""

CHUNK_MIN = 256
"""Fewest samples per pass: narrower passes cost more in per-level calls and smaller
products than the cache saves (HT, N = 256, M = r = 16, one thread: a batch of 256 in
passes of 64 took 1.2x the time of one pass; a batch of 1024 in passes of 256 0.69x, of
64 0.77x; ``docs/ab-time.md``)."""

WHOLE_BATCH_BYTES = CHUNK_BYTES // 2
"""Largest activations of a whole batch that the chunked no-grad forward pools and convs
in one pass: above it the levels run chunk by chunk (:data:`CHUNK_BYTES`), from there
whole, with one call per level instead of one per chunk."""

PROBE_BATCH = 256
"""Samples of the standard-normal probe that sets the initial scale of each level."""

PROBE_BYTES = 64 * 2**20
"""Largest float64 level of the probe; a wider tree gets fewer probe samples (>= 16)."""


_ORDER_WRITTEN = ("the order buffer was written in place since it was validated, to values "
                  "that were not (a compiled forward checks them on the device without a "
                  "synchronisation); call net.check_state() for the details")


def _tensor_key(t) -> tuple | None:
    """What changes when a tensor is replaced, moved or written in place (its version
    counter), read without touching its values."""
    if not isinstance(t, torch.Tensor):
        return None
    return id(t), t._version, 0 if t.is_meta else t.data_ptr(), t.device


def unit_log_gain(out: torch.Tensor) -> float:
    """``exp(-mean log|out|)`` over the nonzero finite entries (1 if there are none): the
    factor that gives ``out`` geometric-mean magnitude 1."""
    logs = out.abs().log()
    logs = logs[torch.isfinite(logs)]
    return float(torch.exp(-logs.mean())) if logs.numel() else 1.0


def seeded_generator(seed: int | None) -> torch.Generator:
    """A private CPU generator: seeded with ``seed``, or from fresh entropy for ``None``
    (the global RNG is untouched)."""
    seed = validate.seed(seed)
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


def fan_in_draws(weights, gen: torch.Generator) -> list[torch.Tensor]:
    """Float64 CPU draws ``N(0, 1 / fan_in)`` of the shapes of ``weights`` (fan-in: the
    last dimension), one after the other from ``gen``."""
    return [torch.randn(tuple(w.shape), generator=gen, dtype=torch.float64)
            * w.shape[-1] ** -0.5 for w in weights]


def log_scale_gains(schedule: PoolingSchedule | PoolingTree, draws: list[torch.Tensor],
                    pooling, gen: torch.Generator) -> list[float]:
    """One factor per level that gives every conv output geometric-mean magnitude 1.

    A float64 forward of the weights ``draws`` over a probe of standard-normal features
    (drawn from ``gen``), level after level: level ``l``'s factor is
    ``exp(-mean log|conv_l|)`` of its outputs over every node, sample and channel of the
    probe, and the next level pools the rescaled outputs.  A conv is linear in its
    weights, so the factors hold for any pooling operator.

    A :class:`PoolingTree` gets one factor per node (its weights are per node), each
    from that node's outputs over the probe, children before parents.

    Parameters
    ----------
    schedule : PoolingSchedule or PoolingTree
    draws : list of Tensor
        Float64 CPU weights (shapes of ``ConvAC.weights``: one per level of a schedule,
        one per node of a tree); unchanged.
    pooling : PoolingOperator
    gen : torch.Generator
        CPU generator the probe ``(N, batch, M)`` is drawn from.

    Returns
    -------
    list of float
        ``L + 1`` positive factors (one per node of a tree).

    Notes
    -----
    Why geometric means and not second moments: a product of ``w`` independent
    unit-second-moment factors has second moment 1 but is log-normal, its median
    shrinking like ``exp(-0.635 w)`` (``E log|z| = -(gamma + ln 2) / 2`` for a standard
    normal ``z``), so drawing with std ``1 / sqrt(fan_in)`` alone leaves the outputs of
    deep trees and wide windows far below float32's range.  With ``E log|child| = 0`` a
    product pooling keeps ``E log|pooled| = 0`` for any window.
    """
    s = schedule
    batch = max(16, min(PROBE_BATCH, PROBE_BYTES // (8 * s.n_patches * s.max_width)))
    # the patches are i.i.d., so the probe needs no patch order
    probe = torch.randn(s.n_patches, batch, s.n_channels, generator=gen,
                        dtype=torch.float64)  # (N, P, M)
    gains = []
    if isinstance(s, PoolingTree):
        gains = [1.0] * len(draws)

        def node_out(tn, x: torch.Tensor) -> torch.Tensor:  # (P, r_in) -> (P, r_out)
            out = x @ draws[tn.key].t()
            gains[tn.key] = unit_log_gain(out)
            return out.mul_(gains[tn.key])

        fold(s, lambda tn: node_out(tn, probe[tn.index]),
             lambda tn, kids: node_out(tn, pooling.pool_children(kids)))
        return gains

    def conv(lvl: int, x: torch.Tensor) -> torch.Tensor:
        out = node_conv(x, draws[lvl])  # (nodes_l, P, r_l)
        gains.append(unit_log_gain(out))
        return out.mul_(gains[-1])

    def level(lvl: int, w: int, x: torch.Tensor) -> torch.Tensor:
        n, b, r = x.shape
        return conv(lvl, pooling(x.view(n // w, w, b, r), True))  # (n/w, P, r_l)

    fold_levels(s, conv(0, probe), level)
    return gains


@validate.network_type
class ConvAC(nn.Module):
    """A convolutional arithmetic circuit over patch features.

    Parameters
    ----------
    n_patches : int
        Number of patches ``N``.
    n_channels : int
        Representation channels ``M`` per patch.
    windows : sequence of int, optional
        Pooling window sizes ``w_1 .. w_L`` (each >= 2, product ``N``).  Give either
        ``windows`` or ``tree``.
    ranks : int, sequence of int or callable
        With ``windows``: conv widths ``r_0 .. r_{L-1}`` (an int for every level).  With
        ``tree``: the rank (pooled width) of every inner node: an int, one value per inner
        node in post-order (children before parents, left to right), or a callable
        ``ranks(subtree) -> int`` of the node's subtree in patch indices.
    n_outputs : int, default 1
        Number of outputs ``Y``.
    shared : bool, default False
        Share conv weights across the nodes of a level (convolutional) instead of one
        weight per node (locally connected).
    geometry : str or sequence of int, default "contiguous"
        Pooling geometry: ``"contiguous"``, ``"mirror"`` or a permutation of the
        patches; tree position ``p`` holds patch ``order[p]``.
    seed : int, optional
        Seed for the random initialisation (a private generator; the global RNG is
        untouched).
    dtype, device : optional
        Parameter dtype (default ``torch.get_default_dtype()``) and device.
    tree : nested sequences of int, or a parent array, optional
        The pooling tree by its shape, over patch indices, e.g.
        ``((0, 1), ((2, 3), (4, (5, 6))))``: any rooted tree, any arity (>= 2) per node;
        or a parent array (``parents[v]``, ``-1`` for the root, patches ``0 .. N-1`` the
        leaves; :func:`convac.nets.tree.tree_from_parents`).  The leaves
        left to right are the patch order, so ``geometry`` stays ``"contiguous"``.  A tree
        whose levels are uniform (one arity and one rank per depth, leaves at one depth)
        is the schedule ``windows=`` would give, with its level-batched forward; any other
        is a :class:`convac.nets.tree.PoolingTree` with one weight per node, folded node
        by node, and no ``shared`` weights.

    Notes
    -----
    Parameters: ``weights[0]`` has shape ``(N, r_0, M)`` (``(r_0, M)`` if shared),
    ``weights[l]`` for ``1 <= l < L`` has ``(nodes_l, r_l, r_{l-1})`` (``(r_l, r_{l-1})``
    if shared) and ``weights[L]`` has ``(Y, r_{L-1})``.  :meth:`level_weights` returns
    the per-node view ``(nodes_l, r_l, r_{l-1})`` of any level.  A :class:`PoolingTree`
    has one weight per node, ``weights[k]`` of shape ``(rank_out, rank_in)`` for the node
    of key ``k`` (:class:`convac.nets.tree.TreeNode`).  :meth:`node_weights` gives every
    node's matrix by key, for either kind.

    Initialisation (:meth:`reset_parameters`): every level ``N(0, 1 / fan_in)`` (fan-in
    ``M`` at level 0, ``r_{l-1}`` above), then one constant per level so that, on
    features with i.i.d. standard-normal channels, every conv output (the network's
    output included) has geometric-mean magnitude 1 (``E log|x| = 0``): float32 forwards
    of deep trees and wide windows stay of order one.  It does not keep second moment 1
    (products of unit-second-moment factors are log-normal, their median shrinking like
    ``exp(-0.635 w)``).  Other features (one-hot: second moment ``1 / M`` per channel;
    uniform ``[0, 1)``: ``1 / 3``; the ``Linear``, ``ReLU`` and ``Gaussian`` layers at
    torch's defaults: below 1) shrink every leaf and the output like a power ``N`` of
    it: standardize them, or use :meth:`forward_log`.  Rule and measurements:
    ``docs/initialisation.md``.

    ``pooling`` (default ``"product"``, the ConvAC) may be any
    :class:`convac.nets.pooling.PoolingOperator` or registered name: the generalized
    networks of Cohen & Shashua (ICML 2016).
    """

    def __init__(
        self,
        n_patches: int,
        n_channels: int,
        windows=None,
        ranks=None,
        n_outputs: int = 1,
        shared: bool = False,
        geometry="contiguous",
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device=None,
        pooling="product",
        tree=None,
    ):
        super().__init__()
        if ranks is None:
            raise validate.InvalidValueError(
                "ranks is required: an int, or one width per level (windows=) or per inner "
                "node (tree=)")
        if tree is None:
            if windows is None:
                raise validate.InvalidValueError(
                    "give the pooling tree: windows=(w_1, .., w_L) or tree=(nested patch "
                    "indices)")
            self.schedule = PoolingSchedule(n_patches, n_channels, windows, ranks, n_outputs)
            order = None  # resolved after the parameter budget (it has a budget of its own)
        else:
            if windows is not None:
                raise validate.InvalidValueError(
                    f"give windows or tree, not both (got windows={windows!r})")
            if not (isinstance(geometry, str) and geometry == "contiguous"):
                raise validate.InvalidValueError(
                    f"a tree names its patches, so it fixes the patch order: leave geometry "
                    f"at 'contiguous' (got {geometry!r}) and permute the tree's leaves")
            self.schedule, order = build_tree(n_patches, n_channels, tree, ranks, n_outputs)
        self.shared = validate.boolean(shared, "shared")
        dtype, device = arrays.float_dtype(dtype), arrays.device(device)
        itemsize = torch.empty((), dtype=dtype).element_size()
        self.schedule.check_parameter_budget(self.shared, itemsize)  # before any allocation
        self.pooling = resolve_pooling(pooling)
        if order is None:
            order = patch_order(geometry, n_patches)
        self.register_buffer("order", torch.as_tensor(order), persistent=True)
        if self.is_tree:
            shapes = [(tn.rank_out, tn.rank_in) for tn in traverse(self.schedule)]
        else:
            shapes = [self.expected_weight_shape(level)
                      for level in range(self.schedule.n_levels + 1)]
        self._expected_shapes = [torch.Size(sh) for sh in shapes]  # checked on every call
        # a tree's leaf convs are one bmm when every leaf has the same weight shape
        self._uniform_leaves = len(set(self._expected_shapes[:self.schedule.n_patches])) == 1
        kwargs = {"dtype": dtype, "device": device}
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(sh, **kwargs)) for sh in shapes])
        self.register_load_state_dict_post_hook(ConvAC._after_load)
        self._order_changed()  # from now on at every change of the state (see _apply)
        self.reset_parameters(seed)

    # -- configuration -------------------------------------------------------------
    @property
    def n_patches(self) -> int:
        return self.schedule.n_patches

    @property
    def n_channels(self) -> int:
        return self.schedule.n_channels

    @property
    def n_outputs(self) -> int:
        return self.schedule.n_outputs

    @property
    def windows(self) -> tuple | None:
        """The schedule's windows (``None`` for a :class:`PoolingTree`)."""
        return self.schedule.windows

    @property
    def is_tree(self) -> bool:
        """Whether the network is a :class:`PoolingTree` (folded node by node) rather
        than a balanced schedule."""
        return isinstance(self.schedule, PoolingTree)

    @property
    def ranks(self) -> tuple:
        return self.schedule.ranks

    @property
    def geometry(self) -> str:
        """Name of the current patch order (``"contiguous"``, ``"mirror"`` or ``"custom"``),
        read from the ``order`` buffer (so it follows ``load_state_dict``)."""
        order = self.order.detach().cpu()
        for name, make in GEOMETRIES.items():
            try:
                if torch.equal(order, torch.as_tensor(make(self.n_patches))):
                    return name
            except ValueError:  # e.g. mirror of an odd number of patches
                continue
        return "custom"

    def extra_repr(self) -> str:
        s = self.schedule
        pooling = "" if self.pooling == PRODUCT else f", pooling={self.pooling.name!r}"
        if self.is_tree:
            return (f"n_patches={s.n_patches}, n_channels={s.n_channels}, "
                    f"tree={tree_text(self.patch_tree())}, ranks={s.ranks}, n_outputs={s.n_outputs}"
                    f"{pooling}")
        return (
            f"n_patches={s.n_patches}, n_channels={s.n_channels}, windows={s.windows}, "
            f"ranks={s.ranks}, n_outputs={s.n_outputs}, shared={self.shared}, "
            f"geometry={self.geometry!r}{pooling}"
        )

    def patch_tree(self) -> tuple:
        """The pooling tree as nested tuples of patch indices (a schedule's too), from
        the current ``order`` (:func:`convac.nets.tree.patch_tree`)."""
        return patch_tree(self.schedule, self.order.tolist())

    # -- state checks (every eager call: nothing is cached between calls) ----------
    def expected_weight_shape(self, level: int) -> tuple:
        """Shape ``weights[level]`` must have: ``(nodes_l, r_l, r_{l-1})`` unshared below
        the top, ``(r_l, r_{l-1})`` shared or at the top (``r_{-1} = M``, ``r_L = Y``).
        For a :class:`PoolingTree`, ``level`` is a node's key: ``(rank_out, rank_in)``."""
        s = self.schedule
        if self.is_tree:
            key = validate.integer(level, "level (a node's key)", 0,
                                   len(self._expected_shapes) - 1)
            return tuple(self._expected_shapes[key])
        fan_in = s.n_channels if level == 0 else s.widths[level - 1]
        node_shape = (s.widths[level], fan_in)
        per_node = level < s.n_levels and not self.shared
        return ((s.nodes[level],) if per_node else ()) + node_shape

    def check_state(self) -> bool:
        """Raise a ValueError naming the first part of the state that does not fit the
        schedule: a weight level of another shape, dtype or device than level 0, or an
        ``order`` buffer that is not a permutation of ``range(N)``.

        Returns
        -------
        bool
            Whether ``order`` is the identity (the forward then needs no gather).
        """
        weights, order = self._state()
        self._check_weights(weights)
        self._check_order_device(order, weights[0].device)
        return self._check_order(order)

    def _state(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(weight_levels(), order)``, read from the module's dicts: ``nn.Module``'s
        attribute lookup of a submodule or buffer costs ~0.5 us each, and the forward
        reads them on every call.  Under ``torch.compile`` through the usual attributes."""
        order = self.order if torch.compiler.is_compiling() else self._buffers["order"]
        return self.weight_levels(), order

    def _check_weights(self, weights: list[torch.Tensor]) -> torch.device:
        """Shapes, dtypes and devices of the weight levels (metadata only: no values are
        read, so it costs no device synchronisation, and under ``torch.compile`` it runs
        while tracing, the compiled graph being guarded on the same metadata); returns
        their device."""
        s = self.schedule
        if len(weights) != len(self._expected_shapes):
            if self.is_tree:
                raise validate.InvalidValueError(
                    f"the network has {len(weights)} weights, the tree expects one per node "
                    f"({len(self._expected_shapes)})")
            raise validate.InvalidValueError(
                f"the network has {len(weights)} weight levels, the schedule expects "
                f"{s.n_levels + 1} (levels 0..{s.n_levels})"
            )
        w0 = weights[0]
        dtype, device = w0.dtype, w0.device
        for level, w in enumerate(weights):
            if w.shape != self._expected_shapes[level]:
                raise validate.InvalidValueError(
                    f"weights[{level}] has shape {tuple(w.shape)}, the schedule expects "
                    f"{tuple(self._expected_shapes[level])}"
                )
            if w.dtype != dtype or w.device != device:
                raise validate.InvalidValueError(
                    f"weights[{level}] is {w.dtype} on {w.device}, expected {dtype} on "
                    f"{device} like weights[0] (convert the whole network with .to())"
                )
        return device

    def _check_order_device(self, order: torch.Tensor, device: torch.device) -> None:
        if order.device != device:
            raise validate.InvalidValueError(
                f"the order buffer is on {order.device}, the weights on {device}"
            )

    def _check_order(self, order: torch.Tensor) -> bool:
        """Validate the order's values (reads them: a device synchronisation on a GPU);
        returns whether it is the identity."""
        n = self.n_patches
        if order.shape != (n,) or order.dtype != torch.int64:
            raise validate.InvalidValueError(
                f"the order buffer must be an int64 permutation of range({n}), got "
                f"{order.dtype} of shape {tuple(order.shape)}"
            )
        if torch.equal(order, torch.arange(n, device=order.device)):
            return True
        seen = torch.zeros(n, dtype=torch.bool, device=order.device)
        inside = (order >= 0) & (order < n)
        seen[order.clamp(0, n - 1)] = True
        if not (bool(inside.all()) and bool(seen.all())):
            raise validate.InvalidValueError(
                f"the order buffer must be a permutation of range({n}), got "
                f"{order.tolist() if n <= 64 else order}"
            )
        return False

    # -- the order, checked where it changes ----------------------------------------
    # Validating the order reads its values (a device synchronisation on a GPU, a data-
    # dependent branch that torch.compile cannot trace), so it is validated when it changes,
    # not per call: at construction, after load_state_dict, _apply (.to, .cuda, .double)
    # and assignment of ``order`` or ``weights``, and, in eager mode, when the buffer's
    # version counter shows an in-place write.  A compiled forward reads the result as a
    # Python constant (dynamo guards on it) and asserts on the device, without a
    # synchronisation, that the buffer still holds the validated values.

    def _order_changed(self) -> None:
        """Validate the current order and keep the verdict (an invalid order is reported
        by the next forward, not here: assigning or loading it is allowed)."""
        order = self._buffers.get("order")
        try:
            if not isinstance(order, torch.Tensor):
                raise validate.InvalidValueError(
                    f"the order buffer must be an int64 permutation of "
                    f"range({self.n_patches}), got {type(order).__name__}")
            if order.device.type == "meta":  # no values to validate: gather by it
                identity, error = False, None
            else:
                identity, error = self._check_order(order), None
        except validate.ConvACError as exc:
            identity, error = False, str(exc)
        self.__dict__["_order_verdict"] = (identity, error)
        self.__dict__["_order_key"] = _tensor_key(order)
        if error is None and not identity:  # what a compiled forward asserts it still holds
            self.register_buffer("_order_checked", order.detach().clone(), persistent=False)

    def _order_is_identity(self, order: torch.Tensor) -> bool:
        """The order's verdict: raises its error, else returns whether it is the identity.
        Eager: revalidated first if the buffer was replaced or written in place since."""
        compiling = torch.compiler.is_compiling()
        if not compiling and _tensor_key(order) != self._order_key:
            self._order_changed()
        identity, error = self._order_verdict
        if error is not None:
            raise validate.InvalidValueError(error)
        if compiling:
            expected = (torch.arange(self.n_patches, device=order.device) if identity
                        else self._buffers.get("_order_checked"))
            if expected is not None:  # None: a meta order, no values
                # summed as floats: inductor's integer and boolean reductions did not build
                # with ATEN_CPU_CAPABILITY=default (its float ones do)
                mismatches = (order != expected).to(torch.float32).sum()  # ()
                torch._assert_async(mismatches == 0, _ORDER_WRITTEN)
        return identity

    def _apply(self, fn, recurse=True):
        module = super()._apply(fn, recurse)
        self._order_changed()
        return module

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name in ("order", "weights") and "_order_verdict" in self.__dict__:
            self._order_changed()

    @staticmethod
    def _after_load(module, incompatible_keys) -> None:
        module._order_changed()

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = None) -> None:
        """Draw new weights; ``seed`` makes them reproducible on any device.

        Every level is drawn ``N(0, 1 / fan_in)`` (fan-in ``M`` at level 0, ``r_{l-1}``
        above), one level after the other from one stream, and then multiplied by one
        constant per level, :func:`log_scale_gains`: each level's conv outputs get
        geometric-mean magnitude 1 on standard-normal features.  The constants come from a
        probe batch drawn from the same stream after the weights, so a seed gives the same
        draws as before up to one factor per level (ranks and relative errors unchanged).
        See :class:`ConvAC` (Notes) for what the rule preserves and what it assumes.
        """
        gen = seeded_generator(seed)
        draws = fan_in_draws(self.weights, gen)
        gains = log_scale_gains(self.schedule, draws, self.pooling, gen)  # one per weight
        for w, draw, gain in zip(self.weights, draws, gains, strict=True):
            w.copy_((draw * gain).to(w.dtype))

    def weight_levels(self) -> list[torch.Tensor]:
        """The parameters ``weights[0..L]`` as a list.

        Read from the ParameterList's parameter dict: its own indexing and iteration go
        through ``getattr`` per level (~0.6 us each), which was a tenth of a small
        forward (HT, N = 16, batch 256) when the state check and the forward both walked
        it.  Under ``torch.compile`` the ParameterList is iterated as usual.
        """
        if torch.compiler.is_compiling():
            return list(self.weights)
        return list(self._modules["weights"]._parameters.values())

    def level_weights(self, level: int) -> torch.Tensor | tuple:
        """Per-node weights of ``level``, shape ``(nodes_l, r_l, r_{l-1})`` (``r_{-1} = M``).

        Shared weights are expanded (a view, no copy).  The top level has one node.  For a
        :class:`PoolingTree`, the tuple of the level's node weights (indexed by
        ``TreeNode.index``; shapes may differ from node to node).
        """
        s = self.schedule
        level = validate.integer(level, "level", 0, s.n_levels)
        if self.is_tree:
            weights = self.weight_levels()
            return tuple(weights[tn.key] for tn in traverse(s) if tn.level == level)
        w = self.weights[level]
        if w.ndim == 2:
            return w.unsqueeze(0).expand(s.nodes[level], *w.shape)
        return w

    def node_weights(self) -> list[torch.Tensor]:
        """Every node's weight matrix ``(rank_out, rank_in)``, indexed by
        ``TreeNode.key`` (views, no copies): the per-node form of either kind of tree."""
        if self.is_tree:
            return self.weight_levels()
        out: list[torch.Tensor] = []
        for level in range(self.schedule.n_levels + 1):
            out.extend(self.level_weights(level).unbind(0))
        return out

    # -- forward -------------------------------------------------------------------
    def _check_features(self, features, device: torch.device) -> None:
        s = self.schedule
        if not isinstance(features, torch.Tensor):
            raise validate.InvalidTypeError(
                f"features must be a torch.Tensor, got {type(features).__name__}"
            )
        if features.is_complex():
            raise validate.InvalidTypeError(
                f"features must be real, got {features.dtype} (a ConvAC's weights are real)"
            )
        if features.ndim != 3 or tuple(features.shape[1:]) != (s.n_patches, s.n_channels):
            raise validate.InvalidValueError(
                f"features must have shape (batch, n_patches={s.n_patches}, "
                f"n_channels={s.n_channels}), got {tuple(features.shape)}"
            )
        if features.device != device:
            raise validate.InvalidValueError(
                f"features are on {features.device}, the network on {device}: move one "
                "with .to()"
            )

    def _leaves(self, features: torch.Tensor, weights: list[torch.Tensor],
                order: torch.Tensor) -> torch.Tensor:
        """Level-0 convs in tree order, ``(B, N, M) -> (N, B, r_0)``, of the state
        ``(weights, order)`` (:meth:`_state`); checks the features and the whole state
        first, on every call (compiled or not)."""
        return self._leaf_convs(features, weights, order, self._checked(features, weights,
                                                                        order))

    def _checked(self, features, weights, order) -> bool:
        """The checks of one call: the weights' and features' metadata (no values read)
        and the order's kept verdict; returns whether the order is the identity."""
        device = self._check_weights(weights)
        self._check_order_device(order, device)
        identity = self._order_is_identity(order)
        self._check_features(features, device)
        return identity

    @staticmethod
    def _tree_ordered(features: torch.Tensor, dtype: torch.dtype, order: torch.Tensor,
                      identity: bool) -> torch.Tensor:
        """Checked features ``(B, N, M)`` in ``dtype``, their patches in tree order (the
        features themselves where nothing changes)."""
        x = features.to(dtype=dtype)
        return x if identity else x.index_select(1, order)

    @staticmethod
    def _leaf_convs(features: torch.Tensor, weights: list[torch.Tensor], order: torch.Tensor,
                    identity: bool) -> torch.Tensor:
        """Level-0 convs of checked features, ``(B, N, M) -> (N, B, r_0)``."""
        x = ConvAC._tree_ordered(features, weights[0].dtype, order, identity)  # (B, N, M)
        return node_conv(x.transpose(0, 1), weights[0])  # (N, B, r_0); the transpose: a view

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Network outputs.

        Parameters
        ----------
        features : Tensor, shape ``(batch, n_patches, n_channels)``
            Representation features ``rep[b, i, d] = f_d(x_i)``.

        Returns
        -------
        Tensor, shape ``(batch, n_outputs)``
        """
        weights, order = self._state()
        identity = self._checked(features, weights, order)
        no_grad = not (torch.is_grad_enabled()
                       and (features.requires_grad or any(w.requires_grad for w in weights)))
        compiling = torch.compiler.is_compiling()
        # on the CPU a batch goes through in cache-sized passes (a GPU wants it whole); a
        # tree's per-node cost is its calls, which passes would multiply
        on_cpu = no_grad and features.is_cpu and not self.is_tree
        if on_cpu and compiling:  # one fused loop per level over the whole batch
            return self._fused_forward(features, weights, order, identity)
        if self.is_tree:
            return self._tree_forward(features, weights, order, identity)
        # Without autograd, pool in place into each window's first node: no allocation
        # and a third less memory traffic.  With autograd the pooling keeps its inputs;
        # under torch.compile the out-of-place product is one fused kernel, where in-place
        # writes into strided views would be functionalized into extra copies.
        chunk = self._batch_chunk(features) if on_cpu else features.shape[0]
        return self._level_forward(features, weights, order, identity, chunk,
                                   in_place=no_grad and not compiling)

    def _level_forward(self, features: torch.Tensor, weights: list[torch.Tensor],
                       order: torch.Tensor, identity: bool, chunk: int,
                       in_place: bool) -> torch.Tensor:
        """Outputs ``(B, Y)`` of checked features, level by level, each level's nodes in
        one batched call.

        With ``chunk`` below the batch, the lower levels run pass by pass over chunks of
        ``chunk`` samples (a level's activations of one pass stay in a core's cache), the
        upper ones, small enough for the cache with the whole batch
        (:meth:`_whole_batch_level`), once over it.  ``in_place``: pool each window into
        its first node (only without autograd).  The weights of the levels above the
        leaves are transposed once for all passes.
        """
        schedule, pooling = self.schedule, self.pooling
        top = self._whole_batch_level(features) if features.shape[0] > chunk else 1
        # views; level 0 is _leaf_convs' (one view per pass)
        weights_t = [None] + [w.transpose(-1, -2) for w in weights[1:]]

        def level(lvl: int, w: int, conv: torch.Tensor) -> torch.Tensor:
            n, b, r = conv.shape
            pooled = pooling(conv.view(n // w, w, b, r), in_place)  # (n/w, b, r_{l-1})
            return transposed_conv(pooled, weights_t[lvl])  # (n/w, b, r_l)

        # the lower levels pass by pass (each pass's leaves passed without a name: freed
        # after its level 1), then the upper ones once over the whole batch
        parts = [fold_levels(schedule, self._leaf_convs(part, weights, order, identity),
                             level, stop=top - 1) for part in features.split(chunk)]
        return fold_levels(schedule, parts[0] if len(parts) == 1 else torch.cat(parts, 1),
                           level, start=top)[0]  # (B, Y)

    def _fused_forward(self, features: torch.Tensor, weights: list[torch.Tensor],
                       order: torch.Tensor, identity: bool,
                       groups: int | None = None) -> torch.Tensor:
        """Outputs ``(B, Y)`` of checked features, written for inductor to fuse: each
        level pools its children's convs as one expression (:func:`unrolled_conv`, where
        the input is at most ``FUSE_MAX_IN`` wide and the window at most
        ``FUSE_MAX_WINDOW``), so a level is one loop writing only the pooled values, and
        the loop computes :func:`sample_groups` samples per step (interleaved groups of
        the batch, stacked per level): their convs read the same weights, which the loop
        then loads once for all of them.  The same function as the level-by-level
        forward, up to the order of the sums.  ``groups``: samples per step, a divisor of
        the batch (default :func:`sample_groups`)."""
        x = self._tree_ordered(features, weights[0].dtype, order, identity)  # (B, N, M)
        b, n, m = x.shape
        groups = sample_groups(b) if groups is None else groups
        # (N, B/g, g, M), a view: sample t * g + s at [:, t, s]; level 1 reads it once
        h = x.view(b // groups, groups, n, m).permute(2, 0, 1, 3)
        for lvl, w in enumerate(self.schedule.windows):
            weight = weights[lvl]
            n, r = h.shape[0], h.shape[-1]
            if r <= FUSE_MAX_IN and w <= FUSE_MAX_WINDOW:
                weight_t = materialized(weight.transpose(-1, -2))  # (.., r_in, r_out)
                kid_weights = [weight_t[k::w] if weight.ndim == 3 else weight_t
                               for k in range(w)]
                # (n/w, B/g, g, r_out): each group's pooled convs, stacked
                h = torch.stack([self.pooling.pool_children(
                    [unrolled_conv(h[k::w, :, s], kid_weights[k]) for k in range(w)])
                    for s in range(groups)], dim=2)
            else:
                conv = node_conv(h.reshape(n, b, r), weight)  # (n, B, r_out)
                h = self.pooling(conv.view(n // w, w, b, -1)).view(n // w, b // groups,
                                                                  groups, -1)
        return node_conv(h.reshape(1, b, -1), weights[-1])[0]  # (B, Y)

    def _batch_chunk(self, features: torch.Tensor) -> int:
        """Samples per pass of the no-grad forward: a level's activations of one pass
        should stay in a core's cache (``CHUNK_BYTES``) rather than stream through memory
        level after level."""
        s = self.schedule
        per_sample = s.n_patches * max(s.n_channels, s.ranks[0]) * features.element_size()
        return max(CHUNK_MIN, CHUNK_BYTES // per_sample)

    def _whole_batch_level(self, features: torch.Tensor) -> int:
        """The first level (1 .. L) whose input, the activations of the level below for
        the whole batch, takes at most ``WHOLE_BATCH_BYTES``: the chunked no-grad forward
        runs the levels from there over the whole batch (``L + 1``: none)."""
        s = self.schedule
        per_node = features.shape[0] * features.element_size()
        for lvl in range(1, s.n_levels + 1):
            if s.nodes[lvl - 1] * s.widths[lvl - 1] * per_node <= WHOLE_BATCH_BYTES:
                return lvl
        return s.n_levels + 1

    def _tree_leaf_convs(self, features: torch.Tensor, weights: list[torch.Tensor],
                         order: torch.Tensor, identity: bool) -> tuple[torch.Tensor, ...]:
        """A :class:`PoolingTree`'s leaf convs of checked features, ``N`` tensors
        ``(B, rank_out)`` in tree order: one bmm when the leaves share a shape."""
        n = self.n_patches
        x = self._tree_ordered(features, weights[0].dtype, order, identity).transpose(0, 1)
        # (N, B, M), a view
        if self._uniform_leaves:
            return node_conv(x, torch.stack(weights[:n])).unbind(0)  # N x (B, r)
        return tuple(x[p] @ weights[p].t() for p in range(n))  # (B, r_p) each

    def _tree_forward(self, features, weights, order, identity) -> torch.Tensor:
        """Outputs ``(B, Y)`` of a :class:`PoolingTree`, node by node."""
        leaves = self._tree_leaf_convs(features, weights, order, identity)
        return fold(self.schedule, lambda tn: leaves[tn.index],
                    lambda tn, kids: self.pooling.pool_children(kids)
                    @ weights[tn.key].t())  # (B, rank_out)

    def forward_log(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs as signed log-magnitudes, for products too long for floating point.

        Products become sums of ``log|x|`` (signs multiply) and each conv is a signed
        log-sum-exp (COLT 2016, Appendix E), so no intermediate overflows or underflows.

        Parameters
        ----------
        features : Tensor, shape ``(batch, n_patches, n_channels)``

        Returns
        -------
        log_abs : Tensor, shape ``(batch, n_outputs)``
            ``log |h_y(X)|`` (``-inf`` where the output is exactly zero).
        sign : Tensor, shape ``(batch, n_outputs)``
            ``sign(h_y(X))`` in ``{-1, 0, 1}``.
        """
        if self.pooling != PRODUCT:
            raise validate.InvalidValueError(
                f"forward_log needs product pooling (products become sums of logs), this "
                f"network pools with {self.pooling.name!r}"
            )

        def level(lvl: int, w: int, signed: tuple) -> tuple:
            log_abs, sign = signed
            del signed  # the sums below then free the children (see fold_levels)
            n, b, r = log_abs.shape
            log_abs = log_abs.view(n // w, w, b, r).sum(dim=1)  # (n/w, B, r)
            sign = sign.view(n // w, w, b, r).prod(dim=1)  # (n/w, B, r)
            return signed_log_conv(log_abs, sign, weights[lvl])

        weights, order = self._state()
        if self.is_tree:
            identity = self._checked(features, weights, order)
            leaves = self._tree_leaf_convs(features, weights, order, identity)

            def node(tn, kids: list) -> tuple:
                log_abs = torch.stack([k[0] for k in kids]).sum(0)  # (B, r)
                sign = torch.stack([k[1] for k in kids]).prod(0)  # (B, r)
                log_abs, sign = signed_log_conv(log_abs[None], sign[None], weights[tn.key])
                return log_abs[0], sign[0]  # (B, rank_out) each

            return fold(self.schedule, lambda tn: signed_log(leaves[tn.index]), node)
        # the leaves, (N, B, r_0) each, passed without a name: freed after level 1
        log_abs, sign = fold_levels(
            self.schedule, signed_log(self._leaves(features, weights, order)), level)
        return log_abs[0], sign[0]  # (B, Y) each


def multiply_adds(net: ConvAC, batch: int) -> int:
    """Multiply-adds of the convs of one forward pass over ``batch`` samples,
    ``batch * sum_l nodes_l * r_l * r_{l-1}`` (``r_{-1} = M``); pooling not counted.

    The throughput yardstick of the speed benchmarks: one ``torch.bmm`` with as many
    multiply-adds is their baseline.
    """
    s = validate.network(net).schedule
    batch = validate.positive_int(batch, "batch")
    if isinstance(s, PoolingTree):
        return batch * sum(tn.rank_in * tn.rank_out for tn in traverse(s))
    fan_in = (s.n_channels,) + s.widths[:-1]
    return batch * sum(s.nodes[l] * s.widths[l] * fan_in[l] for l in range(s.n_levels + 1))


class CPNet(ConvAC):
    """Shallow ConvAC: one global product pooling, a CP decomposition of width ``width``.

    ``A^y = sum_k a^{1,y}_k a^{0,1,k} ⊗ .. ⊗ a^{0,N,k}``.  See :class:`ConvAC` for the
    other parameters.
    """

    def __init__(self, n_patches: int, n_channels: int, width: int, n_outputs: int = 1,
                 shared: bool = False, **kwargs):
        super().__init__(n_patches, n_channels, (n_patches,), (width,), n_outputs, shared,
                         **kwargs)

    @property
    def width(self) -> int:
        return self.schedule.ranks[0]


class HTNet(ConvAC):
    """Deep ConvAC: pooling windows of ``window`` at every level, a Hierarchical-Tucker
    decomposition (COLT 2016, eq. 4).

    Parameters
    ----------
    ranks : int or sequence of int
        ``r_0 .. r_{L-1}`` with ``L = log_window(N)``; an int for every level.
    window : int, default 2
        Window size of every level (4 gives 2x2 pooling over quad-tree ordered patches).
    """

    def __init__(self, n_patches: int, n_channels: int, ranks, n_outputs: int = 1,
                 shared: bool = False, window: int = 2, **kwargs):
        super().__init__(n_patches, n_channels, ht_windows(n_patches, window), ranks,
                         n_outputs, shared, **kwargs)


class TTNet(ConvAC):
    """Tensor train / recurrent arithmetic circuit: the caterpillar tree
    ``(((x_0, x_1), x_2), x_3) ..``, each node pooling the previous hidden state with the
    next patch's conv (Khrulkov, Novikov & Oseledets, ICLR 2018; Levine, Sharir & Shashua
    2017).

    Parameters
    ----------
    n_patches : int
        Sequence length ``N`` (>= 2).
    n_channels : int
        Representation channels ``M``.
    ranks : int or sequence of int
        The hidden widths ``r_1 .. r_{N-1}`` (an int for all): node ``k`` multiplies the
        conv of the previous hidden state with patch ``k``'s conv, both ``r_k`` channels
        wide; that product is the hidden state after patch ``k`` (the recurrent
        circuit's ``h_k``).  The matricization ``{0..k-1} | {k..N-1}`` has rank at most
        ``min(M^k, M^(N-k), r_{k-1}, r_k)`` (``r_{k-1}`` from ``k = 2`` on), reached by
        generic weights: with one width ``r`` every bond rank is ``min(r, M^k,
        M^(N-k))``.
    n_outputs : int, default 1
    seed : int, optional
    **kwargs
        ``dtype``, ``device``, ``pooling`` as for :class:`ConvAC`.

    Notes
    -----
    For ``N = 2`` the caterpillar is the CP schedule ``(2,)`` (a balanced tree); for
    ``N >= 3`` it is a :class:`convac.nets.tree.PoolingTree` with one weight per node:
    ``N*M*r + (N-2)*r^2 + r*Y`` parameters for one rank ``r``.
    """

    def __init__(self, n_patches: int, n_channels: int, ranks, n_outputs: int = 1,
                 seed: int | None = None, **kwargs):
        super().__init__(n_patches, n_channels, ranks=ranks, n_outputs=n_outputs, seed=seed,
                         tree=caterpillar(n_patches), **kwargs)
