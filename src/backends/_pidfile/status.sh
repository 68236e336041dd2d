# status PIDFILE EXITFILE
# Prints one of:
#   state=none
#   state=running pid=N started=EPOCH
#   state=exited code=N at=EPOCH  | state=terminated signal=N at=EPOCH
#   state=stale reason=dead|reused  (the PID file was removed)
#   state=corrupt                    (the PID file was removed)
pidfile=$1 exitfile=$2
[ -e "$pidfile" ] || {
  echo "state=none"
  exit 0
}
load "$pidfile"
pid=$f_pid start=$f_start pgid=$f_pgid started=$f_started
# is_corrupt: the loaded PID file does not identify a process.
is_corrupt() {
  case $f_pid in '' | *[!0-9]*) return 0 ;; esac
  [ -z "$f_start" ] || [ -z "$f_pgid" ]
}
if is_corrupt; then
  # Removed only if it is still corrupt: a concurrent start may have just replaced it.
  load "$pidfile" && is_corrupt && rm -f -- "$pidfile"
  echo "state=corrupt"
  exit 0
fi
if alive "$pid" "$start" "$pgid"; then
  echo "state=running pid=$pid started=$started"
  exit 0
fi
if load "$exitfile" && [ "$f_pid" = "$pid" ]; then
  if [ "$f_code" -gt 128 ] 2>/dev/null; then
    echo "state=terminated signal=$((f_code - 128)) at=$f_at"
  else
    echo "state=exited code=$f_code at=$f_at"
  fi
  exit 0
fi
reason=dead
ident "$pid" && reason=reused
remove_if_same "$pidfile" "$pid" "$start"
echo "state=stale reason=$reason pid=$pid"
