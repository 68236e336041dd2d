# stop PIDFILE EXITFILE SIGNAL TIMEOUT_MS LOCKFILE LOCK_MS STATEFILE
# Signals the service's process group only when the recorded process is still the one
# provctl started (same PID, start time and process group). Holds the service's lock,
# so a concurrent start never has its new PID file removed. Prints:
#   result=stopped | result=killed | result=notrunning [reason=...]
#   | result=cancelled (no process, but a supervisor waiting to restart it was ended)
# The supervisor is ended first (SIGTERM; it holds this lock while it launches a restart,
# so none can race this stop), and the service's end is then not a failure to restart.
# Exit 12: another provctl held the lock for longer than LOCK_MS.
pidfile=$1 exitfile=$2 sig=$3 timeout_ms=$4 lockfile=$5 lock_ms=$6 statefile=$7
umask 077
# Only a service that has a lock file (or a start holding it) needs it: a stop of a name
# never started creates nothing.
if [ -e "$lockfile" ] || [ -e "$lockfile.d" ]; then
  take_lock "$lockfile" "$lock_ms" || exit 12
fi
# What the run left in its group is stop's to end unless its supervisor ended it already.
over=''
run_over "$pidfile" "$statefile" && over=1
cancelled=''
if load "$statefile" && sup_alive; then
  kill -TERM "$f_sup" 2>/dev/null
  [ "$f_phase" = backoff ] && cancelled=1
fi
rm -f -- "$statefile"
if [ ! -e "$pidfile" ]; then
  rm -f "$exitfile"
  echo "result=notrunning reason=none"
  exit 0
fi
load "$pidfile"
pid=$f_pid start=$f_start pgid=$f_pgid
case $pid$pgid in '' | *[!0-9]*)
  rm -f "$pidfile" "$exitfile"
  echo "result=notrunning reason=corrupt"
  exit 0
  ;;
esac
# signal_group SIG: the service's whole process group, so its children end too (the main
# process alone when the group is already gone). `kill -SIG -PGID` is the one form that
# dash, busybox sh and bash all accept: dash rejects `kill -SIG -- -PGID`.
signal_group() {
  kill "-$1" "-$pgid" 2>/dev/null || { alive "$pid" "$start" "$pgid" && kill "-$1" "$pid" 2>/dev/null; }
}
if ! alive "$pid" "$start" "$pgid" && { [ -n "$over" ] || ! leftovers "$pid" "$start" "$pgid"; }; then
  rm -f "$pidfile" "$exitfile"
  if [ -n "$cancelled" ]; then
    echo "result=cancelled"
  else
    echo "result=notrunning reason=dead"
  fi
  exit 0
fi
signal_group "$sig"
# Poll every 50 ms until the whole group is gone (the service may leave children behind
# when it exits) or the stop timeout passes.
waited=0
while group_alive "$pid" "$start" "$pgid"; do
  if [ "$waited" -ge "$timeout_ms" ]; then
    signal_group KILL
    i=0
    while alive "$pid" "$start" "$pgid" && [ $i -lt 100 ]; do
      sleep 0.05
      i=$((i + 1))
    done
    if alive "$pid" "$start" "$pgid"; then
      echo "result=stuck pid=$pid"
      exit 5
    fi
    rm -f "$pidfile" "$exitfile"
    echo "result=killed pid=$pid"
    exit 0
  fi
  sleep 0.05
  waited=$((waited + 50))
done
rm -f "$pidfile" "$exitfile"
echo "result=stopped pid=$pid"
