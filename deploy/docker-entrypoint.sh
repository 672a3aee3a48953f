#!/bin/sh
# Maps the image's roles to tuneforge commands; anything else runs as given.
#   api | worker | webhook-worker | beat | gpu-worker | migrate | healthcheck
# `exec` makes tuneforge the process tini signals: SIGTERM -> uvicorn drains requests, Celery
# warm-shuts down (finishes the task in hand; late acks redeliver one that is killed).
set -eu

role="${1:-api}"
[ "$#" -gt 0 ] && shift

case "$role" in
  api)
    exec tuneforge api "$@"
    ;;
  worker)
    exec tuneforge worker --queues default "$@"
    ;;
  webhook-worker)
    # Webhook deliveries on workers of their own: a slow receiver never holds a launch or poll.
    exec tuneforge worker --queues webhooks "$@"
    ;;
  gpu-worker)
    exec tuneforge worker --queues gpu --concurrency 1 "$@"
    ;;
  beat)
    exec tuneforge beat "$@"
    ;;
  migrate)
    exec tuneforge migrate "$@"
    ;;
  healthcheck)
    # The API answers /healthz; worker roles have no port, their liveness is the process itself.
    if pgrep -f "tuneforge api" >/dev/null 2>&1; then
      exec python -c "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:${TUNEFORGE_PORT:-8000}/healthz', timeout=3); sys.exit(0)"
    fi
    exit 0
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
