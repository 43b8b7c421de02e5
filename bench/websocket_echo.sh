#!/usr/bin/env bash
# WebSocket echo round trips: skitai (threads=0 and 4) vs uvicorn (websockets, wsproto).
#   bash bench/websocket_echo.sh [rounds] [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
exec "$py" bench/websocket_echo.py --rounds "${1:-3}" --duration "${2:-5}" --connections 1,32
