#!/usr/bin/env bash
# Install llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) into the active Python.
#
# PyPI ships it as source only, and the default build uses CPU instructions (AMX) that some
# machines forbid ("Illegal instruction" at the first matmul). We build a portable AVX2 wheel
# once, keep it in a cache folder, and reuse it on every later run. Safe to run repeatedly.
#
#   LLMREC_WHEEL_CACHE  where the wheel is kept (default: ~/.cache/llmrec-wheels)
set -euo pipefail

VERSION="0.3.36"
CACHE="${LLMREC_WHEEL_CACHE:-$HOME/.cache/llmrec-wheels}"
PYTHON="${PYTHON:-python}"

if "$PYTHON" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama_cpp_python') != '$VERSION')" 2>/dev/null \
   && "$PYTHON" -c "import llama_cpp.server.app, uvicorn" 2>/dev/null; then
    echo "llama-cpp-python[server]==$VERSION already installed" >&2
    exit 0
fi

mkdir -p "$CACHE"
shopt -s nullglob
wheels=("$CACHE"/llama_cpp_python-"$VERSION"-*.whl)
if [ ${#wheels[@]} -eq 0 ]; then
    echo "building llama-cpp-python $VERSION into $CACHE (about 5 minutes on 2 cores)" >&2
    # --no-cache-dir: pip would otherwise reuse a cached build whatever CMAKE_ARGS says.
    CMAKE_BUILD_PARALLEL_LEVEL=2 \
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF" \
        "$PYTHON" -m pip wheel --no-cache-dir --no-deps -w "$CACHE" "llama-cpp-python==$VERSION"
else
    echo "reusing ${wheels[0]}" >&2
fi

# The extras' dependencies come from the index; the package itself only from the cached wheel.
"$PYTHON" -m pip install --find-links "$CACHE" --only-binary llama-cpp-python \
    "llama-cpp-python[server]==$VERSION"
"$PYTHON" -c "import llama_cpp.server.app, uvicorn" && echo "llama-cpp-python[server]==$VERSION ready" >&2
