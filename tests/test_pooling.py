"""Pooling operators: the generalized forward against a per-sample brute force built from
the paper's binary operators ``g`` (Cohen & Shashua, ICML 2016), product pooling against
the coefficient-tensor oracle, and the checks on user-given operators."""

import itertools
import math

import pytest
import torch
from oracles import NET_CASES, assert_close, make_net

import convac
from convac.nets.pooling import (
    POOLING_OPERATORS,
    PRODUCT,
    RELU_MAX,
    RELU_SUM,
    pooling_operator,
    resolve_pooling,
)
from convac.nets.tree import fold

# The paper's g(a, b), written independently of convac's operators (plain Python floats).
PAPER_G = {
    "product": lambda a, b: a * b,
    "relu-max": lambda a, b: max(a, b, 0.0),
    "relu-sum": lambda a, b: max(a, 0.0) + max(b, 0.0),
    "logaddexp": lambda a, b: max(a, b) + math.log1p(math.exp(-abs(a - b))),
}
LOGADDEXP = pooling_operator("logaddexp", torch.logaddexp)
OPERATORS = {"product": PRODUCT, "relu-max": RELU_MAX, "relu-sum": RELU_SUM,
             "logaddexp": LOGADDEXP}


def brute_force(net, features):
    """Outputs ``(B, Y)`` by plain Python loops over samples and the pooling tree.

    A pooling node folds the paper's ``g`` over its children left to right,
    ``g(g(c_1, c_2), c_3)``, which for these operators is the window's pooling (for
    ReLU+max ``max(c_1, .., c_w, 0)``, for ReLU+sum ``sum relu(c_i)``).
    """
    g = PAPER_G[net.pooling.name]
    s = net.schedule
    weights = [net.level_weights(lvl).tolist() for lvl in range(s.n_levels + 1)]
    order = net.order.tolist()
    out = []
    for x in features.tolist():  # x: N rows of M features
        def leaf(tn, x=x):
            row = x[order[tn.index]]  # tree position p reads patch order[p]
            return [sum(a * f for a, f in zip(w, row, strict=True))
                    for w in weights[0][tn.index]]

        def node(tn, kids):
            pooled = []
            for ch in range(len(kids[0])):
                acc = kids[0][ch]
                for kid in kids[1:]:
                    acc = g(acc, kid[ch])
                pooled.append(acc)
            return [sum(a * p for a, p in zip(w, pooled, strict=True))
                    for w in weights[tn.level][tn.index]]

        out.append(fold(s, leaf, node))
    return torch.tensor(out, dtype=torch.float64)  # (B, Y)


def _features(net, seed, batch=5):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.n_patches, net.n_channels, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("case", sorted(NET_CASES))
@pytest.mark.parametrize("shared,geometry", [(False, "contiguous"), (True, "mirror")])
def test_generalized_forward_matches_brute_force(op, case, shared, geometry):
    net = make_net(case, seed=3, shared=shared, geometry=geometry)
    net.pooling = OPERATORS[op]
    x = _features(net, seed=7)
    expected = brute_force(net, x)
    with torch.no_grad():  # in-place pooling
        assert_close(net(x), expected)
    x.requires_grad_(True)  # autograd: pooling keeps its inputs
    y = net(x)
    assert_close(y.detach(), expected)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("op", ["relu-max", "relu-sum"])
def test_relu_pooling_is_activation_then_pool(op):
    """max(a, b, 0) = max(relu a, relu b); max(a,0)+max(b,0) = relu a + relu b; windows of 3."""
    window = torch.tensor([[[[-1.0, 2.0]], [[3.0, -4.0]], [[-5.0, -6.0]]]])  # (1, 3, 1, 2)
    pooled = resolve_pooling(op)(window)  # (1, 1, 2)
    expected = {"relu-max": [[[3.0, 2.0]]], "relu-sum": [[[3.0, 2.0]]]}[op]
    assert pooled.tolist() == expected
    window2 = torch.tensor([[[[-1.0, 2.0]], [[3.0, 4.0]]]])
    pooled2 = resolve_pooling(op)(window2.clone(), in_place=True)
    assert pooled2.tolist() == ([[[3.0, 4.0]]] if op == "relu-max" else [[[3.0, 6.0]]])


@pytest.mark.parametrize("case", sorted(NET_CASES))
def test_product_pooling_matches_coefficient_tensor_oracle(case):
    """Product through the pooling path = sum_d A[d] prod_i x_i[d_i] (to float64 rounding,
    tolerances in oracles.TOLERANCES), the coefficient tensor from the one-hot oracle."""
    net = make_net(case, seed=1)
    x = _features(net, seed=2, batch=3)
    coef = convac.coefficient_tensor_by_forward(net, output=0)  # (M,) * N
    expected = []
    for sample in x:
        t = coef
        for i in range(net.n_patches):  # contract mode 0 (patch i) each time
            t = torch.tensordot(sample[i], t, dims=([0], [0]))
        expected.append(t)
    with torch.no_grad():
        assert_close(net(x)[:, 0], torch.stack(expected))


@pytest.mark.parametrize("case", ["ht", "window4", "cp"])
def test_user_product_equals_builtin_product(case):
    """A user-given torch.mul pools exactly as the built-in product: bit for bit where both
    fold pairwise (windows of 2, and the in-place path for any window); to rounding where
    the built-in reduces a wide window in one ``prod`` kernel (autograd path, w > 2)."""
    net = make_net(case, seed=4)
    user = make_net(case, seed=4)
    user.pooling = pooling_operator("mul", torch.mul)
    x = _features(net, seed=5)
    with torch.no_grad():
        assert torch.equal(net(x), user(x))
    wide = max(net.windows) > 2
    y_net = net(x.requires_grad_(True))
    y_user = user(x)
    if wide:
        assert_close(y_net.detach(), y_user.detach())
    else:
        assert torch.equal(y_net, y_user)


def test_registry_names_and_alias():
    assert set(POOLING_OPERATORS) >= {"product", "relu-max", "relu-sum", "relu-avg"}
    assert POOLING_OPERATORS["relu-avg"] is RELU_SUM  # the paper's average = sum pooling
    net = convac.HTNet(4, 2, 2, pooling="relu-avg")
    assert net.pooling is RELU_SUM and "relu-sum" in repr(net)
    with pytest.raises(ValueError, match="unknown pooling operator 'maxx'.*'relu-max'"):
        convac.HTNet(4, 2, 2, pooling="maxx")
    with pytest.raises(TypeError, match="pooling must be a name"):
        resolve_pooling(torch.maximum)


@pytest.mark.parametrize("fn,match", [
    (torch.sub, "not commutative"),
    (lambda a, b: (a + b) / 2, "not associative"),
    (lambda a, b: a.sum(), "same shape"),
    (lambda a, b: 1 / 0, "failed"),
])
def test_user_operator_is_checked(fn, match):
    with pytest.raises(ValueError, match=match):
        pooling_operator("bad", fn)


def test_user_operator_bad_arguments():
    with pytest.raises(TypeError, match="combine must be callable"):
        pooling_operator("x", 3)
    with pytest.raises(TypeError, match="non-empty string"):
        pooling_operator("", torch.add)
    with pytest.raises(TypeError, match="activation must be callable"):
        pooling_operator("x", torch.add, activation="relu")
    op = pooling_operator("maxrelu", torch.maximum, torch.relu)  # = relu-max, no in-place form
    net = convac.HTNet(8, 2, 3, seed=0, dtype=torch.float64, pooling=op)
    ref = convac.HTNet(8, 2, 3, seed=0, dtype=torch.float64, pooling="relu-max")
    x = _features(net, seed=1)
    with torch.no_grad():
        assert torch.equal(net(x), ref(x))


def test_forward_log_refuses_generalized_pooling():
    net = convac.HTNet(4, 2, 2, pooling="relu-max")
    with pytest.raises(ValueError, match="forward_log needs product pooling"):
        net.forward_log(torch.randn(2, 4, 2))


@pytest.mark.parametrize("what", ["coefficient_tensor", "structured", "exact", "min_cut",
                                  "by_forward"])
def test_product_only_computations_refuse_other_pooling(what):
    """Coefficient tensors, structured/exact ranks and min-cut bounds are defined for
    product pooling; a generalized network gets an error naming its operator, never the
    product network's answer."""
    net = convac.HTNet(4, 2, 2, seed=0, pooling="relu-max", dtype=torch.float64)
    calls = {
        "coefficient_tensor": lambda: convac.coefficient_tensor(net),
        "structured": lambda: convac.matricization_rank(net, "odd-even", method="structured"),
        "exact": lambda: convac.matricization_rank(net, "odd-even", method="exact"),
        "min_cut": lambda: convac.min_cut_bound(net, "odd-even"),
        "by_forward": lambda: convac.coefficient_tensor_by_forward(net),
    }
    with pytest.raises(ValueError, match=r"defined for product pooling.*pools with 'relu-max'"):
        calls[what]()


def test_grid_tensor_of_generalized_pooling_is_its_own():
    """The grid tensor is defined for every pooling operator: a generalized network's is
    its own forward pass on the template grid, never the product network's answer for the
    same weights."""
    relu = convac.HTNet(4, 2, 2, seed=0, pooling="relu-max", dtype=torch.float64)
    prod = convac.HTNet(4, 2, 2, seed=1, dtype=torch.float64)
    prod.load_state_dict(relu.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(relu.weights, prod.weights, strict=True))
    f = torch.eye(2, dtype=torch.float64)
    points = f[torch.tensor(list(itertools.product(range(2), repeat=4)))]  # (16, 4, 2)
    grid = convac.grid_tensor(relu, f)
    assert grid.pooling == "relu-max"
    assert_close(grid.values, brute_force(relu, points)[:, 0].reshape((2,) * 4))
    assert not torch.allclose(grid.values, convac.grid_tensor(prod, f).values)
