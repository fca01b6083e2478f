#!/bin/sh
# Container entry point for every Atrium role. ATRIUM_ROLE (web, worker, beat,
# mlflow) is set per service in compose.yaml; without it the role is guessed
# from the command. Only the web role migrates, so a scaled-out worker never
# races a schema change.
set -eu

role="${ATRIUM_ROLE:-}"
if [ -z "$role" ]; then
  case "${1:-}" in
    gunicorn) role=web ;;
    mlflow) role=mlflow ;;
    celery) case " $* " in *" beat "*) role=beat ;; *) role=worker ;; esac ;;
    *) role=other ;;
  esac
fi

if [ "$role" = web ]; then
  python /app/manage.py migrate --noinput
  python /app/manage.py load_catalog /app/catalog
fi

exec "$@"
