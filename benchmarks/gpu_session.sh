#!/usr/bin/env bash
# A GPU session in one command (what produced benchmarks/results/bench_cuda.json and cuda_session.json):
# environment and TF32 check, CUDA-marked tests, CUDA benchmarks, the certificate on cuDNN. Logs -> $OUT/results.tgz
# wheels carried to a machine without a package index (e.g. a newer pytest-benchmark), if any
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:/tmp/site
OUT=${OUT:-/tmp/out}; W=/tmp/w; rm -rf $W; mkdir -p "$OUT" $W
pack() { tar -C $W -czf "$OUT/results.tgz" . ; }
{
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import torch,sys,pytest_benchmark as b;print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.backends.cudnn.version(), torch.cuda.is_available(), b.__version__)"
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -2
python3 benchmarks/tf32_check.py
} 2>&1 | tee $W/env.log
( time timeout 150 python3 -m pytest -m cuda -n 4 -p no:benchmark -q -rs --tb=short --junitxml=$W/cuda_junit.xml ) > $W/cuda_tests.log 2>&1; tail -25 $W/cuda_tests.log; pack
( time BENCH_ROUNDS=${BENCH_ROUNDS:-6} BENCH_WARMUP=${BENCH_WARMUP:-2} timeout 180 python3 -m pytest benchmarks/test_bench_cuda.py -n 0 -q --benchmark-json=$W/bench_cuda.json --benchmark-sort=name --benchmark-columns=median --tb=short -rfE -p no:warnings --junitxml=$W/bench_junit.xml ) > $W/bench.log 2>&1; grep -E "passed|failed|Error" $W/bench.log | tail -8; pack
i=0
for args in "--backend cudnn --tolerance"; do
  i=$((i+1)); echo "=== check --device cuda $args"
  ( time timeout 110 python3 -m lstm_replica check --device cuda $args --no-progress --json $W/check$i.json ) > $W/check$i.log 2>&1
  grep -E "VERDICT|^real" $W/check$i.log | head -3; pack
done
