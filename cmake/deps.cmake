# Dependencies, found the ordinary way. The bootstrap script installs them
# on Debian 12 (./bootstrap.sh); elsewhere, see the messages below.
# KILN_GPU_ONLY needs none of them (NVRTC and the driver are dlopened).
if(KILN_GPU_ONLY)
  message(STATUS "kiln: KILN_GPU_ONLY: the IR, passes, CUDA backend, runtime and tests/gpu only")
  set(KILN_HAVE_LLVM OFF)
  return()
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)

# LLVM through llvm-config: 19 is the main target, 18 and later accepted.
find_program(LLVM_CONFIG NAMES llvm-config-19 llvm-config-20 llvm-config-18 llvm-config
             HINTS /usr/lib/llvm-19/bin)
if(LLVM_CONFIG)
  execute_process(COMMAND ${LLVM_CONFIG} --version OUTPUT_VARIABLE LLVM_VERSION
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(REGEX MATCH "^[0-9]+" LLVM_MAJOR "${LLVM_VERSION}")
  if(LLVM_MAJOR LESS 18)
    message(WARNING "kiln: ${LLVM_CONFIG} is LLVM ${LLVM_VERSION}; kiln needs 18 or later "
                    "(install llvm-19-dev). The LLVM backend is left out.")
    unset(LLVM_CONFIG)
  else()
    execute_process(COMMAND ${LLVM_CONFIG} --bindir OUTPUT_VARIABLE LLVM_BINDIR
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    message(STATUS "kiln: LLVM ${LLVM_VERSION} (${LLVM_CONFIG})")
  endif()
else()
  message(WARNING "kiln: llvm-config not found (install llvm-19-dev); the LLVM backend is left out.")
endif()

# FileCheck and lit run the IR tests.
# lit's RUN lines call FileCheck, not and count by their plain names, which
# live together in LLVM's own bin directory (Debian puts only FileCheck-19
# on PATH), so look there first.
find_program(FILECHECK NAMES FileCheck HINTS ${LLVM_BINDIR} /usr/lib/llvm-19/bin NO_DEFAULT_PATH)
if(NOT FILECHECK)
  find_program(FILECHECK NAMES FileCheck)
endif()
find_file(LIT_PY lit.py HINTS /usr/lib/llvm-19/build/utils/lit ${LLVM_BINDIR}/../build/utils/lit)
find_package(Python3 COMPONENTS Interpreter)

# CUDA NVRTC is optional.
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND AND TARGET CUDA::nvrtc)
  message(STATUS "kiln: CUDA ${CUDAToolkit_VERSION} with NVRTC found; the CUDA backend is built")
  set(KILN_HAVE_CUDA ON)
else()
  message(STATUS "kiln: CUDA NVRTC not found; the CUDA backend is left out")
  set(KILN_HAVE_CUDA OFF)
endif()
