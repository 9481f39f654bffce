import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # tiny models on a shared 2-core machine: extra threads only add contention
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# the frozen-prefix cache stays in memory in tests (a test of the disk cache sets its own)
os.environ.setdefault("QFED_CACHE_DIR", "")
