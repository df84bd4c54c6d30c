"""``LSTMClassifier``: how ``hidden_size`` LSTM features become ``num_classes`` scores.

The LSTM's state is ``hidden_size`` wide however many classes there are; a
separate ``nn.Linear`` head maps the top layer's final hidden state to one
logit per class, and softmax / cross-entropy are applied to those logits.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.cell import Hidden
from lstm_replica.lstm import LSTM
from lstm_replica.transfer import copy_parameters, require_type


class LSTMClassifier(nn.Module):
    r"""An :class:`~lstm_replica.LSTM` followed by a linear head producing logits.

    .. math::
        z = W_{head}\,[h^{(top)}_{fw} ; h^{(top)}_{rev}] + b_{head}, \qquad
        p = \mathrm{softmax}(z)

    where :math:`h^{(top)}` is the top layer's final hidden state (for packed
    input, each sequence's true last step) and the reverse half is present only
    when bidirectional. With ``per_step=True`` the head is applied to every
    time step of the LSTM output instead.

    Shapes (D = 2 if bidirectional else 1, H_out = proj_size or hidden_size,
    C = num_classes): the head is ``Linear(D*H_out, C)``; logits are ``(N, C)``
    (``(C,)`` for unbatched input); with ``per_step`` they are shaped as the
    LSTM output with its last dimension replaced by C (a ``PackedSequence``
    for packed input).

    The seed example: input 5, hidden 256, 10 classes gives every gate and
    both states 256 wide and a head ``Linear(256, 10)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_classes: int,
        *,
        per_step: bool = False,
        **lstm_kwargs: Any,
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or isinstance(num_classes, bool):
            msg = f"Expected num_classes to be an int, got {type(num_classes).__name__}"
            raise TypeError(msg)
        if num_classes <= 0:
            msg = f"Expected num_classes greater than zero, got {num_classes}"
            raise ValueError(msg)
        self.per_step = per_step
        self.lstm = LSTM(input_size, hidden_size, **lstm_kwargs)
        self.head = nn.Linear(
            self.lstm.num_directions * self.lstm.output_size,
            num_classes,
            device=self.lstm.weight_ih_l0.device,
            dtype=self.lstm.weight_ih_l0.dtype,
        )

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None) -> Tensor | PackedSequence:
        """Logits ``(N, C)`` from the top layer's ``h_n``, or per step with ``per_step``."""
        output, (h_n, _) = self.lstm(input, hx)
        if self.per_step:
            if isinstance(output, PackedSequence):
                return output._replace(data=self.head(output.data))
            return self.head(output)
        return self.head(top_layer_state(h_n, self.lstm.bidirectional))

    @classmethod
    def from_torch(cls, lstm: nn.LSTM, head: nn.Linear, *, per_step: bool = False) -> LSTMClassifier:
        """A classifier with copies of an ``nn.LSTM`` and ``nn.Linear`` pair's weights."""
        require_type(head, nn.Linear)
        replica_lstm = LSTM.from_torch(lstm)
        features = replica_lstm.num_directions * replica_lstm.output_size
        if head.in_features != features:
            msg = f"Expected a head with in_features={features} (the LSTM's output width), got {head.in_features}"
            raise ValueError(msg)
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.per_step = per_step
        model.lstm = replica_lstm
        model.head = nn.Linear(
            head.in_features, head.out_features, bias=head.bias is not None,
            device="meta", dtype=head.weight.dtype,
        ).to_empty(device=head.weight.device)  # fmt: skip
        copy_parameters(head, model.head, [n for n, _ in head.named_parameters()])
        model.train(lstm.training)
        return model

    def to_torch(self) -> tuple[nn.LSTM, nn.Linear]:
        """Copies of this classifier's weights as an ``(nn.LSTM, nn.Linear)`` pair."""
        head = nn.Linear(
            self.head.in_features, self.head.out_features, bias=self.head.bias is not None,
            device="meta", dtype=self.head.weight.dtype,
        ).to_empty(device=self.head.weight.device)  # fmt: skip
        copy_parameters(self.head, head, [n for n, _ in self.head.named_parameters()])
        return self.lstm.to_torch(), head


def top_layer_state(h_n: Tensor, bidirectional: bool) -> Tensor:
    """The top layer's final hidden state, directions concatenated forward first.

    ``h_n`` is ``(D*num_layers, N, H_out)`` (or ``(D*num_layers, H_out)``
    unbatched); the result is ``(N, D*H_out)`` (or ``(D*H_out,)``).
    """
    if bidirectional:
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (N, 2*H_out)
    return h_n[-1]  # (N, H_out)
