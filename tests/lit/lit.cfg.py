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
