# start PIDFILE EXITFILE LOGFILE LOCKFILE DEFFILE GRACE_MS LOCK_MS WORKDIR DEFJSON NENV [K=V]... BINARY [ARG]...
# Exit codes (read by pidfile.ts):
#   0  started: prints "pid=N started=EPOCH"
#   10 already running: prints "pid=N"
#   11 exited within the grace period: prints "code=N"
#   12 another provctl holds the service's lock for longer than LOCK_MS
#   13 working directory missing      14 state or log directory not writable
#   126 binary not executable         127 binary not found
pidfile=$1 exitfile=$2 logfile=$3 lockfile=$4 deffile=$5 grace_ms=$6 lock_ms=$7 workdir=$8 defjson=$9
nenv=${10}
shift 10

for d in "$(dirname -- "$pidfile")" "$(dirname -- "$logfile")" "$(dirname -- "$deffile")" "$(dirname -- "$lockfile")"; do
  mkdir -p -- "$d" 2>/dev/null && [ -w "$d" ] || { echo "dir=$d"; exit 14; }
done
: >> "$logfile" 2>/dev/null || { echo "dir=$logfile"; exit 14; }

# One provctl at a time per service: flock(1) where it exists (the kernel releases the
# lock if we die); otherwise an atomic mkdir lock holding our PID, broken when stale.
if command -v flock >/dev/null 2>&1; then
  exec 9>> "$lockfile"
  flock -w "$(( (lock_ms + 999) / 1000 ))" 9 || exit 12
else
  waited=0
  until mkdir -- "$lockfile.d" 2>/dev/null; do
    holder=$(cat "$lockfile.d/pid" 2>/dev/null)
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
      rm -rf -- "$lockfile.d"
      continue
    fi
    [ "$waited" -ge "$lock_ms" ] && exit 12
    sleep 0.05
    waited=$((waited + 50))
  done
  echo $$ > "$lockfile.d/pid"
  trap 'rm -rf -- "$lockfile.d"' EXIT
fi

if load "$pidfile"; then
  case $f_pid in '' | *[!0-9]*) ;; *)
    if alive "$f_pid" "$f_start" "$f_pgid"; then
      echo "pid=$f_pid"
      exit 10
    fi
    ;;
  esac
fi

i=0
while [ $i -lt "$nenv" ]; do
  export "$1"
  shift
  i=$((i + 1))
done
bin=$1
case $bin in
*/*)
  [ -e "$bin" ] || exit 127
  [ -f "$bin" ] && [ -x "$bin" ] || exit 126
  ;;
*) command -v -- "$bin" >/dev/null 2>&1 || exit 127 ;;
esac
if [ -n "$workdir" ]; then
  cd -- "$workdir" 2>/dev/null || { echo "dir=$workdir"; exit 13; }
fi

printf '%s\n' "$defjson" | write_atomic "$deffile"
rm -f -- "$pidfile" "$exitfile"

# The supervisor: a shell in a new session (so the service has its own process group
# and no controlling terminal) that starts the service, records its identity in the
# PID file, waits for it, and records how it ended. A non-interactive shell starts
# background jobs with SIGINT/SIGQUIT ignored; GNU env --default-signal undoes that.
supervise='
pidfile=$1 exitfile=$2
shift 2
if env --default-signal=INT,QUIT true 2>/dev/null; then
  env --default-signal=INT,QUIT "$@" &
else
  "$@" &
fi
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
if command -v setsid >/dev/null 2>&1; then
  newsession=setsid
elif command -v perl >/dev/null 2>&1; then
  # macOS has no setsid(1); perl's POSIX::setsid does the same.
  newsession="perl -MPOSIX=setsid -e setsid();exec(@ARGV)or(exit(127))"
else
  newsession=""
fi
# The supervisor runs from a file next to the PID files, so `ps` shows
# "sh .../provctl-supervise.sh PIDFILE EXITFILE CMD..." rather than the whole script.
supfile="$(dirname -- "$pidfile")/provctl-supervise.sh"
printf '%s\n%s\n' "$helpers" "$supervise" | write_atomic "$supfile"
# shellcheck disable=SC2086
$newsession /bin/sh "$supfile" "$pidfile" "$exitfile" "$@" < /dev/null >> "$logfile" 2>&1 9>&- &

# Wait (up to 5 s) for the supervisor to record the service.
i=0
while [ ! -e "$pidfile" ] && [ $i -lt 100 ]; do
  sleep 0.05
  i=$((i + 1))
done
[ -e "$pidfile" ] || { echo "reason=no-pidfile"; exit 11; }
load "$pidfile"
pid=$f_pid start=$f_start pgid=$f_pgid

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
echo "pid=$pid started=$f_started"
