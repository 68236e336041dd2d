# Shared helpers of the pidfile backend's scripts (POSIX sh; Linux and macOS).
# Arguments always arrive as positional parameters, never spliced into this text.
# The helpers avoid subshells and external programs where the shell can do the work:
# `provctl status` runs one of these scripts, and every fork is start-up time.

# ident PID: sets p_state, p_pgid, p_start of a live process, or fails when there is none.
# p_start is /proc/PID/stat field 22 (start time in clock ticks since boot) on Linux and
# `ps -o lstart` elsewhere: with the PID it identifies one process over time, so a
# reused PID is never mistaken for the service. (_pidfile/local_status.ts does the same
# in-process for `status` on this machine: keep the two alike.)
ident() {
  if [ -d /proc/self ]; then
    # The whole file: the command name (field 2, in parentheses) may hold spaces, ")" and
    # even newlines, so the fields are those after its last ") ".
    s=''
    { while IFS= read -r l; do s="$s$l "; done < "/proc/$1/stat"; } 2>/dev/null || return 1
    [ -n "$s" ] || return 1
    s=${s##*) }
    set -f
    # shellcheck disable=SC2086
    set -- $s
    set +f
    p_state=$1 p_pgid=$3 p_start=${20}
  else
    line=$(ps -o stat= -o pgid= -p "$1" 2>/dev/null) || return 1
    [ -n "$line" ] || return 1
    set -f
    # shellcheck disable=SC2086
    set -- $line
    set +f
    p_state=$1 p_pgid=$2
    p_start=$(ps -o lstart= -p "$1" 2>/dev/null | tr ' ' '_')
  fi
}

# alive PID START PGID: the process exists, is not a zombie, and is the one recorded.
alive() {
  ident "$1" || return 1
  case $p_state in Z* | X*) return 1 ;; esac
  [ "$p_start" = "$2" ] && [ "$p_pgid" = "$3" ]
}

# group_alive PID START PGID: the service, or a process it left in its group, is still
# there. Zombies do not count: an orphan's zombie lingers until init reaps it, which may
# take a while.
group_alive() {
  alive "$1" "$2" "$3" && return 0
  kill -0 "-$3" 2>/dev/null || return 1
  ps -A -o pgid= -o stat= 2>/dev/null |
    awk -v g="$3" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# leftovers PID START PGID: the main process is gone but processes it started are still in
# its group (a wrapper that exited, a crashed main): they are the service's, as long as no
# other process holds the PID (while the group lives, the kernel gives its ID to no new
# process).
leftovers() {
  if ident "$3"; then [ "$p_start" = "$2" ] || return 1; fi
  group_alive "$1" "$2" "$3"
}

# end_leftovers PID START PGID SIG TIMEOUT_MS: ends what a run whose main process is gone
# left in its process group (workers, a child still holding its port), as stop and
# systemd's KillMode=control-group do: SIG, then SIGKILL after TIMEOUT_MS, then up to 5 s
# more for the kernel to end them (whatever comes next may need what they held). The
# group is signalled only while no other process holds its ID (leftovers), and never when
# it is the caller's own process or group (nor 0 or 1, which kill reads as every process).
end_leftovers() {
  case $3 in '' | 0 | 1 | *[!0-9]*) return 0 ;; esac
  [ "$3" != "$$" ] || return 0
  ident $$ && [ "$3" != "$p_pgid" ] || return 0
  leftovers "$1" "$2" "$3" || return 0
  kill "-$4" "-$3" 2>/dev/null
  el_waited=0
  while leftovers "$1" "$2" "$3"; do
    if [ "$el_waited" -ge "$5" ]; then
      kill -KILL "-$3" 2>/dev/null
      el_waited=0
      while leftovers "$1" "$2" "$3" && [ $el_waited -lt 5000 ]; do
        sleep 0.05
        el_waited=$((el_waited + 50))
      done
      return 0
    fi
    sleep 0.05
    el_waited=$((el_waited + 50))
  done
}

# clean_end CODE: how a run that ended with CODE (as `wait` gives it) ends under
# restart=on-failure without a restart, as systemd's: exit 0, or death by SIGHUP, SIGINT,
# SIGPIPE or SIGTERM (an operator's kill, a shutdown). `wait` gives 128+N both for death by
# signal N and for exit(128+N): a service's own exit 143 counts as SIGTERM here.
clean_end() {
  case $1 in 0 | 129 | 130 | 141 | 143) return 0 ;; esac
  return 1
}

# run_over PIDFILE STATEFILE: the supervisor of the run PIDFILE records has ended what that
# run left in its process group (its state says done, failed or backoff, each written only
# after end_leftovers): the group's ID is then no longer the service's, and a group that
# has it now (the PID reused, say by a daemon whose leader exited) is someone else's.
# Clobbers the f_* of load.
run_over() {
  load "$1" || return 1
  ro_sup=$f_sup ro_sup_start=$f_sup_start
  load "$2" && [ -n "$ro_sup" ] && [ "$f_sup" = "$ro_sup" ] && [ "$f_sup_start" = "$ro_sup_start" ] ||
    return 1
  case $f_phase in done | failed | backoff) return 0 ;; esac
  return 1
}

# load FILE: sets f_pid f_pgid f_start f_started f_code f_at f_sup f_sup_start from a PID
# or exit file, and f_phase f_restarts f_last_exit f_last_restart_at f_next_restart_at
# f_reason from a supervision state file (KEY=VALUE lines); unknown keys are ignored,
# missing ones are empty. Fails, with all empty, unless FILE is a readable regular file;
# a symbolic link is never read through. (_pidfile/local_status.ts reads these files the
# same way in-process: keep the two alike.)
load() {
  f_pid='' f_pgid='' f_start='' f_started='' f_code='' f_at='' f_sup='' f_sup_start=''
  f_phase='' f_restarts='' f_last_exit='' f_last_restart_at='' f_next_restart_at='' f_reason=''
  [ -f "$1" ] && [ -r "$1" ] && ! [ -L "$1" ] || return 1
  while IFS='=' read -r k v || [ -n "$k" ]; do
    case $k in
    pid) f_pid=$v ;;
    pgid) f_pgid=$v ;;
    start) f_start=$v ;;
    started) f_started=$v ;;
    code) f_code=$v ;;
    at) f_at=$v ;;
    sup) f_sup=$v ;;
    sup_start) f_sup_start=$v ;;
    phase) f_phase=$v ;;
    restarts) f_restarts=$v ;;
    last_exit) f_last_exit=$v ;;
    last_restart_at) f_last_restart_at=$v ;;
    next_restart_at) f_next_restart_at=$v ;;
    reason) f_reason=$v ;;
    esac
  done < "$1"
}

# sup_alive: the supervisor recorded in the loaded state file is still running (same PID,
# start time; it leads its own process group).
sup_alive() {
  case $f_sup in '' | *[!0-9]*) return 1 ;; esac
  alive "$f_sup" "$f_sup_start" "$f_sup"
}

# write_atomic FILE: stdin to FILE through a temp name and a rename.
write_atomic() {
  cat > "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"
}

now_s() {
  date +%s
}

# take_lock LOCKFILE MS: one provctl at a time per service. flock(1) where it exists
# (fd 9; the kernel releases the lock if we die); otherwise an atomic mkdir lock holding
# our PID, broken when its holder is gone. Fails after MS milliseconds.
take_lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>> "$1"
    flock -w "$(( ($2 + 999) / 1000 ))" 9
    return
  fi
  lock_waited=0
  until mkdir -- "$1.d" 2>/dev/null; do
    holder=$(cat "$1.d/pid" 2>/dev/null)
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
      rm -rf -- "$1.d"
      continue
    fi
    [ "$lock_waited" -ge "$2" ] && return 1
    sleep 0.05
    lock_waited=$((lock_waited + 50))
  done
  echo $$ > "$1.d/pid"
  lock_dir=$1.d
  trap '[ -z "${lock_dir:-}" ] || rm -rf -- "$lock_dir"' EXIT
}

# release_lock: gives up what take_lock took (for the supervisor, which lives on).
release_lock() {
  if [ -n "${lock_dir:-}" ]; then
    rm -rf -- "$lock_dir"
    lock_dir=''
  else
    exec 9>&-
  fi
}

# seconds MS: MS milliseconds as sleep(1) takes them (fractions work in GNU, busybox, BSD).
seconds() {
  printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# remove_if_same FILE PID START: removes a PID file only if it still records that
# process, so a file just written by a concurrent start is never deleted.
remove_if_same() {
  load "$1" && [ "$f_pid" = "$2" ] && [ "$f_start" = "$3" ] && rm -f -- "$1"
  return 0
}
