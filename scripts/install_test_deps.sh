#!/usr/bin/env bash
# Installs what the test suites need beyond the package itself:
#  - Debian packages (WordNet for METEOR, sshd for the SSH remote, chromium for the report, a compiler)
#  - llama-cpp-python's OpenAI-compatible server, compiled from source (~4 min on 2 cores),
#    which the openai backend is tested against.
set -euo pipefail
venv=${1:-.venv}
apt_packages=(openssh-server chromium fonts-dejavu-core wordnet-base wordnet-sense-index cmake g++)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
mkdir -p /run/sshd 2>/dev/null || true
if ! "$venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  echo "compiling llama-cpp-python[server]==0.3.36 (a few minutes)"
  CMAKE_BUILD_PARALLEL_LEVEL=2 "$venv/bin/pip" install -q "llama-cpp-python[server]==0.3.36"
fi
