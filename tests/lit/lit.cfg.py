# lit configuration for kiln's IR tests (tests/lit/**/*.kir).
import os
import lit.formats

config.name = "kiln"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".kir", ".test"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kiln_build, "tests", "lit-out")

config.substitutions.append(("%kiln", config.kiln_bin))
config.substitutions.append(("%data", os.path.join(config.kiln_src_root, "tests", "data")))
config.environment["PATH"] = os.pathsep.join(
    [os.path.dirname(config.kiln_bin), config.llvm_tools, config.environment.get("PATH", "")])
# Sanitizer settings pass through, so the sanitizer build checks the tests too.
for var in ["ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"]:
    if var in os.environ:
        config.environment[var] = os.environ[var]

# Tests that compile CUDA kernels need NVRTC (REQUIRES: nvrtc); kiln
# dlopens it by the same names (codegen/cuda/cg_nvrtc.c).
def _have_nvrtc():
    import ctypes
    for name in ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
                 "/usr/local/cuda/lib64/libnvrtc.so"]:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            pass
    return False

if _have_nvrtc():
    config.available_features.add("nvrtc")
