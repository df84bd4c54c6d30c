"""``LSTMClassifier``: how ``hidden_size`` LSTM features become ``num_classes`` scores.

The LSTM's state is ``hidden_size`` wide however many classes there are; a
separate ``nn.Linear`` head maps the top layer's final hidden state to one
logit per class, and softmax / cross-entropy are applied to those logits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstm_replica.cell import Hidden
from lstm_replica.lstm import LSTM, lstm_config
from lstm_replica.transfer import require_type, transferred

if TYPE_CHECKING:
    from typing_extensions import Self


class LSTMClassifier(nn.Module):
    r"""An :class:`~lstm_replica.LSTM` followed by a linear head producing logits.

    .. math::
        z = W_{head}\,[h^{(top)}_{fw} ; h^{(top)}_{rev}] + b_{head}, \qquad
        p = \mathrm{softmax}(z)

    where :math:`h^{(top)}` is the top layer's final hidden state (for packed
    input, each sequence's true last step) and the reverse half is present only
    when bidirectional. With ``per_step=True`` the head is applied to every
    time step of the LSTM output instead.

    Shapes (named as in the glossary of :mod:`lstm_replica.lstm`; C = num_classes):
    the head is ``Linear(D*H_out, C)``, without bias when ``head_bias=False``; logits are ``(N, C)``
    (``(C,)`` for unbatched input); with ``per_step`` they are shaped as the
    LSTM output with its last dimension replaced by C (a ``PackedSequence``
    for packed input).

    The seed example: input 5, hidden 256, 10 classes gives every gate and
    both states 256 wide and a head ``Linear(256, 10)``.
    """

    # the constructor arguments config() returns, device and dtype aside
    CONFIG_KEYS: ClassVar[tuple[str, ...]] = (*LSTM.CONFIG_KEYS, "num_classes", "head_bias", "per_step")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_classes: int,
        *,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        head_bias: bool = True,
        per_step: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or isinstance(num_classes, bool):
            msg = f"Expected num_classes to be an int, got {type(num_classes).__name__}"
            raise TypeError(msg)
        if num_classes <= 0:
            msg = f"Expected num_classes greater than zero, got {num_classes}"
            raise ValueError(msg)
        self.per_step = per_step
        self.lstm = LSTM(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
            device=device, dtype=dtype,
        )  # fmt: skip
        features = self.lstm.num_directions * self.lstm.output_size  # D*H_out
        self.head = nn.Linear(features, num_classes, bias=head_bias, device=device, dtype=dtype)

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def forward(self, input: Tensor | PackedSequence, hx: Hidden | None = None) -> Tensor | PackedSequence:
        """Logits ``(N, C)`` from the top layer's ``h_n``, or per step with ``per_step``."""
        output, (h_n, _) = self.lstm(input, hx)
        if self.per_step:
            if isinstance(output, PackedSequence):
                return output._replace(data=self.head(output.data))  # (T, C)
            return self.head(output)  # (L, N, C), (N, L, C) or (L, C)
        return self.head(top_layer_state(h_n, self.lstm.bidirectional))

    def config(self) -> dict[str, object]:
        """The constructor arguments, device and dtype aside: ``LSTMClassifier(**m.config())`` builds the same shape."""
        return {
            **lstm_config(self.lstm),
            "num_classes": self.num_classes,
            "head_bias": self.head.bias is not None,
            "per_step": self.per_step,
        }

    @classmethod
    def from_torch(cls, lstm: nn.LSTM, head: nn.Linear, *, per_step: bool = False) -> Self:
        """A classifier with copies of an ``nn.LSTM`` and ``nn.Linear`` pair's weights, in the LSTM's mode."""
        require_type(lstm, nn.LSTM)
        require_type(head, nn.Linear)
        features = (2 if lstm.bidirectional else 1) * (lstm.proj_size or lstm.hidden_size)
        if head.in_features != features:
            msg = f"Expected a head with in_features={features} (the LSTM's output width), got {head.in_features}"
            raise ValueError(msg)
        like, head_weight = lstm.weight_ih_l0, head.weight
        if (head_weight.dtype, head_weight.device) != (like.dtype, like.device):
            msg = (
                f"Expected the head's weights in the LSTM's dtype and device ({like.dtype}, {like.device}), "
                f"got ({head_weight.dtype}, {head_weight.device})"
            )
            raise ValueError(msg)
        config = {**lstm_config(lstm), "num_classes": head.out_features, "head_bias": head.bias is not None}
        model = transferred(nn.ModuleDict({"lstm": lstm, "head": head}), cls, {**config, "per_step": per_step})
        return model.train(lstm.training)

    def to_torch(self) -> tuple[nn.LSTM, nn.Linear]:
        """Copies of this classifier's weights as an ``(nn.LSTM, nn.Linear)`` pair."""
        features, bias = self.head.in_features, self.head.bias is not None
        head = transferred(
            self.head, nn.Linear, {"in_features": features, "out_features": self.num_classes, "bias": bias}
        )
        return self.lstm.to_torch(), head


def top_layer_state(h_n: Tensor, bidirectional: bool) -> Tensor:
    """The top layer's final hidden state, directions concatenated forward first.

    ``h_n`` is ``(D*num_layers, N, H_out)`` (or ``(D*num_layers, H_out)``
    unbatched); the result is ``(N, D*H_out)`` (or ``(D*H_out,)``).
    """
    if bidirectional:
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (N, 2*H_out)
    return h_n[-1]  # (N, H_out)
