"""Is cuDNN's float32 LSTM computed in IEEE float32 under the harness's flags? Its error against a float64 run."""

import torch
from torch import nn

from lstm_replica.parity.backends import Backend, flags

torch.manual_seed(0)
ref = nn.LSTM(64, 256, num_layers=2, device="cuda", dtype=torch.float64)
x = torch.randn(100, 32, 64, device="cuda", dtype=torch.float64)
with flags(Backend("cuda", "native")):
    exact = ref(x)[0]
low = nn.LSTM(64, 256, num_layers=2, device="cuda")
low.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
for name, setup in (
    ("native fp32", Backend("cuda", "native")),
    ("cudnn fp32 ieee", Backend("cuda", "cudnn")),
    ("cudnn tf32", Backend("cuda", "cudnn", tf32=True)),
):
    with flags(setup):
        out = low(x.float())[0].double()
        print(
            name,
            torch.backends.cudnn.rnn.fp32_precision,
            f"max abs err vs float64 {(out - exact).abs().max().item():.3g}",
        )
