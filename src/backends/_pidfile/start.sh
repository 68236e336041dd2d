# start PIDFILE EXITFILE STATEFILE LOGFILE LOCKFILE DEFFILE GRACE_MS LOCK_MS WORKDIR SHELL
#       POLICY DELAY_MS MAX_DELAY_MS RESTART_MAX WINDOW_MS MIN_UPTIME_MS LOG_MAX LOG_KEEP
#       STOP_SIGNAL STOP_TIMEOUT_MS -- BINARY [ARG]...
# SHELL is the POSIX sh that runs this script, and so also the supervisor (supervise.sh),
# which gets the restart policy, log rotation settings and the stop signal and timeout (for
# what the service leaves in its process group when it ends; this start ends what the last
# run left there the same way before it starts a new run).
# stdin: line 1 the service definition (JSON, stored in DEFFILE), then the service's
# environment as a shell script of `export K='V'` lines (stored next to it, 0600). Secrets
# never travel in argv, and the environment is applied to the service alone.
# Exit codes (read by pidfile.ts):
#   0  started: prints "pid=N started=EPOCH" (adopted=1: a running service whose
#      supervisor was gone is supervised again; restarting=1: it died within the grace
#      period and its restart policy brings it back)
#   10 already running: prints "pid=N"
#   11 exited within the grace period: prints "code=N"
#   12 another provctl holds the service's lock for longer than LOCK_MS
#   13 working directory missing      14 state or log directory not writable
#   15 no way to start a new session (neither setsid nor perl)
#   126 binary not executable         127 binary not found
pidfile=$1 exitfile=$2 statefile=$3 logfile=$4 lockfile=$5 deffile=$6 grace_ms=$7 lock_ms=$8
workdir=$9
shift 9
shell=$1 policy=$2 delay_ms=$3 max_delay_ms=$4 restart_max=$5 window_ms=$6 min_uptime_ms=$7
log_max=$8 log_keep=$9
shift 9
stop_sig=$1 stop_timeout_ms=$2
shift 2
[ "${1:-}" = -- ] && shift
envfile=${deffile%.json}.env
# provctl's state is private (0700 dirs, 0600 files); the service gets the caller's umask.
service_umask=$(umask)
umask 077

# What existed before this start: a start that fails before the service runs leaves the
# state as it found it (a new service leaves nothing behind, a known one keeps its
# stored definition), so `status` and `stop` do not mistake it for a started service.
known=''
[ -e "$deffile" ] && known=1
had_log=''
[ -e "$logfile" ] && had_log=1

for d in "$(dirname -- "$pidfile")" "$(dirname -- "$logfile")" "$(dirname -- "$deffile")" "$(dirname -- "$lockfile")"; do
  mkdir -p -- "$d" 2>/dev/null && [ -w "$d" ] || { echo "dir=$d"; exit 14; }
done
: >> "$logfile" 2>/dev/null || { echo "dir=$logfile"; exit 14; }

take_lock "$lockfile" "$lock_ms" || exit 12

# A running service is not started twice; if its supervisor was killed, a new one adopts
# it (watches it and applies its policy), so there is never a second copy. A supervisor
# waiting to restart the service is ended: this start starts it now.
adopt=''
if load "$pidfile"; then
  case $f_pid in '' | *[!0-9]*) ;; *)
    if alive "$f_pid" "$f_start" "$f_pgid"; then
      svc=$f_pid svc_started=$f_started recorded_sup=$f_sup
      if [ -z "$recorded_sup" ] || { load "$statefile" && sup_alive; }; then
        echo "pid=$svc"
        exit 10
      fi
      adopt=$svc
    fi
    ;;
  esac
fi
if [ -z "$adopt" ] && load "$statefile" && sup_alive; then
  kill -TERM "$f_sup" 2>/dev/null
fi

# refuse CODE [LINE]: undoes what this start wrote, prints LINE, exits with CODE.
newenv=$envfile.new.$$
refuse() {
  rm -f -- "$newenv"
  if [ -z "$known" ]; then
    [ -n "$had_log" ] || [ -s "$logfile" ] || rm -f -- "$logfile"
    rm -f -- "$lockfile"
  fi
  [ -z "${2:-}" ] || echo "$2"
  exit "$1"
}

# Found here, with provctl's PATH: the service's own PATH (its environment, applied just
# before) need not hold the system directories.
if newsession=$(command -v setsid 2>/dev/null); then
  :
elif newsession=$(command -v perl 2>/dev/null); then
  # macOS has no setsid(1); perl's POSIX::setsid does the same.
  newsession="$newsession -MPOSIX=setsid -e setsid();exec(@ARGV)or(exit(127))"
else
  # Without a session of its own the service would share provctl's process group, and
  # stop (which signals the group) could reach the caller: refuse instead.
  refuse 15
fi
IFS= read -r defjson
cat > "$newenv" || refuse 14 "dir=$envfile"

bin=$1
case $bin in
*/*)
  [ -e "$bin" ] || refuse 127
  [ -f "$bin" ] && [ -x "$bin" ] || refuse 126
  ;;
# Looked up with the service's own PATH, as it will be run.
*) (. "$newenv" && command -v -- "$bin" >/dev/null 2>&1) || refuse 127 ;;
esac
if [ -n "$workdir" ]; then
  cd -- "$workdir" 2>/dev/null || refuse 13 "dir=$workdir"
fi

mv -f -- "$newenv" "$envfile" || refuse 14 "dir=$envfile"
printf '%s\n' "$defjson" | write_atomic "$deffile" || refuse 14 "dir=$deffile"

# The supervisor (supervise.sh) runs from a file in provctl's private state dir, so `ps`
# shows "sh .../provctl-supervise.sh PIDFILE ..." rather than the whole script.
supfile="$(dirname -- "$deffile")/provctl-supervise.sh"
cat > "$supfile.tmp.$$" <<'SUPERVISOR' && mv -f -- "$supfile.tmp.$$" "$supfile" || refuse 14 "dir=$supfile"
@COMMON@
@SUPERVISE@
SUPERVISOR

# launch ADOPT: starts the supervisor in a session of its own, its output to the log.
launch() {
  launch_adopt=$1
  shift
  # shellcheck disable=SC2086
  $newsession "$shell" "$supfile" "$pidfile" "$exitfile" "$statefile" "$envfile" "$service_umask" \
    "$logfile" "$lockfile" "$lock_ms" "$newsession" "$policy" "$delay_ms" "$max_delay_ms" \
    "$restart_max" "$window_ms" "$min_uptime_ms" "$log_max" "$log_keep" "$launch_adopt" \
    "$stop_sig" "$stop_timeout_ms" -- "$@" \
    < /dev/null >> "$logfile" 2>&1 9>&- &
}

if [ -n "$adopt" ]; then
  # The running service goes on; its restarts use the definition just stored.
  rm -f -- "$exitfile"
  launch "$adopt" "$@"
  # Until the new supervisor has taken over (up to 5 s).
  i=0
  until { load "$statefile" && sup_alive; } || [ $i -ge 100 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  echo "pid=$adopt started=$svc_started adopted=1"
  exit 0
fi

# What the last run left in its process group is ended before the new run starts, as
# systemd does (its supervisor may have been ended above mid-way through that, or killed
# from outside before its service exited): the new run never runs beside it. Not when its
# supervisor did that already (run_over): the group's ID may belong to others since.
if ! run_over "$pidfile" "$statefile" && load "$pidfile"; then
  case $f_pid in '' | *[!0-9]*) ;; *) end_leftovers "$f_pid" "$f_start" "$f_pgid" "$stop_sig" "$stop_timeout_ms" ;; esac
fi
rm -f -- "$pidfile" "$exitfile" "$statefile"
launch '' "$@"

# Wait (up to 5 s) for the supervisor to record the service.
i=0
while [ ! -e "$pidfile" ] && [ $i -lt 100 ]; do
  sleep 0.05
  i=$((i + 1))
done
[ -e "$pidfile" ] || { echo "reason=no-pidfile"; exit 11; }
load "$pidfile"
pid=$f_pid start=$f_start pgid=$f_pgid started=$f_started

# The grace period: a service that dies at once did not start (unless its restart policy
# brings it back: then it is the supervisor's to restart, and status tells how it goes).
waited=0
while [ "$waited" -lt "$grace_ms" ]; do
  alive "$pid" "$start" "$pgid" || break
  sleep 0.05
  waited=$((waited + 50))
done
if ! alive "$pid" "$start" "$pgid"; then
  i=0
  while [ ! -e "$exitfile" ] && [ $i -lt 40 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  load "$exitfile"
  # As supervise.sh decides: on-failure does not restart a clean end (clean_end).
  case $policy:$f_code in
  always:* | on-failure:[1-9]*)
    if [ "$policy" = always ] || ! clean_end "$f_code"; then
      echo "code=$f_code restarting=1"
      exit 0
    fi
    ;;
  esac
  echo "code=$f_code"
  exit 11
fi
echo "pid=$pid started=$started"
