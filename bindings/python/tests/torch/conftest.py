"""The PyTorch test group: run it on its own, where torch is installed.

    python3 -m pytest -q bindings/python/tests/torch

Nothing here is skipped: without torch this conftest fails to load and the run errors out, saying
why. The core suite leaves this directory out (--ignore=bindings/python/tests/torch) and never
needs torch. The parent conftest puts bindings/python on sys.path.
"""

from __future__ import annotations

import pytest

try:
    import torch
except ImportError as error:  # a loud failure, never a silent skip
    raise ImportError(
        "the torch test group needs PyTorch (pip install torch); run the core suite with "
        "--ignore=bindings/python/tests/torch where torch is not installed"
    ) from error


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)
