# start PIDFILE EXITFILE LOGFILE LOCKFILE DEFFILE GRACE_MS LOCK_MS WORKDIR SHELL BINARY [ARG]...
# SHELL is the POSIX sh that runs this script, and so also the supervisor.
# stdin: line 1 the service definition (JSON, stored in DEFFILE), then the service's
# environment as a shell script of `export K='V'` lines (stored next to it, 0600). Secrets
# never travel in argv, and the environment is applied to the service alone.
# Exit codes (read by pidfile.ts):
#   0  started: prints "pid=N started=EPOCH"
#   10 already running: prints "pid=N"
#   11 exited within the grace period: prints "code=N"
#   12 another provctl holds the service's lock for longer than LOCK_MS
#   13 working directory missing      14 state or log directory not writable
#   15 no way to start a new session (neither setsid nor perl)
#   126 binary not executable         127 binary not found
pidfile=$1 exitfile=$2 logfile=$3 lockfile=$4 deffile=$5 grace_ms=$6 lock_ms=$7 workdir=$8
shell=$9
shift 9
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

if load "$pidfile"; then
  case $f_pid in '' | *[!0-9]*) ;; *)
    if alive "$f_pid" "$f_start" "$f_pgid"; then
      echo "pid=$f_pid"
      exit 10
    fi
    ;;
  esac
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

if command -v setsid >/dev/null 2>&1; then
  newsession=setsid
elif command -v perl >/dev/null 2>&1; then
  # macOS has no setsid(1); perl's POSIX::setsid does the same.
  newsession="perl -MPOSIX=setsid -e setsid();exec(@ARGV)or(exit(127))"
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

rm -f -- "$pidfile" "$exitfile"

# The supervisor: a shell in a new session (so the service has its own process group
# and no controlling terminal) that starts the service, records its identity in the
# PID file, waits for it, and records how it ended. A non-interactive shell starts
# background jobs with SIGINT/SIGQUIT ignored; GNU env --default-signal undoes that.
supervise='
pidfile=$1 exitfile=$2 envfile=$3 service_umask=$4
shift 4
if env --default-signal=INT,QUIT true 2>/dev/null; then
  set -- env --default-signal=INT,QUIT "$@"
fi
(umask "$service_umask" && . "$envfile" && exec "$@") &
child=$!
ident "$child" || { p_pgid=- p_start=-; }
printf "pid=%s\npgid=%s\nstart=%s\nstarted=%s\n" "$child" "$p_pgid" "$p_start" "$(now_s)" | write_atomic "$pidfile"
wait "$child"
code=$?
if load "$pidfile" && [ "$f_pid" = "$child" ]; then
  printf "pid=%s\ncode=%s\nat=%s\n" "$child" "$code" "$(now_s)" | write_atomic "$exitfile"
fi'
helpers=$(cat <<'HELPERS'
@COMMON@
HELPERS
)
# The supervisor runs from a file in provctl's private state dir, so `ps` shows
# "sh .../provctl-supervise.sh PIDFILE EXITFILE ... CMD" rather than the whole script.
supfile="$(dirname -- "$deffile")/provctl-supervise.sh"
printf '%s\n%s\n' "$helpers" "$supervise" | write_atomic "$supfile" || { echo "dir=$supfile"; exit 14; }
# shellcheck disable=SC2086
$newsession "$shell" "$supfile" "$pidfile" "$exitfile" "$envfile" "$service_umask" "$@" < /dev/null >> "$logfile" 2>&1 9>&- &

# Wait (up to 5 s) for the supervisor to record the service.
i=0
while [ ! -e "$pidfile" ] && [ $i -lt 100 ]; do
  sleep 0.05
  i=$((i + 1))
done
[ -e "$pidfile" ] || { echo "reason=no-pidfile"; exit 11; }
load "$pidfile"
pid=$f_pid start=$f_start pgid=$f_pgid started=$f_started

# The grace period: a service that dies at once did not start.
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
  echo "code=$f_code"
  exit 11
fi
echo "pid=$pid started=$started"
