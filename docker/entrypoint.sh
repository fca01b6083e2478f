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

if [ "$role" != mlflow ]; then
  # Settings put STATIC_ROOT at $ATRIUM_VAR_DIR/staticfiles, which is on the
  # shared volume at run time, while collectstatic ran at build time into
  # /app/var/staticfiles. Point the volume's path at this image's copy, so each
  # container serves the static files of its own image (and an upgrade never
  # serves stale ones). Done before any Python process imports the settings.
  var_dir="${ATRIUM_VAR_DIR:-/app/var}"
  built=/app/var/staticfiles
  if [ "$var_dir/staticfiles" != "$built" ]; then
    mkdir -p "$var_dir"
    if [ -d "$var_dir/staticfiles" ] && [ ! -L "$var_dir/staticfiles" ]; then
      rm -rf "$var_dir/staticfiles"
    fi
    ln -sfnT "$built" "$var_dir/staticfiles" 2>/dev/null || [ -L "$var_dir/staticfiles" ]
  fi
fi

if [ "$role" = web ]; then
  python /app/manage.py migrate --noinput
fi

exec "$@"
