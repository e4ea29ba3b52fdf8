"""Shared fixtures; helpers live in ``oracles.py``."""

import pytest
import torch
from oracles import NET_CASES


@pytest.fixture(params=sorted(NET_CASES))
def net_case(request):
    return request.param


@pytest.fixture
def one_thread():
    """One intra-op thread for the test, restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
