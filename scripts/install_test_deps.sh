#!/usr/bin/env bash
# Installs what the test suites need beyond the package itself:
#  - the pipeline's run-time Debian packages (scripts/install_demo_deps.sh: WordNet for METEOR) and, in the
#    same apt step, the test-only ones: sshd for the SSH remote, chromium + fonts-dejavu-core for the report's
#    screenshot, a compiler for llama.cpp
#  - llama-cpp-python's OpenAI-compatible server, compiled from source (~4 min on 2 cores),
#    which the openai backend is tested against.
set -euo pipefail
venv=${1:-.venv}
bash "$(dirname "$0")/install_demo_deps.sh" openssh-server chromium fonts-dejavu-core cmake g++
mkdir -p /run/sshd 2>/dev/null || true
if ! "$venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  echo "compiling llama-cpp-python[server]==0.3.36 (a few minutes)"
  # GGML_NATIVE=OFF: the native build segfaults (general protection fault in libggml-cpu) on the first chat
  # request on this Xeon with AMX/AVX512-FP16; the portable AVX2 build serves. --no-cache-dir: pip's wheel cache
  # may hold a native build from an earlier install.
  CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 "$venv/bin/pip" install -q --no-cache-dir \
    "llama-cpp-python[server]==0.3.36"
fi
