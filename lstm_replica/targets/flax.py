r"""Flax's own ``LSTMCell`` / ``OptimizedLSTMCell``, run by JAX on the CPU and called the way ``nn.LSTMCell`` is.

:class:`FlaxLSTMCell` is what ``lstm-replica check flax:LSTMCell`` certifies (``flax:OptimizedLSTMCell``:
:class:`FlaxOptimizedLSTMCell`). Each call hands the input, the state and the parameters to JAX as arrays, runs
the Flax cell's ``apply`` one step, and hands ``(h', c')`` back; the backward asks JAX for the vector-Jacobian
product of that same step (``jax.vjp``), so every gradient is JAX's too. What it adds is ``nn.LSTMCell``'s calling
convention, checked by the replica's own :func:`lstm_replica.checks.prepare_cell_call` and
:func:`~lstm_replica.checks.check_cell_call`: input ``(N, H_in)`` or ``(H_in,)``, ``hx = (h, c)`` (Flax's carry is
``(c, h)``), zeros when ``hx`` is None.

The parameters are the Flax tree's leaves, one torch parameter each, named for the ``per-gate-t`` layout
(``x @ W``): ``W_x{g}`` is Flax's ``i{g}`` kernel ``(H_in, H)``, ``W_h{g}`` its ``h{g}`` kernel ``(H, H)`` and ``b_{g}``
its ``h{g}`` bias ``(H,)``, the one bias per gate that holds ``b_ih + b_hh``, for g in i, f, g, o. Their initial
values are Flax's own draws, from a key taken from torch's generator.

Refused with NotImplementedError (an unsupported feature to the harness): ``bias=False`` (Flax's cell always has
its hidden-side biases), a device other than the CPU, and dtypes other than float32 / float64 (numpy, the bridge,
has no bfloat16). The JAX backward is not itself differentiable: no double backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstm_replica.cell import CellWeights, Hidden
from lstm_replica.checks import check_cell_call, prepare_cell_call
from lstm_replica.names import GATES

_DTYPES = {torch.float32: "float32", torch.float64: "float64"}


def _to_jax(tensor: Tensor) -> Any:
    import jax.numpy as jnp  # the interop extra: imported when a cell runs

    return jnp.asarray(tensor.detach().cpu().numpy())


def _to_torch(array: Any) -> Tensor:
    return torch.tensor(np.asarray(array))  # a copy, on the CPU: JAX's arrays are read-only


class _JaxStep(torch.autograd.Function):
    """One cell step computed by JAX; its backward is JAX's vector-Jacobian product of the same step."""

    @staticmethod
    def forward(ctx: Any, jitted: _Jitted, x64: bool, *tensors: Tensor) -> tuple[Tensor, Tensor]:
        import jax

        with jax.enable_x64(x64):
            (h, c), vjp = jitted.forward(*[_to_jax(t) for t in tensors])
        ctx.jitted, ctx.vjp, ctx.x64 = jitted, vjp, x64
        return _to_torch(h), _to_torch(c)

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor, grad_c: Tensor) -> tuple[Tensor | None, ...]:
        import jax

        with jax.enable_x64(ctx.x64):
            grads = ctx.jitted.backward(ctx.vjp, (_to_jax(grad_h), _to_jax(grad_c)))
        return (None, None, *(_to_torch(g) for g in grads))


class _Jitted:
    """A step and its vector-Jacobian product, each compiled by ``jax.jit`` (once per shape and dtype)."""

    def __init__(self, step: Callable[..., Any]) -> None:
        import jax

        self.forward = jax.jit(lambda *arrays: jax.vjp(step, *arrays))  # ((h, c), vjp): vjp is a JAX pytree
        self.backward = jax.jit(lambda vjp, cotangent: vjp(cotangent))


class FlaxLSTMCell(nn.Module):
    """``flax.linen.LSTMCell(features=hidden_size)`` with ``nn.LSTMCell``'s constructor and call (see the module)."""

    optimized = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dtype = dtype or torch.get_default_dtype()
        if not bias:
            msg = "Expected bias=True (Flax's LSTMCell always has its hidden-side biases), got bias=False"
            raise NotImplementedError(msg)
        if torch.device(device or "cpu").type != "cpu":
            msg = f"Expected the CPU (the bridge runs JAX on the CPU), got device {device}"
            raise NotImplementedError(msg)
        if dtype not in _DTYPES:
            msg = f"Expected float32 or float64 (the bridge hands JAX numpy arrays), got {dtype}"
            raise NotImplementedError(msg)
        import jax
        from flax import linen

        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self._x64 = dtype == torch.float64
        kind = linen.OptimizedLSTMCell if self.optimized else linen.LSTMCell
        self._cell = kind(features=hidden_size, param_dtype=_DTYPES[dtype], dtype=_DTYPES[dtype])
        seed = int(torch.randint(0, 2**31 - 1, ()))  # Flax's draws replay under torch's seed
        with jax.enable_x64(self._x64):
            zeros = jax.numpy.zeros((1, hidden_size), _DTYPES[dtype])
            sample = jax.numpy.zeros((1, input_size), _DTYPES[dtype])
            tree = self._cell.init(jax.random.key(seed), (zeros, zeros), sample)["params"]
        self._jitted = _Jitted(self._step)
        for gate in GATES:
            self.register_parameter(f"W_x{gate}", nn.Parameter(_to_torch(tree[f"i{gate}"]["kernel"])))  # (H_in, H)
            self.register_parameter(f"W_h{gate}", nn.Parameter(_to_torch(tree[f"h{gate}"]["kernel"])))  # (H, H)
            self.register_parameter(f"b_{gate}", nn.Parameter(_to_torch(tree[f"h{gate}"]["bias"])))  # (H,)

    def _leaves(self) -> list[Tensor]:
        """The parameters in the order :meth:`_step` reads them: per gate, input kernel, hidden kernel, bias."""
        return [getattr(self, f"{name}{gate}") for gate in GATES for name in ("W_x", "W_h", "b_")]

    def _step(self, x: Any, h: Any, c: Any, *leaves: Any) -> tuple[Any, Any]:
        """The Flax cell's one step on JAX arrays: ``(h', c')`` from ``x (N, H_in)``, ``h``, ``c`` ``(N, H)``."""
        params = {}
        for index, gate in enumerate(GATES):
            kernel_x, kernel_h, bias = leaves[3 * index : 3 * index + 3]
            params[f"i{gate}"] = {"kernel": kernel_x}  # (H_in, H)
            params[f"h{gate}"] = {"kernel": kernel_h, "bias": bias}  # (H, H), (H,)
        (c_next, h_next), _ = self._cell.apply({"params": params}, (c, h), x)  # Flax's carry is (c, h)
        return h_next, c_next

    def forward(self, input: Tensor, hx: Hidden | None = None) -> Hidden:
        """``(h', c')`` as ``nn.LSTMCell`` returns them, computed (and differentiated) by Flax and JAX."""
        x, hidden, batched = prepare_cell_call(input, hx, self.hidden_size)
        leaves = self._leaves()
        weight_ih = torch.cat([leaves[3 * k].t() for k in range(4)])  # (4H, H_in): for the checks' shapes
        weight_hh = torch.cat([leaves[3 * k + 1].t() for k in range(4)])  # (4H, H)
        check_cell_call(x, hidden, CellWeights(weight_ih, weight_hh, None, None))
        h, c = _JaxStep.apply(self._jitted, self._x64, x, *hidden, *leaves)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, flax={'OptimizedLSTMCell' if self.optimized else 'LSTMCell'}"


class FlaxOptimizedLSTMCell(FlaxLSTMCell):
    """``flax.linen.OptimizedLSTMCell``: the same parameters, its four gates computed in one product per side."""

    optimized = True
