# Shared helpers of the pidfile backend's scripts (POSIX sh; Linux and macOS).
# Arguments always arrive as positional parameters, never spliced into this text.

# ident PID: prints "STATE PGID START" of a live process, or fails when there is none.
# START is /proc/PID/stat field 22 (start time in clock ticks since boot) on Linux and
# `ps -o lstart` elsewhere: together with the PID it identifies one process over time,
# so a reused PID is never mistaken for the service.
ident() {
  if [ -d /proc/self ]; then
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${s##*) }
    set -f
    # shellcheck disable=SC2086
    set -- $rest
    set +f
    echo "$1 $3 ${20}"
  else
    line=$(ps -o stat= -o pgid= -p "$1" 2>/dev/null) || return 1
    [ -n "$line" ] || return 1
    lt=$(ps -o lstart= -p "$1" 2>/dev/null | tr ' ' '_')
    # shellcheck disable=SC2086
    echo $line "$lt"
  fi
}

# alive PID START PGID: the process exists, is not a zombie, and is the one recorded.
alive() {
  id=$(ident "$1") || return 1
  set -f
  # shellcheck disable=SC2086
  set -- "$2" "$3" $id
  set +f
  case $3 in Z* | X*) return 1 ;; esac
  [ "$5" = "$1" ] && [ "$4" = "$2" ]
}

# field KEY FILE: the value of KEY=... in a PID or exit file.
field() {
  sed -n "s/^$1=//p" "$2" 2>/dev/null | head -n 1
}

# write_atomic FILE: stdin to FILE through a temp name and a rename.
write_atomic() {
  cat > "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"
}

# now_ms: wall clock in milliseconds where date supports it, seconds*1000 otherwise.
now_s() {
  date +%s
}
