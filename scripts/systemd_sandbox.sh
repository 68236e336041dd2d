#!/bin/bash
# Runs a REAL systemd as PID 1 of new pid+mount+uts namespaces on a Linux machine whose
# PID 1 is not systemd (CI containers, VMs without systemd), so provctl's systemd backend
# is tested against the real systemctl/journalctl. Needs root, util-linux (unshare,
# nsenter) and the `systemd` package (/lib/systemd/systemd). Usable in about a second.
#
#   scripts/systemd_sandbox.sh start        # boots it, prints state=running (exit 1 otherwise)
#   scripts/systemd_sandbox.sh run CMD...   # runs CMD inside (systemctl needs both -m and -p)
#   scripts/systemd_sandbox.sh status       # prints the sandbox's PID 1 as seen from here, or exits 3
#   scripts/systemd_sandbox.sh stop         # SIGRTMIN+3 (systemd's "halt"), waits, removes its cgroups
#
# Environment: PROVCTL_SANDBOX_DIR (state dir, default /tmp/provctl-systemd-sandbox),
# PROVCTL_SANDBOX_CGROUP (name of its cgroup in every hierarchy, default provctl-sdns).
# Two sandboxes need two different dirs AND cgroup names; a second start on the same dir
# is refused.
#
# Facts learned the hard way (keep them):
# - a private tmpfs over /sys/fs/cgroup is required; without it systemd remounts the
#   machine's cgroup tmpfs read-only and small.
# - systemd-tmpfiles-setup MUST stay masked: its --remove with Debian's "D /tmp" rule
#   would empty the machine's shared /tmp. remount-fs is masked so / is not remounted.
# - /sys and /proc/sys are read-only inside, so PID 1 cannot change host sysctls.
# - refuse to start a second instance.
# - MainPID printed inside is a namespace PID: run the code under test inside
#   (run ...), not a host-side systemctl wrapper.
# - /etc/systemd/system inside is a private copy (tmpfs) of the machine's, so
#   `systemctl enable` symlinks and unit files written there never reach the machine;
#   tests write their units to /run/systemd/system, also private to the sandbox.
# - /tmp and the rest of / are the machine's own: services started inside see them.
# - there is no D-Bus inside: systemd-run --wait fails; plain systemctl works; there is
#   no user manager (systemctl --user fails with "Failed to connect to bus").
# - the shell is first moved to a cgroup of its own in every hierarchy but cpuset.
# - nsenter does not forward signals to the program it forked: to stop a program run
#   inside, signal that program (a child of nsenter), not nsenter.
set -u
S=${PROVCTL_SANDBOX_DIR:-/tmp/provctl-systemd-sandbox}
CG=${PROVCTL_SANDBOX_CGROUP:-provctl-sdns}

die() { echo "systemd_sandbox: $*" >&2; exit 1; }

# The PID (host view) of the sandbox's systemd, if it is alive and still systemd.
sandbox_pid() {
  local p
  [ -f "$S/ns.pid" ] || return 1
  p=$(cat "$S/ns.pid") || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = systemd ] || return 1
  echo "$p"
}

preflight() {
  [ "$(uname -s)" = Linux ] || die "needs Linux"
  [ "$(id -u)" = 0 ] || die "needs root (it creates namespaces and cgroups)"
  for b in unshare nsenter pgrep; do command -v $b >/dev/null || die "$b not found (apt-get install util-linux procps)"; done
  [ -x /lib/systemd/systemd ] || die "/lib/systemd/systemd not found (apt-get install systemd)"
  case $CG in *[!A-Za-z0-9_.-]*|'') die "bad PROVCTL_SANDBOX_CGROUP '$CG'";; esac
}

case ${1:-} in
start) preflight
  sandbox_pid >/dev/null && { echo "already running (PID $(cat "$S/ns.pid")); refusing a second instance in $S" >&2; exit 1; }
  [ -f "$S/unshare.pid" ] && kill -0 "$(cat "$S/unshare.pid")" 2>/dev/null && die "a previous start in $S is still alive; run stop first"
  mkdir -p "$S/cg"; : > "$S/console"
  ( for h in /sys/fs/cgroup/*/; do [ "$h" = /sys/fs/cgroup/cpuset/ ] || { mkdir -p "$h$CG"; echo $BASHPID > "$h$CG/cgroup.procs"; }; done
    exec unshare --pid --fork --mount --uts --propagation private --mount-proc env -i container=other S="$S" \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash -ec '
      mount --rbind /sys/fs/cgroup $S/cg; mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup
      for h in $(ls $S/cg); do if [ -L $S/cg/$h ]; then cp -P $S/cg/$h /sys/fs/cgroup/; else
        mkdir /sys/fs/cgroup/$h; mount --bind $S/cg/$h /sys/fs/cgroup/$h; fi; done; umount -R $S/cg
      mount -o remount,bind,ro /sys; mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
      mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run; mount --bind $S/console /dev/console
      mkdir -p $S/etc-systemd; mount -t tmpfs -o mode=755 tmpfs $S/etc-systemd
      cp -a /etc/systemd/system/. $S/etc-systemd/; mount --bind $S/etc-systemd /etc/systemd/system
      U=/run/systemd/system; mkdir -p $U /run/systemd/journald.conf.d $U/systemd-journald-dev-log.socket.d
      for u in $(ls /lib/systemd/system/sysinit.target.wants /etc/systemd/system/sysinit.target.wants 2>/dev/null) systemd-journald-audit.socket \
          systemd-remount-fs.service tmp.mount systemd-timesyncd.service systemd-networkd.service systemd-logind.service getty.target systemd-tmpfiles-clean.timer \
          systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service
      do case $u in systemd-journald.service|*:) ;; *) ln -sf /dev/null $U/$u;; esac; done
      printf "[Socket]\nSymlinks=\n" > $U/systemd-journald-dev-log.socket.d/no-devlog.conf
      printf "[Journal]\nStorage=volatile\n" > /run/systemd/journald.conf.d/volatile.conf
      printf "[Unit]\nRequires=sysinit.target\nWants=systemd-journald.service\nAfter=sysinit.target systemd-journald.service\n" > $U/ci.target
      exec /lib/systemd/systemd --unit=ci.target' ) </dev/null >"$S/log" 2>&1 &
  echo $! > "$S/unshare.pid"
  P=
  # The child that is systemd: before its exec, $! also forks mkdir (cgroup set-up), and
  # a PID caught then is gone by the time systemctl is asked.
  for _ in $(seq 100); do
    P=$(pgrep -P $! -x systemd) && break; sleep 0.1
  done
  [ -n "$P" ] || { cat "$S/log" >&2; die "systemd did not start (log above)"; }
  echo "$P" > "$S/ns.pid"
  s=
  for _ in $(seq 300); do s=$(nsenter -t "$P" -m -p -u systemctl is-system-running 2>/dev/null); [ "$s" = running ] && break; sleep 0.1; done
  echo "state=$s"; [ "$s" = running ];;
run) shift; P=$(sandbox_pid) || die "not running (start it first)"
  exec nsenter -t "$P" -m -p -u --wd="$PWD" "$@";;
status) P=$(sandbox_pid) || { echo "not running"; exit 3; }; echo "running pid=$P dir=$S";;
stop) [ -f "$S/unshare.pid" ] || { echo "not running"; exit 0; }
  U=$(cat "$S/unshare.pid")
  # Only ever signal the systemd this script started (checked by PID file AND name).
  if P=$(sandbox_pid); then
    kill -s SIGRTMIN+3 "$P"
    for _ in $(seq 100); do kill -0 "$U" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$U" 2>/dev/null && kill -KILL "$P"; sleep 0.3
  fi
  find /sys/fs/cgroup/*/"$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
  rm -rf "$S";;
*) echo "usage: $0 start|run CMD...|status|stop" >&2; exit 2;;
esac
