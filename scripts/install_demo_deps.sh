#!/usr/bin/env bash
# Installs the Debian packages the PIPELINE needs at run time (`make demo`), beyond the Python packages:
#  - wordnet-base, wordnet-sense-index: WordNet 3.0 for METEOR in stage evaluate_fhir_qa (no wheel on the
#    package index ships its data; src/clinsynth/evaluation/wordnet.py reads /usr/share/wordnet).
# Nothing else a stage runs needs a system package: demo_data's synthea is a pure-Python wheel, the report's
# plots use the DejaVu fonts matplotlib bundles, the models come in wheels.
# Extra package names given as arguments are installed in the same apt step (install_test_deps.sh passes
# the test-only ones). As root: apt-get update + install. Otherwise: stop at once with the sudo line.
set -euo pipefail
apt_packages=(wordnet-base wordnet-sense-index "$@")
if [ $# -eq 0 ] && [ -n "${CLINSYNTH_WORDNET_SOURCE:-}" ]; then
  echo "CLINSYNTH_WORDNET_SOURCE=$CLINSYNTH_WORDNET_SOURCE: WordNet comes from there, no Debian package needed"
  exit 0
fi
if ! command -v dpkg >/dev/null 2>&1; then
  echo "not a Debian-based system: install ${apt_packages[*]} (or WordNet 3.0's dict files and set" \
       "CLINSYNTH_WORDNET_SOURCE to their folder)" >&2
  exit 1
fi
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
