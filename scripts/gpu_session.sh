#!/bin/bash
# The GPU checks behind BENCHMARKS.md's GPU figures, in one call on a machine with one CUDA GPU.
# usage: [PARTS="test bench sweep run ddp"] [BENCH="bench flags"] [SWEEP="train flags, one run a line"]
#        [SWEEP_JOBS=3] [SWEEP_STOP_S=400] [RUN="train flags"] [CORPORA="encoded dirs"]
#        bash scripts/gpu_session.sh ENCODED_CORPUS_DIR OUT_DIR
#   ENCODED_CORPUS_DIR: an encoded corpus folder (the cache folder `wordmore train` prints), so the GPU
#   machine needs neither the raw text nor `datasets`; WORDMORE_DATA's sibling eval/ holds the questions.
# Parts: test  = the CUDA tests (graph steps against eager steps);
#        bench = scripts/bench_train.py (tokens/s, FLOP/s against the measured bf16 peak);
#        sweep = word runs, one per line of SWEEP (SWEEP_JOBS at a time on the one GPU), each with its
#                analogy score and royal check (how the presets were chosen);
#        run   = `wordmore train --level word` with no flag but the corpus, evaluated and royal-checked;
#        quality = every line of SWEEP on every encoded folder of CORPORA at the preset's full length
#                (no time budget), each scored with every figure of scripts/compare_gensim.py (Google,
#                semantic, syntactic, family, WordSim, royal, the two cosines; no gensim there), one JSON
#                line a run in OUT_DIR/quality.jsonl;
#        ddp   = torchrun with one process: stop at 150 steps, resume to 300.
ENC=${1:?encoded corpus folder}
O=${2:?output folder}
PARTS=${PARTS:-test bench sweep run ddp}
W=$(mktemp -d)  # run directories; only small files are copied into OUT_DIR
T0=$(date +%s)
mkdir -p "$O"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export WORDMORE_CACHE=$W/cache
step() { echo; echo "=== $* ($(date +%T), +$(( $(date +%s) - T0 )) s)"; }
has() { [[ " $PARTS " == *" $1 "* ]]; }
quiet() { tr '\r' '\n' | grep -v "^train word" | grep -v "^ *$"; }
step device
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(), torch.cuda.get_device_capability())"

if has test; then
  step "CUDA tests"
  timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_train.py tests/test_data.py -k "cuda_graph or needs_no_text or thinned_text" 2>&1 | tail -15
fi

if has bench; then
  step bench
  timeout 200 python3 scripts/bench_train.py --corpus "$ENC" ${BENCH:---batch-sizes 1024 4096 16384} --no-gensim 2>&1 | quiet
  cp BENCHMARKS.md results/bench_train_gpu.json "$O"/ 2>/dev/null
fi

if has sweep; then
  step "sweep (${SWEEP_JOBS:-3} at a time)"
  # one run per line of SWEEP: train flags (label = the flags), each evaluated and royal-checked
  sweep_one() {
    local d="$W/s$1" f=$2
    timeout 300 python3 -m wordmore train --level word --dataset "$ENC" --out "$d" --overwrite --minutes 4 $f 2>&1 \
      | quiet | grep -E "^(done|warning|error|subsample)"
    python3 -m wordmore evaluate -m "$d" --restrict-vocab 30000 | grep -E "^total"
    python3 scripts/royal_check.py "$d" | grep -E "ROYAL|king - man"
    rm -f "$d/ckpt.pt"
  }
  i=0
  while IFS= read -r f; do
    [[ -z "${f// }" ]] && continue
    if (( $(date +%s) - T0 > ${SWEEP_STOP_S:-400} )); then echo "sweep: out of time before [$f]"; break; fi
    i=$((i + 1))
    ( sweep_one $i "$f" > "$W/s$i.log" 2>&1; sed "s|^|[$f] |" "$W/s$i.log" ) &
    while (( $(jobs -rp | wc -l) >= ${SWEEP_JOBS:-3} )); do sleep 1; done
  done <<< "${SWEEP:-$'--seed 1\n--seed 2\n--seed 3'}"  # default: the preset with three seeds
  wait
fi

if has quality; then
  step "quality sweep (${SWEEP_JOBS:-3} at a time, full length)"
  quality_one() {  # corpus folder, label, train flags
    local d="$W/q/$2"
    timeout 600 python3 -m wordmore train --level word --dataset "$1" --out "$d" --overwrite $3 2>&1 \
      | quiet | grep -E "^(done|warning|error)"
    python3 scripts/compare_gensim.py "$1" --run "$d" --epochs --no-sg --out "$d.json" | grep "^wordmore"
    python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['rows'][0]; print(json.dumps({'corpus': sys.argv[2], 'flags': sys.argv[3], **r}))" \
      "$d.json" "$(basename "$1")" "$3" >> "$O/quality.jsonl"
    rm -f "$d/ckpt.pt"
  }
  mkdir -p "$W/q"; i=0
  while IFS= read -r f; do
    [[ -z "${f// }" ]] && continue
    for c in ${CORPORA:-$ENC}; do
      if (( $(date +%s) - T0 > ${SWEEP_STOP_S:-400} )); then echo "quality: out of time before [$f] on $c"; continue; fi
      i=$((i + 1))
      ( quality_one "$c" "$(basename "$c")-$i" "$f" > "$W/q$i.log" 2>&1; sed "s|^|[$(basename "$c") $f] |" "$W/q$i.log" ) &
      while (( $(jobs -rp | wc -l) >= ${SWEEP_JOBS:-3} )); do sleep 1; done
    done
  done <<< "${SWEEP:-$'--seed 42'}"
  wait
fi

if has run; then
  step "default word run on the GPU"
  timeout 200 python3 -m wordmore train --level word --dataset "$ENC" --out "$W/gpu-run" --minutes 2.5 $RUN 2>&1 | quiet
  python3 -m wordmore evaluate -m "$W/gpu-run" --restrict-vocab 30000
  python3 scripts/royal_check.py "$W/gpu-run"
  cp "$W/gpu-run/summary.json" "$O/gpu-run-summary.json"
  cp results/royal_check.json "$O/gpu-royal_check.json" 2>/dev/null
  python3 -m wordmore export -m "$W/gpu-run" --format word2vec-bin -o "$O/gpu-run.bin"
fi

if has ddp; then
  step "torchrun, 1 process: stop at 150, resume to 300"
  common=(--level word --dataset "$ENC" --out "$W/ddp" --max-steps 300 --eval-every 100 --ckpt-every 100)
  timeout 60 python3 -m torch.distributed.run --standalone --nproc_per_node=1 -m wordmore train "${common[@]}" \
    --stop-after 150 2>&1 | quiet | grep -E "^(model|resumed|done|warning|error)"
  timeout 60 python3 -m torch.distributed.run --standalone --nproc_per_node=1 -m wordmore train "${common[@]}" \
    --resume 2>&1 | quiet | grep -E "^(model|resumed|done|warning|error)"
fi
rm -rf "$W"
step done
