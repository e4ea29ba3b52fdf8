"""Bad inputs, one test each: a clear error naming the argument and the value
(``ConvACError``: a ValueError, or a TypeError that is also a ValueError), before anything
is allocated.  Inputs that could allocate gigabytes run under a memory cap, so a
regression fails fast instead of swapping."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from memcap import CAP_AVAILABLE, memory_cap

import convac
from convac.validate import BudgetError, ConvACError

needs_cap = pytest.mark.skipif(not CAP_AVAILABLE, reason="no RLIMIT_AS on this platform")


# -- representation layers --------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.0, -1.0, math.nan, math.inf])
def test_gaussian_refuses_a_non_positive_sigma(sigma):
    with pytest.raises(ConvACError, match="sigma must be"):
        convac.Gaussian(4, 2, sigma=sigma)


@pytest.mark.parametrize(("n", "error"), [(-1, ValueError), (0, ValueError),
                                          (2.0, TypeError), (True, TypeError)])
def test_one_hot_refuses_a_bad_class_count(n, error):
    with pytest.raises(error, match=f"n_channels must be .*got {n!r}"):
        convac.OneHot(n)


@pytest.mark.parametrize(("indices", "match"), [
    (torch.tensor([[0, 3]]), r"indices must be in 0\.\.2 \(n_channels=3\), got 3"),
    (torch.tensor([[-1, 0]]), r"indices must be in 0\.\.2 \(n_channels=3\), got -1"),
    (torch.tensor([[True, False]]), "integer indices"),
    (torch.zeros(1, 2, dtype=torch.long, device="meta"), "integer indices"),
])
def test_one_hot_refuses_bad_indices(indices, match):
    with pytest.raises(ConvACError, match=match):
        convac.OneHot(3)(indices)


LAYERS = {
    "identity": lambda: convac.Identity(),
    "linear": lambda: convac.Linear(3, 2),
    "relu": lambda: convac.ReLU(3, 2),
    "gaussian": lambda: convac.Gaussian(3, 2),
}
BAD_FEATURES = {
    "complex": (lambda: torch.ones(2, 4, 3, dtype=torch.complex64), "real floating dtype"),
    "meta": (lambda: torch.ones(2, 4, 3, device="meta"), "'meta' device"),
    "int64": (lambda: torch.ones(2, 4, 3, dtype=torch.int64), "real floating dtype"),
    "numpy": (lambda: np.ones((2, 4, 3)), "must be a torch.Tensor"),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("bad", sorted(BAD_FEATURES))
def test_representation_layers_refuse_bad_features(layer, bad):
    make, match = BAD_FEATURES[bad]
    with pytest.raises(TypeError, match=match):
        LAYERS[layer]()(make())


def test_patches_refuse_complex_images():
    with pytest.raises(TypeError, match="images must have a real floating dtype"):
        convac.Patches(2)(torch.ones(1, 1, 4, 4, dtype=torch.complex64))


@pytest.mark.parametrize("bad", ["complex", "meta"])
def test_network_refuses_complex_and_meta_features(bad):
    make, _ = BAD_FEATURES[bad]
    with pytest.raises(ConvACError):
        convac.HTNet(4, 3, 2, seed=0)(make())


# -- dense tensors and the memory budget ---------------------------------------------------
@pytest.mark.parametrize(("budget", "error", "match"), [
    (math.nan, TypeError, "max_bytes must be an integer, got nan"),
    (None, TypeError, "max_bytes must be an integer, got None"),
    ("1e9", TypeError, "max_bytes must be an integer, got '1e9'"),
    (0, ValueError, "max_bytes must be >= 1, got 0"),
    (-5, ValueError, "max_bytes must be >= 1, got -5"),
])
def test_coefficient_tensor_refuses_a_bad_budget(budget, error, match):
    net = convac.HTNet(4, 2, 2, seed=0)
    with pytest.raises(error, match=match):
        convac.coefficient_tensor(net, max_bytes=budget)


@pytest.mark.parametrize("n", [1024, 4096])
def test_coefficient_tensor_of_a_huge_order_is_a_budget_error(n):
    net = convac.CPNet(n, 2, 1, seed=0)  # 2^n entries: no OverflowError, the budget message
    with pytest.raises(BudgetError, match=rf"2\^{n} = .* entries .* above the memory budget"):
        convac.coefficient_tensor(net)
    with pytest.raises(BudgetError, match=rf"3\^{n}"):
        convac.grid_tensor(net, np.eye(3, 2))


@pytest.mark.parametrize(("templates", "error", "match"), [
    (np.array([[1 + 1j, 0], [0, 1]]), TypeError, "template_features must be real numbers"),
    (np.array([[math.nan, 0], [0, 1]]), ValueError, "template_features must be finite"),
    (torch.ones(2, 2, device="meta"), TypeError, "'meta' device"),
    (np.ones((0, 2)), ValueError, r"shape \(n_templates, n_channels=2\), got \(0, 2\)"),
])
def test_grid_tensor_refuses_bad_templates(templates, error, match):
    with pytest.raises(error, match=match):
        convac.grid_tensor(convac.HTNet(4, 2, 2, seed=0), templates)


@needs_cap
@pytest.mark.parametrize(("shared", "match"), [
    (False, r"parameters of the network \(n_patches=536870912, n_channels=2, n_outputs=1, "
            r"ranks=\(2, .*\)\) would have shape \(4294967290,\)"),  # 16 GiB of weights
    (True, "patch order of 536870912"),  # 8 parameters, but a 4 GiB order buffer
])
def test_huge_network_refuses_before_allocating(shared, match):
    """Refused under a 1 GiB memory cap: nothing of the network is allocated first (was
    16 s and 4 GiB)."""
    with memory_cap(1 << 30), pytest.raises(BudgetError, match=match):
        convac.HTNet(2**29, 2, 2, shared=shared)


def test_schedule_parameter_budget():
    s = convac.PoolingSchedule(2**20, 4, convac.ht_windows(2**20), 8)
    assert s.parameter_count() == convac.schedule_parameter_count(s)
    with pytest.raises(BudgetError, match="parameters of the network"):
        s.check_parameter_budget(itemsize=8, max_bytes=2**20)
    assert s.check_parameter_budget(shared=True, max_bytes=2**20) == s.parameter_count(True)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: convac.parameter_count("net"), TypeError, "expected a convac.ConvAC network"),
    (lambda: convac.schedule_parameter_count((2, 2)), TypeError, "PoolingSchedule"),
    (lambda: convac.trainable_parameters(3), TypeError, "torch.nn.Module"),
    (lambda: convac.embed_cp_in_ht(convac.HTNet(4, 2, 2)), ValueError, r"got \(2, 2\)"),
    (lambda: convac.embed_cp_in_ht(convac.CPNet(4, 2, 2), window=1), ValueError,
     "window must be >= 2, got 1"),
    (lambda: convac.coefficient_tensor_by_forward(convac.CPNet(4, 2, 2), batch_size=0),
     ValueError, "batch_size must be >= 1, got 0"),
    (lambda: convac.Patches(0), ValueError, "patch_size must be >= 1, got 0"),
    (lambda: convac.Linear(3, 2, bias="yes"), TypeError, "bias must be True or False"),
    (lambda: convac.patch_order(object(), 4), TypeError, "permutation of range"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- inputs of other helpers' modules (handled there since; one still open) ---------------
@pytest.mark.parametrize("rtol", [-1.0, math.nan, 1.5])
def test_matricization_rank_refuses_a_bad_tolerance(rtol):
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="rtol"):
        convac.matricization_rank(net, "odd-even", rtol=rtol)


def test_numerical_rank_refuses_nan():
    with pytest.raises(ValueError, match="finite"):
        convac.numerical_rank(np.array([math.nan, 1.0, 0.5]))


def test_exact_rank_refuses_integers_it_cannot_represent():
    pytest.importorskip("flint")
    a = np.full((2, 2), 2**63, dtype=np.uint64)
    try:
        result = convac.exact_rank(a, [0])
    except ValueError:
        return
    assert result.rank == 1  # the matrix of equal entries has rank 1


def test_partition_with_inconsistent_cols_is_refused():
    with pytest.raises(ValueError):
        convac.matricize(torch.zeros((2,) * 4), convac.Partition((0, 1), (1, 2)))


def test_random_features_refuses_an_integer_dtype():
    with pytest.raises(ConvACError, match="dtype"):
        convac.random_features(4, 4, 2, dtype=torch.int64)


@pytest.mark.parametrize("case", ["nan-features", "inf-lr"])
def test_train_student_refuses_nan_features_and_infinite_lr(case):
    teacher = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64)
    student = convac.CPNet(4, 2, 2, seed=1, dtype=torch.float64)
    x = convac.random_features(8, 4, 2, seed=0)
    kwargs = {"steps": 1}
    if case == "nan-features":
        x[0, 0, 0] = math.nan
    else:
        kwargs["lr"] = math.inf
    with pytest.raises(ValueError):
        convac.train_student(student, teacher, features=x, **kwargs)


@needs_cap
@pytest.mark.parametrize("case", ["fit_cp", "width_sweep", "digits"])
def test_huge_widths_are_refused_before_allocating(case):
    tensor = np.ones((2, 2, 2))
    teacher = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64)
    with memory_cap(1 << 30), pytest.raises(ValueError):
        if case == "fit_cp":
            convac.fit_cp(tensor, 10**9)
        elif case == "width_sweep":
            convac.width_sweep(teacher, [10**9])
        else:
            convac.digits_features(n_channels=10**6)


# -- inputs whose errors came from numpy, torch or LAPACK, or that passed silently ---------
def _nan_tensor(value=math.nan):
    tensor = np.ones((2, 2, 2, 2))
    tensor[0, 1, 0, 0] = value
    return tensor


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("call", [
    lambda t: convac.matricization_rank(t, "odd-even"),
    lambda t: convac.matricization_rank(t, "odd-even", method="auto"),
    lambda t: convac.singular_values(t, "odd-even"),
    lambda t: convac.eckart_young_floor(t, 1),
    lambda t: convac.fit_cp(t, 1),
    lambda t: convac.exact_rank(t, "odd-even"),
], ids=["dense", "auto", "singular_values", "floor", "fit_cp", "exact"])
def test_non_finite_tensors_are_named(call, value):
    with pytest.raises(ConvACError, match=r"finite|nan|inf"):
        call(_nan_tensor(value))


def test_finite_entries_whose_sum_overflows_are_accepted():
    """The finiteness check sums the entries first: a sum that overflows from finite
    entries is searched entry by entry, not refused."""
    tensor = np.full((4, 4, 4, 4), 1e307)  # sum 2.6e309, singular value 1.6e308
    with np.errstate(over="ignore"):  # the overflow this test is about
        assert math.isinf(tensor.sum())
    assert convac.singular_values(tensor, "odd-even")[0] > 0
    assert convac.matricization_rank(tensor, "odd-even").rank == 1


@pytest.mark.parametrize(("partition", "match"), [
    (np.array([[0, 2]]), r"1-D sequence of row modes, got an array of shape \(1, 2\)"),
    (torch.tensor([[0], [2]]), r"1-D sequence of row modes, got an array of shape \(2, 1\)"),
    ([[0, 1], [2]], r"partition\[0\] must be an int mode, got \[0, 1\]"),
])
def test_partition_must_be_one_dimensional(partition, match):
    net = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64)
    with pytest.raises(ConvACError, match=match):
        convac.matricization_rank(net, partition)


def test_numpy_integer_modes_are_modes():
    net = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64)
    assert (convac.matricization_rank(net, np.array([0, 2])).rank
            == convac.matricization_rank(net, [0, 2]).rank)


@pytest.mark.parametrize("shape", [(0, 2, 2), (2, 0, 3)])
def test_fit_cp_of_an_empty_tensor(shape):
    with pytest.raises(ConvACError, match=rf"must not be empty, got shape \({shape[0]}, "):
        convac.fit_cp(np.zeros(shape), 1)


def test_ragged_templates_are_named():
    from convac.tensors.grid import grid_tensor, neuron_templates

    net = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64)
    with pytest.raises(ConvACError, match=r"features must be a real, rectangular array .* "
                                          r"\(n_templates, n_channels=2\)"):
        grid_tensor(net, [[1.0, 0.0], [0.0]])
    with pytest.raises(ConvACError, match="templates must be a real, rectangular array"):
        neuron_templates([[1.0], [1.0, 2.0]], np.ones((2, 1)), np.ones(2))


@pytest.mark.parametrize(("dtype", "match"), [
    (torch.int64, r"dtype=torch.int64 cannot hold trained weights.*float64"),
    (torch.bool, r"dtype=torch.bool cannot hold"),
    ("int8", r"dtype='int8' is no floating dtype"),
    ("float65", r"dtype='float65' is no floating dtype"),
    (3, r"dtype must be a torch.dtype or its name.*got int 3"),
])
def test_a_network_dtype_is_a_float(dtype, match):
    with pytest.raises(ConvACError, match=match):
        convac.HTNet(4, 2, 2, dtype=dtype)


@pytest.mark.parametrize("name", ["float64", "torch.float64", "double"])
def test_a_dtype_by_name_works(name):
    net = convac.CPNet(4, 2, 2, seed=0, dtype=name)
    assert all(w.dtype == torch.float64 for w in net.weights)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_without_cuda_is_named(device):
    with pytest.raises(ConvACError, match=r"no CUDA device is available.*device='cpu'"):
        convac.HTNet(4, 2, 2, device=device)
    with pytest.raises(ConvACError, match="no CUDA device is available"):
        convac.train_student(convac.CPNet(4, 2, 1), convac.HTNet(4, 2, 2), device=device,
                             steps=1, n_samples=4, progress=False)


def test_a_device_that_is_none_is_named():
    with pytest.raises(ConvACError, match=r"device='gpu' is no torch device"):
        convac.HTNet(4, 2, 2, device="gpu")


def test_an_image_grid_that_is_no_quad_tree_says_what_it_got():
    with pytest.raises(ConvACError, match=r"images of 15x15 pixels give a 3x3 grid of 4x4 "
                                          r"patches.*order='raster'"):
        convac.Patches(4)(torch.randn(1, 1, 15, 15))


# -- found by a sweep of the public API with bad arguments ------------------------------
@pytest.mark.parametrize("tensor", [None, "x", object(), 1j, np.ones((2, 2), complex),
                                    torch.ones(2, 2, dtype=torch.complex64), [[1.0], [1.0, 2.0]]])
def test_a_tensor_that_is_no_real_array_is_named(tensor):
    for method in ("dense", "auto"):
        with pytest.raises(ConvACError, match="tensor must be a real, rectangular array"):
            convac.matricization_rank(tensor, "odd-even", method=method)
    if not hasattr(tensor, "dtype"):  # a complex array has a matricization, not a real rank
        with pytest.raises(ConvACError, match="tensor must be a real, rectangular array"):
            convac.matricize(tensor, "odd-even")


@pytest.mark.parametrize(("widths", "match"), [
    (None, "widths must be a sequence of integers, got NoneType"),
    (3, "widths must be a sequence of integers, got int 3"),
    ([], "widths must list at least one width, got none"),
    ([2, 1.5], r"widths\[1\] must be an integer"),
    ([0], r"widths\[0\] must be >= 1"),
])
def test_widths_must_be_a_sequence_of_ints(widths, match):
    teacher = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64)
    with pytest.raises(ConvACError, match=match):
        convac.eckart_young_floors(teacher, widths)
    with pytest.raises(ConvACError, match=match):
        convac.width_sweep(teacher, widths)


@pytest.mark.parametrize(("sv", "shape", "match"), [
    ("x", None, "sv must be a real, rectangular array"),
    ([1.0, 1j], None, "sv must be a real, rectangular array"),
    ([1.0, 0.5], 3, "shape must be a sequence of integers"),
    ([1.0, 0.5], [], "shape must list at least one integer"),
])
def test_numerical_rank_checks_its_arguments(sv, shape, match):
    with pytest.raises(ConvACError, match=match):
        convac.numerical_rank(sv, shape=shape)


@pytest.mark.parametrize("patch_size", [np.zeros(0), 2.0, "2", True])
def test_digits_patch_size_is_an_int(patch_size):
    pytest.importorskip("sklearn")
    with pytest.raises(ConvACError, match="patch_size must divide 8"):
        convac.digits_features(patch_size)


def test_the_error_family_is_exported_from_convac():
    assert convac.ConvACError is ConvACError and convac.BudgetError is BudgetError
    assert issubclass(convac.InvalidValueError, (convac.ConvACError, ValueError))
    assert issubclass(convac.InvalidTypeError, (convac.ConvACError, TypeError, ValueError))
    assert {"ConvACError", "BudgetError", "InvalidValueError", "InvalidTypeError"} <= set(
        convac.__all__)


BIG = 10**30
ABSURD = {  # a public function with one integer argument at 10**30: (call, what it names)
    "ConvAC(n_channels)": (lambda: convac.ConvAC(4, BIG, (2, 2), 2), "n_channels=1e+30"),
    "HTNet(n_patches)": (lambda: convac.HTNet(2**100, 2, 2), "n_patches=1.27e+30"),
    "HTNet(ranks)": (lambda: convac.HTNet(4, 2, BIG), "ranks=(1e+30, 1e+30)"),
    "CPNet(n_outputs)": (lambda: convac.CPNet(4, 2, 2, n_outputs=BIG), "n_outputs=1e+30"),
    "truncated_windows(depth)": (lambda: convac.truncated_windows(16, BIG), "depth=1e+30"),
    "cp_rank_bounds(n_samples)": (lambda: convac.cp_rank_bounds(convac.HTNet(4, 2, 2),
                                                                n_samples=BIG),
                                  "n_samples=1e+30"),
    "eckart_young_floor(n_samples)": (lambda: convac.eckart_young_floor(
        torch.ones(2, 2, 2, 2), 1, n_samples=BIG), "n_samples=1e+30"),
    "fit_cp(n_restarts)": (lambda: convac.fit_cp(torch.ones(2, 2, 2), 1, n_restarts=BIG),
                           "n_restarts=1e+30"),
    "train_student(steps)": (lambda: convac.train_student(
        convac.CPNet(4, 2, 2), convac.HTNet(4, 2, 2), steps=BIG, progress=False),
        "steps=1e+30"),
    "grow_cp(max_width)": (lambda: convac.grow_cp(torch.ones(2, 2, 2), 0.1, max_width=BIG),
                           "max_width=1e+30"),
    "ht_odd_even_rank(n_patches)": (lambda: convac.ht_odd_even_rank(BIG, 2, 2),
                                    "choose a smaller n_patches"),
    "Linear(patch_dim)": (lambda: convac.Linear(BIG, 2), "patch_dim=1e+30"),
    "Gaussian(n_channels)": (lambda: convac.Gaussian(4, BIG), "n_channels=1e+30"),
    "resolve_partition(n_modes)": (lambda: convac.resolve_partition("odd-even", BIG),
                                   "n_modes=1e+30"),
}


@pytest.mark.parametrize("case", sorted(ABSURD))
def test_absurd_sizes_are_refused_before_allocating_or_looping(case):
    """Each is an immediate ConvACError naming the value (these hung, or raised torch's
    and Python's own overflow errors)."""
    call, names = ABSURD[case]
    start = time.process_time()
    with pytest.raises(ConvACError) as info:
        call()
    assert names in str(info.value) and time.process_time() - start < 5, str(info.value)


def test_formulas_of_huge_sizes_stay_exact_without_huge_powers():
    """``min(k, M^e)`` is ``k`` at once when the power is far larger."""
    assert convac.cp_rank(BIG, 2, 5) == 5 and convac.ht_left_right_rank(BIG, 3, 7) == 7
    assert convac.cp_rank(6, 2, 100, n_rows=1) == 2 and convac.ht_left_right_rank(4, 3, 100) == 9
    assert convac.ht_odd_even_rank(1024, 16, 16) == 16**512


def test_sampled_partitions_beyond_all_there_are_take_them_all_at_once():
    """N=4 has 3 balanced partitions up to complement: 10**6 samples take those 3 (the
    loop was bounded by 50 tries per sample requested)."""
    from convac.tensors.matricization import sample_partitions

    start = time.process_time()
    parts = sample_partitions(4, 10**6)
    assert sorted(p.rows for p in parts) == [(0, 1), (0, 2), (0, 3)]
    assert time.process_time() - start < 1
