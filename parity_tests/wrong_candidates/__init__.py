"""The catalogue of deliberately wrong candidates (and of equal rewrites) the harness is tested against.

Each entry is a target string as a researcher would pass to ``lstm-replica check``.
"""

WRONG: dict[str, str] = {
    "parity_tests.wrong_candidates.modules:GateOrder": "gate blocks read as i, g, f, o",
    "parity_tests.wrong_candidates.modules:ForgetBias": "+1 on the forget gate's pre-activation",
    "parity_tests.wrong_candidates.modules:DroppedBias": "bias_hh dropped",
    "parity_tests.wrong_candidates.modules:DoubledBias": "bias_hh added twice",
    "parity_tests.wrong_candidates.modules:MissingTanh": "h = o * c, no tanh",
    "parity_tests.wrong_candidates.modules:MisplacedProjection": "W(o) * W(tanh c) instead of W(o * tanh c)",
    "parity_tests.wrong_candidates.modules:DetachedState": "c detached between steps: gradients only",
    "parity_tests.wrong_candidates.modules:TanhBackward": "tanh backward as (1 - y)(1 + y): gradients only, ulps",
    "parity_tests.wrong_candidates.modules:OneUlp": "every h_t one ulp high",
    "parity_tests.wrong_candidates.modules:ChunkReset": "c reset every 128 steps: only long sequences",
    "parity_tests.wrong_candidates.modules:WrongReverse": "reverse direction walks forward",
    "parity_tests.wrong_candidates.modules:PackedLengthsIgnored": "packed input run as padded",
    "parity_tests.wrong_candidates.modules:HxIgnored": "hx ignored, zeros used",
    "parity_tests.wrong_candidates.modules:BatchFirstView": "batch_first by reshape: only batch > 1",
    "parity_tests.wrong_candidates.modules:StateWrittenBack": "writes the final state into the caller's hx",
    "parity_tests.wrong_candidates.modules:DropoutInEval": "inter-layer dropout in eval mode",
    "parity_tests.wrong_candidates.cells:SwappedState": "cell reads hx as (c, h)",
    "parity_tests.wrong_candidates.cells:CellGateOrder": "cell reads the gates as f, i, g, o",
    "parity_tests.wrong_candidates.cells:UnbatchedKeepsBatchDim": "cell returns (1, H) for 1-D input",
}

# wrong candidates whose whole error stays inside the float tolerances: rejected only by the bitwise standard
SUB_TOLERANCE = {
    "parity_tests.wrong_candidates.modules:TanhBackward",
    "parity_tests.wrong_candidates.modules:OneUlp",
}

REWRITES: tuple[str, ...] = (
    "parity_tests.wrong_candidates.rewrites:ConcatLSTM",
    "parity_tests.wrong_candidates.rewrites:ConcatCell",
)
