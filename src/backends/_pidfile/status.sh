# status PIDFILE EXITFILE
# Prints one of:
#   state=none
#   state=running pid=N started=EPOCH
#   state=exited code=N at=EPOCH  | state=terminated signal=N at=EPOCH
#   state=stale reason=dead|reused  (the PID file was removed)
#   state=corrupt                    (the PID file was removed)
pidfile=$1 exitfile=$2
[ -e "$pidfile" ] || { echo "state=none"; exit 0; }
pid=$(field pid "$pidfile") start=$(field start "$pidfile") pgid=$(field pgid "$pidfile")
case $pid in '' | *[!0-9]*)
  rm -f "$pidfile"
  echo "state=corrupt"
  exit 0
  ;;
esac
if [ -z "$start" ] || [ -z "$pgid" ]; then
  rm -f "$pidfile"
  echo "state=corrupt"
  exit 0
fi
if alive "$pid" "$start" "$pgid"; then
  echo "state=running pid=$pid started=$(field started "$pidfile")"
  exit 0
fi
if [ -e "$exitfile" ] && [ "$(field pid "$exitfile")" = "$pid" ]; then
  code=$(field code "$exitfile") at=$(field at "$exitfile")
  if [ "$code" -gt 128 ] 2>/dev/null; then
    echo "state=terminated signal=$((code - 128)) at=$at"
  else
    echo "state=exited code=$code at=$at"
  fi
  exit 0
fi
reason=dead
ident "$pid" >/dev/null 2>&1 && reason=reused
rm -f "$pidfile"
echo "state=stale reason=$reason pid=$pid"
