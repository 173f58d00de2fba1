#!/usr/bin/env bash
# Runs the fast suite and then the slow suite. Exit code 5 ("no tests collected") is a failure.
set -uo pipefail
venv=${1:-.venv}
status=0
for marker in "not slow" "slow"; do
  echo "== pytest -m '$marker'"
  "$venv/bin/python" -m pytest -m "$marker" -q
  rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest -m '$marker' collected no tests: failing" >&2
  fi
  [ "$rc" -ne 0 ] && status=1
done
exit $status
