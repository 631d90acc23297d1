#!/usr/bin/env bash
# Build the one-file lmust-client executable into build/dist/ (about 20 s).
# Same spec on Windows: py -m PyInstaller --clean --noconfirm --distpath build\dist
#   --workpath build\work build\lmust-client.spec   (gives build\dist\lmust-client.exe)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -m PyInstaller --clean --noconfirm --log-level WARN \
    --distpath build/dist --workpath build/work build/lmust-client.spec
ls -l build/dist/lmust-client*
