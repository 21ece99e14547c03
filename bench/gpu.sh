#!/usr/bin/env bash
# ResNet training images/s on a GPU: tfjs's `webgpu` backend on Deno's navigator.gpu (Vulkan),
# through bench/gpu_train_step.ts (the project's buildModel ResNet and training step), next to
# PyTorch on the same GPU (bench/peers/torch_resnet_gpu.py; its CPU fallback when there is no
# CUDA). Batch 128, CIFAR-shaped synthetic data, ResNet-20 and ResNet-110. Needs no registry on
# the GPU machine: `bench/gpu.sh --prepare`, run where the project is set up, writes data/gpu/
#   gpu_train_step.js   bench/gpu_train_step.ts and its tfjs packages bundled into one file
#   deno.xz             this machine's deno binary, xz-compressed (used when `deno` is not on PATH)
#   lib/libvulkan.so.1  the Vulkan loader (used when the GPU machine has none)
# and that folder alone is carried (about 34 MB). Writes JSON to $OUT/gpu.json when OUT is set,
# else data/bench/gpu.json, and prints the tfjs/PyTorch ratio.
#
#   bench/gpu.sh --prepare          # here: build data/gpu/
#   bench/gpu.sh                    # there: the benchmark (under 8 minutes)
#   bench/gpu.sh --quick            # ResNet-20, batch 8, 3 steps (software Vulkan, smoke test)
#   bench/gpu.sh --ops              # there: where a step's time goes (bench/webgpu_ops.ts) alone
set -uo pipefail
cd "$(dirname "$0")/.."
DEPTHS=20,110 BATCH=128 STEPS=5 WARMUP=2 PREPARE=0 OPS=0
TFJS_LIMIT=${TFJS_LIMIT:-330} TORCH_LIMIT=${TORCH_LIMIT:-100} # seconds per side
for arg in "$@"; do
  case "$arg" in
    --prepare) PREPARE=1 ;;
    --quick) DEPTHS=20 BATCH=8 STEPS=3 WARMUP=1 ;;
    --ops) OPS=1 ;;
    --depths=*) DEPTHS=${arg#*=} ;;
    --batch-size=*) BATCH=${arg#*=} ;;
    --steps=*) STEPS=${arg#*=} ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done
CARRY=data/gpu

if [ "$PREPARE" = 1 ]; then
  set -e
  mkdir -p "$CARRY/lib"
  deno bundle --quiet --platform deno --external @tensorflow/tfjs-node \
    --external @tensorflow/tfjs-node-gpu -o "$CARRY/gpu_train_step.js" bench/gpu_train_step.ts
  deno bundle --quiet --platform deno --external @tensorflow/tfjs-node \
    --external @tensorflow/tfjs-node-gpu -o "$CARRY/webgpu_ops.js" bench/webgpu_ops.ts
  DENO_BIN=$(readlink -f "$(command -v deno)")
  if [ ! -s "$CARRY/deno.xz" ] || [ "$(cat "$CARRY/deno.version" 2>/dev/null)" != "$(deno -V)" ]; then
    xz -9 -T1 -c "$DENO_BIN" >"$CARRY/deno.xz.part" && mv "$CARRY/deno.xz.part" "$CARRY/deno.xz"
    deno -V >"$CARRY/deno.version"
  fi
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
    if [ -e "$d/libvulkan.so.1" ]; then cp -L "$d/libvulkan.so.1" "$CARRY/lib/"; break; fi
  done
  find "$CARRY" -type f -printf '%s\t%p\n' | sort -k2
  echo "gpu.sh: carry '$CARRY' ($(du -sh "$CARRY" | cut -f1)) to the GPU machine" >&2
  exit 0
fi

RESULT=${OUT:+$OUT/gpu.json}
RESULT=${RESULT:-data/bench/gpu.json}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$(dirname "$RESULT")"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$WORK} # Mesa's WSI complains without one
export DENO_DIR=${DENO_DIR:-$WORK/deno-dir} DENO_NO_UPDATE_CHECK=1 NO_COLOR=1

# --- deno: $DENO, else on PATH, else the carried one (DENO= forces the carried one)
DENO=${DENO-$(command -v deno || true)}
if [ -z "$DENO" ] && [ -s "$CARRY/deno.xz" ]; then
  DENO=$WORK/deno
  if command -v xz >/dev/null; then xz -dc "$CARRY/deno.xz" >"$DENO"; else
    python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$CARRY/deno.xz" "$DENO"
  fi
  chmod +x "$DENO"
fi

# --- Vulkan: the loader and NVIDIA's ICD, or say what is missing
VK_NOTES=()
libs() { { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null; }
if ! libs | grep -q 'libvulkan.so.1 '; then
  if [ -e "$CARRY/lib/libvulkan.so.1" ]; then
    export LD_LIBRARY_PATH="$PWD/$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    VK_NOTES+=("no system Vulkan loader: using the carried libvulkan.so.1")
  else
    VK_NOTES+=("no Vulkan loader (libvulkan.so.1)")
  fi
fi
# /usr/local/nvidia/share: where the lent H200 machines mount the driver's ICD (device README)
NV_ICD_DIR=/usr/local/nvidia/share/vulkan/icd.d
ICDS=$(ls /etc/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json \
  $NV_ICD_DIR/*.json 2>/dev/null | tr '\n' ' ')
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && [ -s $NV_ICD_DIR/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=$NV_ICD_DIR/nvidia_icd.json VK_ICD_FILENAMES=$NV_ICD_DIR/nvidia_icd.json
  VK_NOTES+=("using the driver's ICD $NV_ICD_DIR/nvidia_icd.json")
fi
NV_VK_LIB=$(libs | grep -o '/[^ ]*libGLX_nvidia.so.0$' | head -1)
if [ -z "${VK_ICD_FILENAMES:-}" ] && ! grep -qs nvidia $ICDS /dev/null && [ -n "$NV_VK_LIB" ]; then
  printf '{"file_format_version":"1.0.1","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' \
    "$NV_VK_LIB" >"$WORK/nvidia_icd.json"
  export VK_ICD_FILENAMES=$WORK/nvidia_icd.json
  VK_NOTES+=("no NVIDIA Vulkan ICD file: wrote one for $NV_VK_LIB")
fi
if command -v nvidia-smi >/dev/null && [ -z "$NV_VK_LIB" ]; then
  VK_NOTES+=("NVIDIA driver without its Vulkan library (libGLX_nvidia.so.0): the container needs NVIDIA_DRIVER_CAPABILITIES to include graphics")
fi
for n in "${VK_NOTES[@]}"; do echo "gpu.sh: $n" >&2; done

# --- --ops: per-kernel seconds and tf.profile of one step (bench/webgpu_ops.ts), nothing else
if [ "$OPS" = 1 ]; then
  OPS_OUT=$(dirname "$RESULT")/webgpu_ops.json
  limit=()
  command -v timeout >/dev/null && limit=(timeout -k 5 "$TFJS_LIMIT")
  if [ -s "$CARRY/webgpu_ops.js" ]; then SCRIPT=("$CARRY/webgpu_ops.js"); else SCRIPT=(bench/webgpu_ops.ts); fi
  DENO_WEBGPU_BACKEND=${DENO_WEBGPU_BACKEND:-vulkan} "${limit[@]}" "$DENO" run -A --no-config \
    "${SCRIPT[@]}" --batch-size "$BATCH" >"$OPS_OUT.part" 2> >(grep -v XDG_RUNTIME_DIR >&2)
  rc=$?
  [ $rc = 0 ] && mv "$OPS_OUT.part" "$OPS_OUT" && echo "gpu.sh: wrote $OPS_OUT" >&2
  exit $rc
fi

# --- tfjs webgpu side: one process per depth (a slow ResNet-110 cannot take ResNet-20's result
# with it); Vulkan first, wgpu's OpenGL backend only if Vulkan gives no adapter
run_tfjs() { # $1: DENO_WEBGPU_BACKEND, $2: depth, $3: seconds allowed; prints one JSON line
  local limit=() err=$WORK/tfjs-$1-$2.err rc last
  command -v timeout >/dev/null && limit=(timeout -k 5 "$3")
  if [ -z "$DENO" ]; then echo "{\"depth\": $2, \"error\": \"no deno (not on PATH, no $CARRY/deno.xz)\"}"; return; fi
  local args=(--backend webgpu --depths "$2" --batch-size "$BATCH" --steps "$STEPS" --warmup "$WARMUP")
  if [ -s "$CARRY/gpu_train_step.js" ]; then
    DENO_WEBGPU_BACKEND=$1 "${limit[@]}" "$DENO" run -A --no-config --no-remote --no-npm \
      "$CARRY/gpu_train_step.js" "${args[@]}" >"$WORK/tfjs.out" 2>"$err"
  else
    DENO_WEBGPU_BACKEND=$1 "${limit[@]}" "$DENO" run -A bench/gpu_train_step.ts "${args[@]}" \
      >"$WORK/tfjs.out" 2>"$err"
  fi
  rc=$?
  grep -v XDG_RUNTIME_DIR "$err" | tail -20 >&2
  last=$(tail -1 "$WORK/tfjs.out")
  if [ $rc = 0 ] && [ -n "$last" ]; then echo "$last"; else
    python3 -c '
import json, sys
depth, rc, wg, err = sys.argv[1:]
why = f"exit {rc}" + (" (time limit)" if rc in ("124", "137") else "")
print(json.dumps({"depth": int(depth), "error": why, "webgpuBackend": wg, "stderr": err[-1500:]}))
' "$2" "$rc" "$1" "$(grep -v XDG_RUNTIME_DIR "$err" | tail -8)"
  fi
}
T0=$(date +%s)
WG=${DENO_WEBGPU_BACKEND:-vulkan}
: >"$WORK/tfjs.jsonl"
for depth in ${DEPTHS//,/ }; do
  left=$((TFJS_LIMIT - ($(date +%s) - T0)))
  if [ $left -lt 20 ]; then
    echo "{\"depth\": $depth, \"error\": \"skipped: tfjs time budget ($TFJS_LIMIT s) spent\"}" \
      >>"$WORK/tfjs.jsonl"
    continue
  fi
  line=$(run_tfjs "$WG" "$depth" "$left")
  if grep -q "no WebGPU adapter" <<<"$line" && [ "$WG" = vulkan ] &&
    [ -z "${DENO_WEBGPU_BACKEND:-}" ]; then
    echo "gpu.sh: no Vulkan adapter; trying wgpu's OpenGL backend" >&2
    WG=gl
    line=$(run_tfjs "$WG" "$depth" $((TFJS_LIMIT - ($(date +%s) - T0))))
  fi
  echo "$line" >>"$WORK/tfjs.jsonl"
done
TFJS=$(python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [l for l in lines if "results" in l]
merged = dict(ok[0]) if ok else {}
merged["results"] = [r for l in ok for r in l["results"]]
merged["webgpuBackend"] = sys.argv[2]
errors = [l for l in lines if "results" not in l]
if errors:
    merged["errors"] = errors
    if not ok:
        merged["error"] = errors[0]["error"]
print(json.dumps(merged))
' "$WORK/tfjs.jsonl" "$WG")
T1=$(date +%s)

# --- PyTorch side
PY=""
for p in python3 /usr/bin/python3 python; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done
if [ -n "$PY" ]; then
  limit=()
  command -v timeout >/dev/null && limit=(timeout -k 5 "$TORCH_LIMIT")
  TORCH=$("${limit[@]}" "$PY" bench/peers/torch_resnet_gpu.py --depths "$DEPTHS" \
    --batch-size "$BATCH" --steps $((STEPS * 2)) --warmup $((WARMUP + 1)) 2>"$WORK/torch.err" | tail -1)
  cat "$WORK/torch.err" >&2
  [ -n "$TORCH" ] || TORCH=$(python3 -c 'import json,sys; print(json.dumps({"error": sys.argv[1][-1500:]}))' "$(tail -5 "$WORK/torch.err")")
else
  TORCH='{"error":"no python with torch"}'
fi
T2=$(date +%s)

# --- one JSON, one ratio line per depth
python3 - "$RESULT" "$TFJS" "$TORCH" "$((T1 - T0))" "$((T2 - T1))" "$ICDS" "${VK_NOTES[*]:-}" <<'EOF'
import json, subprocess, sys, datetime
out, tfjs, torch = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
def smi():
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
rows = []
for r in tfjs.get("results", []):
    row = {"depth": r["depth"], "tfjsWebgpu": r["imagesPerSecond"]}
    for p in torch.get("results", []):
        if p["depth"] == r["depth"]:
            key = f"torch_{torch['device']}_{p['mode']}"
            row[key] = p["imagesPerSecond"]
            row[f"ratio_over_{key}"] = r["imagesPerSecond"] / p["imagesPerSecond"]
    rows.append(row)
report = {"bench": "gpu", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
          "gpus": smi(), "vulkanIcds": sys.argv[6].split(), "vulkanNotes": sys.argv[7],
          "seconds": {"tfjs": int(sys.argv[4]), "torch": int(sys.argv[5])},
          "summary": rows, "tfjs": tfjs, "torch": torch}
with open(out, "w") as f:
    json.dump(report, f, indent=1)
print(f"tfjs webgpu ({tfjs['webgpuBackend']}): {tfjs.get('backendReason', tfjs.get('error'))}",
      file=sys.stderr)
for e in tfjs.get("errors", []):
    print(f"tfjs webgpu resnet-{e.get('depth')}: {e['error']}", file=sys.stderr)
for row in rows:
    parts = [f"resnet-{row['depth']} batch {tfjs['batchSize']}: tfjs webgpu "
             f"{row['tfjsWebgpu']:.1f} img/s"]
    parts += [f"{k[6:]} {v:.1f} img/s (ratio {row['ratio_over_' + k]:.3f})"
              for k, v in row.items() if k.startswith("torch_")]
    print("; ".join(parts))
done = {row["depth"] for row in rows}
for p in torch.get("results", []):
    if p["depth"] not in done:
        print(f"resnet-{p['depth']}: torch {torch['device']} {p['mode']} "
              f"{p['imagesPerSecond']:.1f} img/s; tfjs webgpu: none")
print(f"gpu.sh: wrote {out}", file=sys.stderr)
EOF
