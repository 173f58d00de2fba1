#!/usr/bin/env bash
# Installs what the test suites need beyond the package itself:
#  - the pipeline's run-time Debian packages (scripts/install_demo_deps.sh: WordNet for METEOR) and, in the
#    same apt step, the test-only ones: sshd for the SSH remote, chromium + fonts-dejavu-core for the report's
#    screenshot, a compiler for llama.cpp
#  - llama-cpp-python's OpenAI-compatible server, compiled from source once per machine (~4 min on 2 cores)
#    and kept as a wheel, which the openai backend is tested against.
set -euo pipefail
venv=${1:-.venv}
bash "$(dirname "$0")/install_demo_deps.sh" openssh-server chromium fonts-dejavu-core cmake g++
mkdir -p /run/sshd 2>/dev/null || true
if ! "$venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  # GGML_NATIVE=OFF: the native build segfaults (general protection fault in libggml-cpu) on the first chat
  # request on this Xeon with AMX/AVX512-FP16; the portable AVX2 build serves. The wheel is built once per
  # machine into a cache named after the version and the build flags (pip's own wheel cache may hold a native
  # build from an earlier install, hence --no-cache-dir), then installed from there by every later venv.
  version=0.3.36
  flags="-DGGML_NATIVE=OFF"
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/clinsynth/wheels/llama-cpp-python-$version-$(echo "$flags" | tr -c 'A-Za-z0-9=\n' _)"
  if ! ls "$wheels"/llama_cpp_python-$version-*.whl >/dev/null 2>&1; then
    echo "compiling llama-cpp-python==$version (a few minutes; cached in $wheels)"
    mkdir -p "$wheels"
    CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL=2 "$venv/bin/pip" wheel -q --no-cache-dir --no-deps \
      -w "$wheels" "llama-cpp-python==$version"
  fi
  "$venv/bin/pip" install -q --no-cache-dir --find-links "$wheels" --only-binary llama-cpp-python \
    "llama-cpp-python[server]==$version"
fi
