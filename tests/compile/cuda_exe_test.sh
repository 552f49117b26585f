#!/bin/sh
# cuda_exe_test.sh: an executable built by `kiln compile --device=cuda`, run
# on the CPU and on the fake CUDA driver (tests/fakecuda: device memory is
# host memory; the kernels are the same model's CUDA C, from --emit=cu,
# compiled for the host against codegen/cuda/kiln_cuda_host.h). Both
# devices give the same logits within 1e-4 relative and the same greedy
# tokens; the PTX is used when the driver refuses the CUBIN; the messages
# for a missing driver or GPU and for --device=cuda on a CPU-only
# executable are exact. Exits 77 (skipped) when kiln cannot build CUDA
# kernels here (no NVRTC).
#
# Beside lib.sh's environment: FAKE_CUDA (libkiln_fakecuda.so) and
# CUDA_HOST_HEADER (kiln_cuda_host.h).
. "$(dirname "$0")/lib.sh"
: "${FAKE_CUDA:?}" "${CUDA_HOST_HEADER:?}"
model=$DATA/tiny/llama
tokens=1,5,9,2
fake_name="kiln fake CUDA device (host emulation)"

if ! "$KILN" compile "$model" --device=cuda -o gpu >compile.txt 2>&1; then
  if grep -q NVRTC compile.txt; then
    echo "skipped: $(tail -n 1 compile.txt)"
    exit 77
  fi
  fail "compile --device=cuda"
  sed 's/^/    /' compile.txt
  finish
fi
mkdir -p cu
check "compile --emit=cu" "$KILN" compile "$model" --device=cuda --emit=cu -o cu/gpu.cu
check "the kernels for the host" "$TEST_CC" -std=gnu11 -O1 -w -fPIC -shared \
  -include "$CUDA_HOST_HEADER" -x c cu/gpu.cu -o kernels.so -lm

# fake COMMAND...: the command on the fake driver, which logs to driver.log.
fake() {
  KILN_CUDA_DRIVER=$FAKE_CUDA KILN_FAKE_CUDA_KERNELS=$WORK/kernels.so \
    KILN_FAKE_CUDA_LOG=$WORK/driver.log "$@"
}

# close A B: the numbers agree within 1e-4 * max(1, max |A|).
close() {
  checks=$((checks + 1))
  paste "$2" "$3" | awk -v what="$1" '
    { a[NR] = $1; b[NR] = $2; if ($1 > s) s = $1; if (-$1 > s) s = -$1 }
    NF != 2 { bad = bad ? bad : NR }
    END {
      if (s < 1) s = 1
      for (i = 1; i <= NR && !bad; i++) { d = a[i] - b[i]; if (d < 0) d = -d; if (d > 1e-4 * s) bad = i }
      if (NR == 0 || bad) { printf "%s: value %d: %s vs %s\n", what, bad, a[bad], b[bad]; exit 1 }
    }' || fail "$1: the logits differ"
}

# ---- logits and tokens: the CPU and the device agree ----
check "--device=cpu" sh -c "./gpu --tokens $tokens --logits --device=cpu >cpu.txt"
check "--device=cuda" fake sh -c "./gpu --tokens $tokens --logits --device=cuda >cuda.txt 2>cuda.err"
close "cpu vs cuda logits" cpu.txt cuda.txt
check "kernels launched" grep -q '^launch kiln_k[0-9]* [0-9]*x[0-9]*x[0-9]* [0-9]*$' driver.log
check "the CUBIN loaded" grep -qx 'load cubin' driver.log
check "timing names the GPU" grep -q "tok/s) on $fake_name\$" cuda.err
check "cuda is the default" fake sh -c "./gpu --tokens $tokens --logits >default.txt"
same_file "default device = cuda" cuda.txt default.txt

rm -f driver.log
check "PTX when the CUBIN is refused" fake env KILN_FAKE_CUDA_REJECT_CUBIN=1 \
  sh -c "./gpu --tokens $tokens --logits --device cuda >ptx.txt"
check "the PTX loaded" grep -qx 'load ptx' driver.log
check "the CUBIN refused" grep -qx 'load cubin: rejected' driver.log
same_file "PTX logits = CUBIN logits" cuda.txt ptx.txt

check "greedy on the CPU" sh -c "./gpu --tokens $tokens -n 8 --temp 0 --device=cpu >greedy_cpu.txt"
check "greedy on the device" fake sh -c "./gpu --tokens $tokens -n 8 --temp 0 >greedy_cuda.txt"
same_file "greedy tokens" greedy_cpu.txt greedy_cuda.txt
checks=$((checks + 1))
[ "$(wc -w <greedy_cpu.txt)" -eq 8 ] || fail "greedy: '$(cat greedy_cpu.txt)' is not 8 tokens"

# ---- what the executable says ----
./gpu --version >version.txt
check "--version: the CUDA kernels" grep -q '^cuda kernels: sm_90, CUBIN [1-9][0-9]* bytes, PTX [1-9][0-9]* bytes, [1-9][0-9]* prefill + [1-9][0-9]* decode kernels$' version.txt
./gpu --help >help.txt
check "--help: --device" grep -q -- '--device DEV .*(default: cuda)' help.txt
check "--help: KILN_CUDA_DRIVER" grep -q 'KILN_CUDA_DRIVER' help.txt

nodriver="no CUDA driver found (/nonexistent/libcuda.so.1: cannot open shared object file: No such file or directory)"
expect_stderr "no driver" "gpu: error: $nodriver" \
  env KILN_CUDA_DRIVER=/nonexistent/libcuda.so.1 ./gpu --tokens $tokens --device=cuda
expect_stderr "no driver, cuda by default" "gpu: error: $nodriver; --device=cpu runs the model on the CPU" \
  env KILN_CUDA_DRIVER=/nonexistent/libcuda.so.1 ./gpu --tokens $tokens
expect_stderr "no GPU" \
  "gpu: error: no CUDA GPU found (cuInit failed: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected (CUDA error 100))" \
  fake env KILN_FAKE_CUDA_NO_DEVICE=1 ./gpu --tokens $tokens --device=cuda
expect_stderr "--gpu 1" "gpu: error: no CUDA GPU found (1 devices, asked for device 1)" \
  fake ./gpu --tokens $tokens --device=cuda --gpu 1
expect_stderr "--device=tpu" "gpu: error: --device expects cpu or cuda, got 'tpu'" \
  ./gpu --tokens $tokens --device=tpu

check "compile for the CPU" "$KILN" compile "$model" -o cpu
expect_stderr "--device=cuda on a CPU-only executable" \
  "cpu: error: this model was compiled for the CPU only; compile it with --device=cuda to run it on a GPU" \
  fake ./cpu --tokens $tokens --device=cuda
check "a CPU-only executable runs on the CPU by default" sh -c "./cpu --tokens $tokens --logits >cpu_only.txt"
close "CPU-only executable vs --device=cpu" cpu.txt cpu_only.txt
./cpu --version >cpu_version.txt
check "--version: no CUDA kernels" grep -qx 'cuda kernels: none (compiled for the CPU only)' cpu_version.txt

finish
