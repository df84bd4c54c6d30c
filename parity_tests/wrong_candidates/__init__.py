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
    "parity_tests.wrong_candidates.conventions:KeywordStateDropped": "hx passed by keyword is dropped",
    "parity_tests.wrong_candidates.conventions:ListStateIgnored": "hx passed as a list is ignored",
}

_RES = "parity_tests.wrong_candidates.researcher:"
# wrong variants of the researcher's cell (examples/researcher_cell.py), checked through its own adapter
RESEARCHER_ADAPTER = "examples/researcher_cell.py:copy_weights"
RESEARCHER_WRONG: dict[str, str] = {
    _RES + "GateReadsAnothersMatrix": "gate g reads w3 instead of w5: w5 never used",
    _RES + "ReturnsCH": "the state returned as (c, h)",
    _RES + "InputForgetExchanged": "gates i and f computed from each other's matrices and biases",
    _RES + "TransposedRecurrent": "h @ w2 instead of h @ w2ᵀ",
}

_ADV = "parity_tests.wrong_candidates.adversarial:"
_PRO = "parity_tests.wrong_candidates.protocol:"
# class of defect -> {target: what is wrong}; each passed the matrix of small sizes and default weights
ADVERSARIAL_CLASSES: dict[str, dict[str, str]] = {
    "sizes": {
        _ADV + "SimdTail": "hidden units past the last block of 16 miss the recurrent term",
        _ADV + "BigBatchHalves": "batches over 4 run in halves, final states swapped",
        _ADV + "DecodeFastPath": "one-step input drops bias_hh",
        _ADV + "LongSequenceTruncation": "gradients cut every 256 steps",
        _ADV + "FourthLayerReuse": "layers past the third reuse its weights",
    },
    "values": {
        _ADV + "ClampedCell": "c clamped to [-50, 50]",
        _ADV + "ExpTanh": "tanh(c) through exp: NaN at large c",
        _ADV + "ZeroRowsAsPadding": "all-zero input rows skipped as padding",
        _ADV + "ClippedPreactivations": "gate pre-activations clipped to [-15, 15]",
        _ADV + "NanGuard": "NaN and inf in the results turned into numbers",
    },
    "state": {
        _ADV + "WarmupCache": "weights frozen after the third call",
        _ADV + "StateBuffers": "no-grad states returned in buffers the next call overwrites",
        _ADV + "DropoutStaysOn": "dropout stays on after train() -> eval()",
        _ADV + "DropoutAfterLastLayer": "dropout after the last layer too",
        _ADV + "OwnDropoutMasks": "its own dropout masks",
    },
    "parameters": {
        _ADV + "BufferWeights": "weight_hh_l0 a buffer, never trained",
        _ADV + "Peepholes": "zero-initialised peepholes: training diverges from step 2",
        _ADV + "MaxNormInForward": "weights renormalised in place by forward",
        _ADV + "XavierInit": "another initialisation for the same seed",
    },
    "gradient paths": {
        _ADV + "NoGradInputShortcut": "input without grad: c detached",
        _ADV + "StateOnlyLossDropped": "a loss on h_n or c_n alone gets no gradient",
        _ADV + "FirstOrderOnly": "once_differentiable tanh: wrong double backward",
        _ADV + "InferenceModePath": "inference_mode drops bias_hh",
        _ADV + "AssumesContiguous": "non-contiguous input read with contiguous strides",
    },
    "dtypes": {_ADV + "UpcastHalf": "float16 / bfloat16 computed in float32"},
    "combinations": {_ADV + "ReverseHxIndex": "bidirectional + 2 layers + hx: wrong initial state row"},
    "cells": {_ADV + "Float32ZeroState": "hx=None zero state in float32"},
    "module protocol": {
        _ADV + "ConstructionTimeWeights": "weights kept from construction: functional_call ignored",
        _ADV + "FlattenReplacesParameters": "flatten_parameters() replaces the Parameters",
        _ADV + "ClearsGradInForward": ".grad cleared in forward: no gradient accumulation",
        _ADV + "HnViewOfOutput": "h_n a view of output[-1]",
        _ADV + "StateGradNeedsInputGrad": "hx detached when the input needs no grad",
        _ADV + "ForgetBiasOne": "forget-gate bias initialised to 1",
        _ADV + "BroadcastsHx": "an hx for one sequence broadcast over the batch",
    },
    # what a training script does besides calling the module on fresh inputs (lstm_replica/parity/probes/protocol.py)
    "training protocol": {
        _PRO + "AutocastHalfState": "under autocast, input and state cast to the autocast dtype: outputs in bfloat16",
        _PRO + "AutocastOffCell": "cell runs with autocast switched off: float32 products",
        _PRO + "FrozenLayersWithoutGraph": "layers below the first trainable one run under no_grad: no input gradient",
        _PRO + "ConstructionDtypeResults": "results cast to the dtype given to the constructor: stale after .double()",
        _PRO + "MemoisedWeights": "weight list memoised on the Parameters: a parametrization registered later ignored",
        _PRO + "EvalWeightCache": "eval-mode no-grad weight copies, not refreshed by in-place weight changes",
        _PRO + "OldStyleFunction": "tanh(c) through an old-style autograd.Function: torch.func transforms refuse it",
        _PRO + "DropoutOnlyWithGrad": "dropout only while autograd records: no Monte-Carlo dropout under no_grad",
        _PRO + "NonLeafInputDetached": "an input that is not a leaf detached: no gradient to an embedding",
    },
}
_BND = "parity_tests.wrong_candidates.bounds:"
# exact inside the old matrix's fixed bounds, wrong one past them (test_bounds_catalogue.py)
BOUNDS: dict[str, str] = {
    _BND + "WideInputTiles": "layer input features past 256 never read",
    _BND + "WideHiddenTiles": "hidden units past 256 miss the recurrent term",
    _BND + "BatchOver64Rows": "batch rows past 64 start each step from h = 0",
    _BND + "FifthLayerReuse": "layers past the fourth reuse its weights",
    _BND + "LongSequenceChunks": "c reset after 1000 steps",
    _BND + "LongFloat64InFloat32": "float64 c kept in float32 past 1000 steps",
}
_MOD = "parity_tests.wrong_candidates.modes:"
# certified by the harness a blind review (README only) attacked; rejected since (test_modes_catalogue.py)
MODES: dict[str, str] = {
    _MOD + "PrivateGeneratorInit": "initial weights from a private generator seeded with torch.initial_seed()",
    _MOD + "ExtraDrawAtInit": "one more draw from the global generator at construction",
    _MOD + "Float32WithoutDtype": "float32 weights when no dtype is given, whatever the default dtype",
    _MOD + "DeterministicModePath": "another order of sums under torch.use_deterministic_algorithms(True)",
    _MOD + "CastsInputDtype": "an input of another dtype cast where nn.LSTM raises ValueError",
    _MOD + "HalfDropoutForDeepStacks": "half the dropout when training 6 or more layers",
    _MOD + "LongHalfFloat32State": "half-precision c kept in float32 past 64 steps",
    _MOD
    + "BatchFirstReverseState": "batch_first + bidirectional + hx: the reverse direction starts from the forward's",
}
ADVERSARIAL: dict[str, str] = {t: why for group in ADVERSARIAL_CLASSES.values() for t, why in group.items()}
# more accurate than nn.LSTM, not less: a rounding-level difference that only the bitwise standard rejects
ADVERSARIAL_SUB_TOLERANCE = {_ADV + "UpcastHalf", _PRO + "AutocastOffCell"}

# wrong candidates whose whole error stays inside the float tolerances: rejected only by the bitwise standard
SUB_TOLERANCE = {
    "parity_tests.wrong_candidates.modules:TanhBackward",
    "parity_tests.wrong_candidates.modules:OneUlp",
}

REWRITES: tuple[str, ...] = (
    "parity_tests.wrong_candidates.rewrites:ConcatLSTM",
    "parity_tests.wrong_candidates.rewrites:ConcatCell",
)
