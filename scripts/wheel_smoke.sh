#!/usr/bin/env bash
# Wheel smoke test (CI): build the wheel, install it into a fresh virtual environment (CPU torch
# through constraints.txt, pip's cache reused), and from outside the source tree check that the
# installed `curator` finds its package data: `serve --demo` answers an HTTP request and
# `import` reads the sample set.
# Usage: scripts/wheel_smoke.sh [PYTHON]   (PYTHON builds the wheel; default .venv/bin/python)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-$root/.venv/bin/python}
work=$(mktemp -d -t curator-wheel-XXXXXX)
server=""
cleanup() {
  if [[ -n "$server" ]] && kill "$server" 2>/dev/null; then  # SIGTERM: the demo removes its store
    for _ in $(seq 1 20); do kill -0 "$server" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
unset PYTHONPATH CURATOR_DB  # the installed package, never the source tree
start=$SECONDS

echo "wheel-smoke: building the wheel" >&2
# From a copy of the files git knows (tracked, or new and not ignored): the build leaves its
# build/ and egg-info folders there, not in the source tree.
mkdir "$work/src"
git -C "$root" ls-files -z --cached --others --exclude-standard | (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$work/src"
"$python" -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" "$work/src"
python3 -m venv "$work/venv"
echo "wheel-smoke: installing $(basename "$work"/dist/*.whl) into a fresh venv" >&2
if ! "$work/venv/bin/pip" install -q --no-compile -c "$root/constraints.txt" "$work"/dist/*.whl >"$work/pip.log" 2>&1; then
  cat "$work/pip.log" >&2
  exit 1
fi
cd "$work"  # outside the source tree: only the installed files can be found
curator="$work/venv/bin/curator"

sample=$("$work/venv/bin/python" -c 'from curator.paths import SAMPLE_TRAJECTORIES as s; print(s)')
case "$sample" in
  "$work/venv/"*) ;;
  *) echo "wheel-smoke: the sample set resolves to $sample, not inside the installed package" >&2; exit 1 ;;
esac
"$curator" import "$sample" --db "$work/smoke.duckdb" --json >"$work/import.json"
"$work/venv/bin/python" - "$work/import.json" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
assert result["imported"] > 0 and result["quarantined"] == 0, result
print(f"wheel-smoke: import of the sample set: {result['imported']} imported", file=sys.stderr)
EOF

port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$curator" serve --demo --port "$port" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 240); do
  if "$work/venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/', timeout=2)" 2>/dev/null; then
    echo "wheel-smoke: serve --demo answered on port $port; done in $((SECONDS - start)) s" >&2
    exit 0
  fi
  if ! kill -0 "$server" 2>/dev/null; then break; fi
  sleep 0.5
done
echo "wheel-smoke: serve --demo did not answer; its log:" >&2
cat "$work/serve.log" >&2
exit 1
