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
# Values read from files are printed with printf '%s' (dash's echo would expand
# backslashes in them). _pidfile/local_status.ts is this script in-process, for `status`
# on this machine: keep the two alike (tests/backends/pidfile_status_parity_test.ts).
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
  printf 'restarts=%s last_exit=%s last_restart_at=%s next_restart_at=%s supervisor=%s phase=%s reason=%s\n' \
    "${f_restarts:-0}" "$f_last_exit" "$f_last_restart_at" "$next" "$sup" "$f_phase" "$f_reason"
}
if alive "$pid" "$start" "$pgid"; then
  printf 'state=running pid=%s started=%s\n' "$pid" "$started"
  supervision
  exit 0
fi
if load "$exitfile" && [ "$f_pid" = "$pid" ]; then
  code=$f_code at=$f_at
  load "$statefile"
  if [ "$f_phase" = failed ]; then
    printf 'state=failed code=%s at=%s\n' "$code" "$at"
  else
    case $code in
    # An exit status as the supervisor writes it (0-255); anything else (nothing: it ended
    # unwatched; a damaged file) is not known.
    [0-9] | [1-9][0-9] | 1[0-9][0-9] | 2[0-4][0-9] | 25[0-5])
      if [ "$code" -gt 128 ]; then
        printf 'state=terminated signal=%s at=%s\n' "$((code - 128))" "$at"
      else
        printf 'state=exited code=%s at=%s\n' "$code" "$at"
      fi
      ;;
    *) printf 'state=unknown at=%s\n' "$at" ;;
    esac
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
