"""Shared fixtures; helpers live in ``oracles.py``."""

import pytest
from oracles import NET_CASES


@pytest.fixture(params=sorted(NET_CASES))
def net_case(request):
    return request.param
