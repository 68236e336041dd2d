# status PIDFILE EXITFILE STATEFILE
# Prints one of:
#   state=none
#   state=running pid=N started=EPOCH
#   state=exited code=N at=EPOCH  | state=terminated signal=N at=EPOCH
#   state=unknown at=EPOCH           (ended while watched without its exit code)
#   state=failed code=N at=EPOCH     (the supervisor gave up: restart limit)
#   state=stale reason=dead|reused  (the PID file was removed)
#   state=corrupt                    (the PID file was removed)
# followed, when a supervisor ran it, by: restarts=N last_exit=CODE last_restart_at=EPOCH
# next_restart_at=EPOCH (while backing off) supervisor=running|gone|done reason=WHY
pidfile=$1 exitfile=$2 statefile=$3
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
# supervision: the supervisor's account, printed after the state.
supervision() {
  load "$statefile" || return 0
  sup=done
  case $f_phase in
  running | backoff) if sup_alive; then sup=running; else sup=gone; fi ;;
  esac
  next=''
  [ "$sup" = running ] && [ "$f_phase" = backoff ] && next=$f_next_restart_at
  echo "restarts=${f_restarts:-0} last_exit=$f_last_exit last_restart_at=$f_last_restart_at" \
    "next_restart_at=$next supervisor=$sup phase=$f_phase reason=$f_reason"
}
if alive "$pid" "$start" "$pgid"; then
  echo "state=running pid=$pid started=$started"
  supervision
  exit 0
fi
if load "$exitfile" && [ "$f_pid" = "$pid" ]; then
  code=$f_code at=$f_at
  load "$statefile"
  if [ "$f_phase" = failed ]; then
    echo "state=failed code=$code at=$at"
  elif [ -z "$code" ]; then
    echo "state=unknown at=$at"
  elif [ "$code" -gt 128 ] 2>/dev/null; then
    echo "state=terminated signal=$((code - 128)) at=$at"
  else
    echo "state=exited code=$code at=$at"
  fi
  supervision
  exit 0
fi
reason=dead
ident "$pid" && reason=reused
# A supervisor may be about to record the exit (or restart it): leave its files alone.
if load "$statefile" && sup_alive; then
  echo "state=unknown at="
  supervision
  exit 0
fi
remove_if_same "$pidfile" "$pid" "$start"
echo "state=stale reason=$reason pid=$pid"
