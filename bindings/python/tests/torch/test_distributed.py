"""Data-parallel training with a losskit loss: 2 gloo processes under DDP equal 1 process on the full batch.

Each rank trains the same MLP on its half of a fixed batch with losskit's loss (reduction "mean")
through the PyTorch adapter; DDP averages the gradients, which for equal halves and an unweighted
mean is the gradient of the full-batch mean. The final parameters must equal those of one process
training on the whole batch with the same loss, to 1e-6.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import losskit.torch as lt

WORLD_SIZE = 2
STEPS = 8
BATCH = 16
LOSSES = [("cross_entropy", {"label_smoothing": 0.1}), ("squentropy", {})]


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(BATCH, 10, generator=generator)
    y = torch.randint(0, 5, (BATCH,), generator=generator)
    return x, y


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 5))


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str, params: dict) -> None:
    criterion = lt.LossModule(name, **params)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    for _ in range(STEPS):
        optimiser.zero_grad()
        criterion(model(x), y).backward()
        optimiser.step()


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        x, y = _data()
        half = BATCH // WORLD_SIZE
        shard = slice(rank * half, (rank + 1) * half)
        for name, params in LOSSES:
            model = DistributedDataParallel(_model())
            _train(model, x[shard], y[shard], name, params)
            if rank == 0:
                torch.save(model.module.state_dict(), Path(out_dir) / f"{name}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def distributed_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD_SIZE, join=True)
    return out


@pytest.mark.parametrize("name, params", LOSSES, ids=[name for name, _ in LOSSES])
def test_ddp_two_processes_equal_one_process_on_the_full_batch(distributed_results, name, params):
    distributed = torch.load(distributed_results / f"{name}.pt")
    single = _model()
    initial = {k: v.clone() for k, v in single.state_dict().items()}
    x, y = _data()
    _train(single, x, y, name, params)
    for key, value in single.state_dict().items():
        assert not torch.equal(value, initial[key])  # training moved the parameters
        torch.testing.assert_close(distributed[key], value, rtol=0, atol=1e-6)
