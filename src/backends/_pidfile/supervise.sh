# The supervisor: runs in a session of its own beside the service (no daemon), starts it,
# records it, waits for it, records how it ended, and restarts it as its policy says.
# supervise PIDFILE EXITFILE STATEFILE ENVFILE UMASK LOGFILE LOCKFILE LOCK_MS NEWSESSION
#           POLICY DELAY_MS MAX_DELAY_MS RESTART_MAX WINDOW_MS MIN_UPTIME_MS
#           LOG_MAX_BYTES LOG_KEEP ADOPT_PID STOP_SIGNAL STOP_TIMEOUT_MS -- CMD [ARG]...
# The service gets a session (and process group) of its own, so `stop` signals the service
# and its children but never the supervisor; stop ends the supervisor first (SIGTERM),
# under the service's lock, which the supervisor also holds while it launches a restart,
# so no restart can race a stop. When the service's main process ends, what it left in
# its process group is ended too (STOP_SIGNAL, then SIGKILL after STOP_TIMEOUT_MS), before
# any restart. STATEFILE (KEY=VALUE) tells `status` what it is doing:
# phase=running|backoff|failed|done, restarts, last_exit, last_restart_at,
# next_restart_at, reason.
pidfile=$1 exitfile=$2 statefile=$3 envfile=$4 service_umask=$5 logfile=$6 lockfile=$7
lock_ms=$8 newsession=$9
shift 9
policy=$1 delay_ms=$2 max_delay_ms=$3 restart_max=$4 window_ms=$5 min_uptime_ms=$6
log_max=$7 log_keep=$8 adopt=$9
shift 9
stop_sig=$1 stop_timeout_ms=$2
shift 2
[ "${1:-}" = -- ] && shift

sleeper=''
# SIGTERM from stop: end supervision at once (a pending backoff sleep too); the service
# itself is stopped by stop, and its end is not a failure.
trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; exit 0' TERM
ident $$ || p_start=- p_pgid=$$
sup_start=$p_start sup_pgid=$p_pgid

# env by its path: the service's PATH (applied just before it runs) need not find it.
env_path=$(command -v env 2>/dev/null) || env_path=env
if "$env_path" --default-signal=INT,QUIT true 2>/dev/null; then
  set -- "$env_path" --default-signal=INT,QUIT "$@"
fi
# The launcher is split into words here, once: the service's environment (sourced just
# before it runs) may set IFS, or a variable of this script's, such as newsession.
# shellcheck disable=SC2086
set -- $newsession "$@"

# Size-based log rotation: the service's output reaches the log through a logger (awk)
# that rotates at line boundaries (LOG.1 ... LOG.KEEP), so no line is lost or split. The
# logger reads a FIFO that the supervisor keeps open for writing, so it sees the end of
# input only when the supervisor and every service process are gone; it is not in the
# service's process group, so stop's signals do not cut the last lines short.
if [ "$log_max" -gt 0 ] 2>/dev/null; then
  fifo=$pidfile.log.$$
  rm -f -- "$fifo"
  if mkfifo -m 600 "$fifo" 2>/dev/null; then
    size=$(wc -c < "$logfile" 2>/dev/null) || size=0
    # mawk reads pipes in blocks unless told otherwise; other awks ignore or refuse -W.
    interactive=''
    awk -W interactive 'BEGIN { }' < /dev/null > /dev/null 2>&1 && interactive='-W interactive'
    # shellcheck disable=SC2086
    PROVCTL_LOG=$logfile LC_ALL=C awk $interactive -v max="$log_max" -v keep="$log_keep" -v size="$size" '
      function rotate() {
        close(ENVIRON["PROVCTL_LOG"])
        system("L=$PROVCTL_LOG; n=" keep "; if [ $n -le 0 ]; then rm -f -- \"$L\"; exit; fi; " \
          "rm -f -- \"$L.$n\"; while [ $n -gt 1 ]; do p=$((n - 1)); " \
          "[ ! -e \"$L.$p\" ] || mv -f -- \"$L.$p\" \"$L.$n\"; n=$p; done; mv -f -- \"$L\" \"$L.1\"")
        size = 0
      }
      {
        print >> ENVIRON["PROVCTL_LOG"]
        fflush(ENVIRON["PROVCTL_LOG"])
        size += length($0) + 1
        if (size >= max) rotate()
      }' < "$fifo" > /dev/null 2>&1 9>&- &
    exec 8> "$fifo"
    rm -f -- "$fifo"
    exec >&8 2>&8 8>&-
  fi
fi

# end_rest PID START: ends what the run that just ended left in its process group (its
# ID is the main process's PID), so the next run never starts beside it (end_leftovers).
end_rest() {
  [ "$1" != "$sup_pgid" ] || return 0
  end_leftovers "$1" "$2" "$1" "$stop_sig" "$stop_timeout_ms"
}

# write_state PHASE [NEXT REASON]: the supervision state for status.
restarts=0 last_exit='' last_restart_at=''
write_state() {
  printf 'sup=%s\nsup_start=%s\nphase=%s\nrestarts=%s\nlast_exit=%s\nlast_restart_at=%s\nnext_restart_at=%s\nreason=%s\n' \
    "$$" "$sup_start" "$1" "$restarts" "$last_exit" "$last_restart_at" "${2:-}" "${3:-}" |
    write_atomic "$statefile"
}

delay=$delay_ms
history='' # epochs of the restarts within the window
first=1
while :; do
  # The first run is launched under the lock of the start that runs us.
  if [ -z "$first" ]; then
    until take_lock "$lockfile" "$lock_ms"; do :; done
  fi
  if [ -n "$adopt" ] && [ -n "$first" ]; then
    # A service whose supervisor was killed: watch it (its exit code is lost to us).
    load "$pidfile"
    child=$adopt child_start=$f_start started=$f_started
  else
    (umask "$service_umask" && . "$envfile" && exec "$@") < /dev/null 9>&- &
    child=$!
    p_start=
    # The child makes its own session (pgid = its PID) just after the fork.
    i=0
    while ident "$child" && [ "$p_pgid" != "$child" ] && [ $i -lt 200 ]; do
      sleep 0.01
      i=$((i + 1))
    done
    child_start=${p_start:--}
    started=$(now_s)
  fi
  # The state first: whoever sees the new PID file sees this supervisor's account too.
  write_state running
  printf 'pid=%s\npgid=%s\nstart=%s\nstarted=%s\nsup=%s\nsup_start=%s\n' \
    "$child" "$child" "$child_start" "$started" "$$" "$sup_start" | write_atomic "$pidfile"
  [ -n "$first" ] || release_lock
  if [ -n "$adopt" ] && [ -n "$first" ]; then
    while alive "$child" "$child_start" "$child"; do
      sleep 1 &
      sleeper=$!
      wait "$sleeper"
      sleeper=''
    done
    code=''
  else
    wait "$child"
    code=$?
  fi
  first=''
  at=$(now_s)
  if load "$pidfile" && [ "$f_pid" = "$child" ]; then
    printf 'pid=%s\ncode=%s\nat=%s\n' "$child" "$code" "$at" | write_atomic "$exitfile"
  fi
  last_exit=$code
  # Whatever the policy: a restart, the restart limit and the end of supervision alike.
  end_rest "$child" "$child_start"
  case $policy in
  always) ;;
  # A clean end (clean_end: exit 0, an operator's kill, a shutdown) is not a failure.
  on-failure) ! clean_end "$code" || { write_state done && exit 0; } ;;
  *) write_state done && exit 0 ;;
  esac
  # A run longer than min_uptime starts the backoff over.
  [ $(((at - started) * 1000)) -lt "$min_uptime_ms" ] || delay=$delay_ms
  # The crash-loop limit: at most RESTART_MAX restarts within the window.
  kept='' n=0
  for t in $history; do
    if [ $(((at - t) * 1000)) -lt "$window_ms" ]; then
      kept="$kept $t"
      n=$((n + 1))
    fi
  done
  history=$kept
  if [ "$restart_max" -gt 0 ] && [ "$n" -ge "$restart_max" ]; then
    write_state failed '' restart_limit
    exit 0
  fi
  write_state backoff $((at + (delay + 999) / 1000))
  sleep "$(seconds "$delay")" &
  sleeper=$!
  wait "$sleeper"
  sleeper=''
  last_restart_at=$(now_s)
  history="$history $last_restart_at"
  restarts=$((restarts + 1))
  delay=$((delay * 2))
  [ "$delay" -le "$max_delay_ms" ] || delay=$max_delay_ms
done
