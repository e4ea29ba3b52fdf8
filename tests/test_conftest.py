"""The autouse fixture of ``conftest.py`` restores process-wide state after every test:
the first test changes it, the second (run next: pytest keeps file order) sees it back."""

import random

import numpy as np
import pytest
import torch

SEEN = {}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_changes_global_state():
    SEEN["threads"], SEEN["dtype"] = torch.get_num_threads(), torch.get_default_dtype()
    SEEN["rng"] = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())  # noqa: NPY002
    torch.set_num_threads(max(1, SEEN["threads"] % 3 + 1))
    torch.set_default_dtype(torch.float64 if SEEN["dtype"] == torch.float32 else torch.float32)
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002 (the legacy global state)
    torch.rand(3)


def test_b_state_is_restored():
    assert torch.get_num_threads() == SEEN["threads"]
    assert torch.get_default_dtype() == SEEN["dtype"]
    torch_rng, py_rng, np_key = SEEN["rng"]
    assert torch.equal(torch.get_rng_state(), torch_rng)
    assert random.getstate() == py_rng
    assert np.array_equal(np.random.get_state()[1], np_key)  # noqa: NPY002
