r"""ONNX ``LSTM`` operator inputs to and from ``nn.LSTM``: ``W``, ``R``, ``B`` with the gates in the order i, o, f, c.

One ONNX ``LSTM`` node is one layer, both directions at once (``direction="bidirectional"``); a stack is one node
per layer, each node's ``Y`` reshaped into the next node's ``X``. Per node, with D directions (forward first):

============== ======================= ====================================================
input          shape                   nn.LSTM
============== ======================= ====================================================
``W``          ``(D, 4*H, H_in)``      ``weight_ih_l{k}[_reverse]``, gate blocks reordered
``R``          ``(D, 4*H, H)``         ``weight_hh_l{k}[_reverse]``, gate blocks reordered
``B``          ``(D, 8*H)``            ``[bias_ih | bias_hh]``, each reordered (optional)
``initial_h``  ``(D, N, H)``           rows ``k*D ... k*D + D - 1`` of ``h_0``
``initial_c``  ``(D, N, H)``           the same rows of ``c_0``
``Y``          ``(L, D, N, H)``        ``output`` ``(L, N, D*H)`` after a transpose
``Y_h, Y_c``   ``(D, N, H)``           the layer's rows of ``h_n``, ``c_n``
============== ======================= ====================================================

The operator computes, with the default ``activations`` (Sigmoid, Tanh, Tanh) and gate blocks i, o, f, c
(c is torch's g):

.. math::
    \begin{array}{ll}
        i_t = \sigma(x_t W_i^T + h_{t-1} R_i^T + P_i \odot c_{t-1} + W_{bi} + R_{bi}) \\
        f_t = \sigma(x_t W_f^T + h_{t-1} R_f^T + P_f \odot c_{t-1} + W_{bf} + R_{bf}) \\
        \tilde c_t = \tanh(x_t W_c^T + h_{t-1} R_c^T + W_{bc} + R_{bc}) \\
        c_t = f_t \odot c_{t-1} + i_t \odot \tilde c_t \\
        o_t = \sigma(x_t W_o^T + h_{t-1} R_o^T + P_o \odot c_t + W_{bo} + R_{bo}) \\
        h_t = o_t \odot \tanh(c_t)
    \end{array}

ONNX keeps both biases (``W_b``, ``R_b``), so every conversion here is data movement: bitwise. What ``nn.LSTM``
lacks is refused (:func:`from_onnx`, :func:`check_onnx_attributes`): peepholes ``P``, ``clip``, ``input_forget=1``,
other activations, and a lone ``direction="reverse"``; ONNX has no projection, so ``proj_size`` is refused too.
``layout=1`` (batch-major ``X``, ``Y``, states) only moves axes and is the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from lstm_replica.cell import CellWeights
from lstm_replica.interop.gates import TORCH_ORDER, as_tensor, cells_from, copied, read_lstm, reorder_gates, state_dict

ONNX_ORDER = "iofg"  # ONNX's i, o, f, c in torch's letters
DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "tanh")  # f, g, h of the operator, per direction


def to_onnx(lstm: nn.Module | Mapping[str, Tensor]) -> list[dict[str, Tensor]]:
    """``nn.LSTM`` / ``lstm_replica.LSTM`` (or its state_dict) as the inputs of ONNX ``LSTM`` nodes, one per layer.

    Each dict holds ``W`` ``(D, 4H, H_in)``, ``R`` ``(D, 4H, H)`` and, with biases, ``B`` ``(D, 8H)``; D is 2 for
    a bidirectional LSTM (the node's ``direction="bidirectional"``), else 1 (``"forward"``). Set the node's
    ``hidden_size`` to H. All bitwise copies, gate blocks reordered i, o, f, c. Raises ValueError for a
    projection (``proj_size > 0``).
    """
    weights = read_lstm(lstm, "the ONNX LSTM operator")
    directions = 2 if weights.bidirectional else 1
    layers = []
    for layer in range(weights.num_layers):
        cells = weights.cells[layer * directions : (layer + 1) * directions]
        node = {
            "W": torch.stack(
                [reorder_gates(cell.weight_ih, TORCH_ORDER, ONNX_ORDER) for cell in cells]
            ),  # (D, 4H, H_in)
            "R": torch.stack([reorder_gates(cell.weight_hh, TORCH_ORDER, ONNX_ORDER) for cell in cells]),  # (D, 4H, H)
        }
        if cells[0].bias_ih is not None:
            node["B"] = torch.stack([_onnx_bias(cell) for cell in cells])  # (D, 8H)
        layers.append(node)
    return layers


def _onnx_bias(cell: CellWeights) -> Tensor:
    """``[W_b | R_b]`` ``(8H,)``: torch's two biases, each reordered i, o, f, c."""
    biases = [bias for bias in (cell.bias_ih, cell.bias_hh) if bias is not None]
    return torch.cat([reorder_gates(bias, TORCH_ORDER, ONNX_ORDER) for bias in biases])


def from_onnx(layers: Sequence[Mapping[str, object]]) -> dict[str, Tensor]:
    """The ``W``, ``R`` and optional ``B`` / ``P`` of ONNX ``LSTM`` nodes (one per layer) as ``nn.LSTM``'s state_dict.

    D (1 or 2) is read from ``W``'s first dimension; every node must have the same. A node without ``B`` has zero
    biases (the operator's default): zeros in ``nn.LSTM`` too when another node has ``B``, no biases when none has.
    Peepholes ``P`` are refused with ValueError unless all zeros. Check the node's attributes with
    :func:`check_onnx_attributes`. Build the module with :func:`lstm_replica.interop.config_from_state_dict`.
    """
    if not layers:
        msg = "Expected at least one ONNX LSTM node's inputs, got none"
        raise ValueError(msg)
    with_bias = any("B" in node for node in layers)
    nodes = [_node_cells(node, number, with_bias) for number, node in enumerate(layers)]
    directions = sorted({len(cells) for cells in nodes})
    if len(directions) != 1:
        msg = f"Expected every ONNX node with the same number of directions, got {directions}"
        raise ValueError(msg)
    return state_dict(cells_from([cell for cells in nodes for cell in cells], directions == [2], "ONNX"))


def _node_cells(node: Mapping[str, object], number: int, with_bias: bool) -> list[CellWeights]:
    """One node's inputs as ``nn.LSTM``'s cells, forward first; zero biases when ``with_bias`` and ``B`` is absent."""
    if not {"W", "R"} <= set(node) <= {"W", "R", "B", "P"}:
        msg = f"Expected W, R and optionally B and P in ONNX node {number}, got {sorted(node)}"
        raise ValueError(msg)
    tensors = {name: as_tensor(value, f"node {number} {name}") for name, value in node.items()}
    w, r = tensors["W"], tensors["R"]  # (D, 4H, H_in), (D, 4H, H)
    if w.dim() != 3 or r.dim() != 3 or r.shape[0] != w.shape[0] or w.shape[0] not in (1, 2):
        msg = (
            f"Expected W (D, 4H, H_in) and R (D, 4H, H) with D 1 or 2 in ONNX node {number}, "
            f"got {tuple(w.shape)} and {tuple(r.shape)}"
        )
        raise ValueError(msg)
    if "P" in tensors and bool(tensors["P"].any()):
        msg = f"Expected no peepholes (P absent or zeros) in ONNX node {number}: nn.LSTM has none, got non-zero P"
        raise ValueError(msg)
    directions, hidden = w.shape[0], r.shape[2]
    bias = tensors.get("B")
    if bias is None and with_bias:
        bias = w.new_zeros(directions, 8 * hidden)  # the operator's default
    if bias is not None and tuple(bias.shape) != (directions, 8 * hidden):
        msg = f"Expected B of shape {(directions, 8 * hidden)} in ONNX node {number}, got {tuple(bias.shape)}"
        raise ValueError(msg)
    cells = []
    for direction in range(directions):
        weight_ih, weight_hh = (reorder_gates(t[direction], ONNX_ORDER, TORCH_ORDER) for t in (w, r))
        biases = [] if bias is None else [reorder_gates(b, ONNX_ORDER, TORCH_ORDER) for b in bias[direction].chunk(2)]
        cells.append(CellWeights(weight_ih, weight_hh, *(biases or (None, None))))  # (W_b, R_b) = (b_ih, b_hh)
    return cells


def check_onnx_attributes(attributes: Mapping[str, object]) -> None:
    """Refuse an ONNX ``LSTM`` node's attributes that ``nn.LSTM`` cannot compute (ValueError).

    ``attributes`` maps names to values, as ``{a.name: onnx.helper.get_attribute_value(a) for a in
    node.attribute}`` gives them (strings as str or bytes). Refused: ``activations`` other than Sigmoid, Tanh,
    Tanh per direction (so also ``activation_alpha`` / ``activation_beta``), ``clip``, ``input_forget`` other
    than 0, ``direction="reverse"``. ``hidden_size`` and ``layout`` pass.
    """
    direction = _strings(attributes.get("direction", "forward"))[0]
    if direction not in ("forward", "bidirectional"):
        msg = f"Expected direction forward or bidirectional (nn.LSTM has no reverse-only layer), got {direction!r}"
        raise ValueError(msg)
    activations = _strings(attributes.get("activations", DEFAULT_ACTIVATIONS))
    expected = list(DEFAULT_ACTIVATIONS) * (2 if len(activations) == 6 else 1)
    if [name.lower() for name in activations] != expected:
        msg = f"Expected activations {expected} (nn.LSTM's σ, tanh, tanh), got {activations}"
        raise ValueError(msg)
    for name, allowed in (("clip", None), ("input_forget", 0), ("activation_alpha", None), ("activation_beta", None)):
        if name in attributes and attributes[name] != allowed:
            msg = f"Expected no {name} (nn.LSTM has none), got {name}={attributes[name]!r}"
            raise ValueError(msg)


def _strings(value: object) -> list[str]:
    """An attribute's string or strings as a list of str (onnx gives bytes)."""
    items = value if isinstance(value, list | tuple) else [value]
    return [item.decode() if isinstance(item, bytes) else str(item) for item in items]


def state_to_onnx(state: Tensor, num_layers: int) -> list[Tensor]:
    """``h_0`` or ``c_0`` ``(num_layers * D, N, H)`` as each node's ``initial_h`` / ``initial_c`` ``(D, N, H)``."""
    if state.dim() < 2 or state.shape[0] % num_layers or state.shape[0] // num_layers not in (1, 2):
        msg = f"Expected a state of shape (num_layers * D, N, H) with num_layers {num_layers}, got {tuple(state.shape)}"
        raise ValueError(msg)
    return [copied(rows) for rows in state.chunk(num_layers)]  # num_layers x (D, N, H)


def state_from_onnx(states: Sequence[object]) -> Tensor:
    """Each node's ``Y_h`` or ``Y_c`` ``(D, N, H)``, first layer first, as ``nn.LSTM``'s ``h_n`` / ``c_n``."""
    return torch.cat([as_tensor(state, f"state {k}") for k, state in enumerate(states)])  # (num_layers * D, N, H)


def output_from_onnx(y: object) -> Tensor:
    """The last node's ``Y`` ``(L, D, N, H)`` as ``nn.LSTM``'s ``output`` ``(L, N, D*H)``, forward features first."""
    tensor = as_tensor(y, "Y")
    length, directions, batch, hidden = tensor.shape
    return tensor.permute(0, 2, 1, 3).reshape(length, batch, directions * hidden)  # (L, N, D*H)
