"""The torch router layer: differentiable gates, any router, device-agnostic, trains."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from qrouting.torch_router import (  # noqa: E402
    MoEBlock,
    RouterLayer,
    capacity_mask,
    sinkhorn_torch,
    train_tiny_moe,
)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: a single intra-op thread is fastest (and immune to a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("router", ["topk", "sinkhorn", "balanced", "expert_choice", "bias"])
def test_gates_are_differentiable(device: str, router: str) -> None:
    torch.manual_seed(0)
    layer = RouterLayer(16, 8, k=2, router=router, capacity_factor=1.0).to(device)
    x = torch.randn(64, 16, device=device)
    out = layer(x)
    assert out.indices.device.type == device
    assert out.gates.shape == out.indices.shape
    assert (out.loads <= max(1, int(np.ceil(2 * 64 / 8)))).all() or router == "expert_choice"
    out.gates.sum().backward()
    assert layer.gate.weight.grad is not None
    assert torch.isfinite(layer.gate.weight.grad).all()


def test_native_topk_matches_numpy_topk() -> None:
    torch.manual_seed(1)
    layer = RouterLayer(8, 4, k=2, router="topk", capacity_factor=1.0)
    x = torch.randn(40, 8)
    native = layer(x)
    from qrouting import route

    plan = route(layer.gate(x).detach(), "topk", k=2, capacity_factor=1.0)
    assert np.array_equal(native.indices.numpy(), plan.indices)


def test_capacity_mask_batch_order() -> None:
    choices = torch.tensor([[0], [0], [0], [1]])
    assert capacity_mask(choices, 2, 2)[:, 0].tolist() == [0, 0, -1, 1]


def test_sinkhorn_torch_balances() -> None:
    logits = torch.randn(512, 8, generator=torch.Generator().manual_seed(0)) + torch.linspace(
        2, -2, 8
    )
    plan = sinkhorn_torch(logits, 1, 64, n_iter=30).exp()
    np.testing.assert_allclose(plan.sum(0).numpy(), 64.0, rtol=1e-3)
    np.testing.assert_allclose(plan.sum(1).numpy(), 1.0, atol=1e-3)


def test_moe_block_shapes_and_balanced_router() -> None:
    torch.manual_seed(0)
    block = MoEBlock(8, 16, 4, k=2, router="balanced", capacity_factor=1.0)
    y, routed = block(torch.randn(2, 16, 8))
    assert y.shape == (2, 16, 8)
    assert routed.plan is not None and routed.plan.metrics["max_vio"] == 0.0


def test_tiny_moe_trains() -> None:
    losses = train_tiny_moe("topk", steps=60, seed=0, batch=128)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_missing_torch_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import qrouting, numpy as np\n"
        "plan = qrouting.route(np.zeros((4, 2)), 'balanced', k=1)\n"
        "try:\n"
        "    qrouting.RouterLayer\n"
        "except qrouting.MissingExtra as e:\n"
        "    print('MISSING', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "MISSING" in out.stdout and "qrouting[torch]" in out.stdout


def test_router_layer_rejects_bad_k() -> None:
    import qrouting

    with pytest.raises(qrouting.InvalidRouting, match="k: 5"):
        RouterLayer(4, 4, k=5)


def test_module_is_importable_lazily() -> None:
    qr = importlib.import_module("qrouting")
    assert qr.RouterLayer is RouterLayer
