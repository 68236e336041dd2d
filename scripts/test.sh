#!/bin/sh
# Runs provctl's whole test suite. On a fresh Debian machine, as root, it first installs
# what the tests drive for real: OpenSSH (sshd fleets on loopback), systemd (run in its
# own namespaces by the systemd tests), python3 (plist checks, HTTP services), the tools
# remote health checks use (curl, wget, netcat, openssl), util-linux, procps, iproute2,
# the shells the PID-file scripts are tested with (dash, busybox sh, bash), strace, PostgreSQL
# (throwaway clusters for the postgres state backend) and Chromium for the dashboard's
# browser tests.
set -eu
cd "$(dirname "$0")/.."

need=""
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v ssh-keyscan >/dev/null 2>&1 || need="$need openssh-client"
[ -x /lib/systemd/systemd ] || need="$need systemd"
command -v python3 >/dev/null 2>&1 || need="$need python3"
command -v nsenter >/dev/null 2>&1 || need="$need util-linux"
command -v ss >/dev/null 2>&1 || need="$need iproute2"
command -v pgrep >/dev/null 2>&1 || need="$need procps"
command -v tar >/dev/null 2>&1 || need="$need tar"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
command -v curl >/dev/null 2>&1 || need="$need curl"
command -v wget >/dev/null 2>&1 || need="$need wget"
command -v nc >/dev/null 2>&1 || need="$need netcat-openbsd"
command -v flock >/dev/null 2>&1 || need="$need util-linux"
command -v busybox >/dev/null 2>&1 || need="$need busybox"
command -v dash >/dev/null 2>&1 || need="$need dash"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
# strace shows that a local `provctl status` starts no process.
command -v strace >/dev/null 2>&1 || need="$need strace"
# script(1) (bsdutils) gives tests a terminal.
command -v script >/dev/null 2>&1 || need="$need bsdutils"
# The dashboard's browser tests drive Debian's Chromium (no browser download).
[ -x /usr/bin/chromium ] || need="$need chromium"
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing test dependencies:$need" >&2
    export DEBIAN_FRONTEND=noninteractive
    # A failed install is reported; the tests that need the tool then fail or skip with
    # their own reason, rather than the whole run stopping here.
    apt-get update -qq >/dev/null || echo "warning: apt-get update failed" >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null ||
      echo "warning: could not install:$need" >&2
  else
    echo "missing test dependencies:$need (tests that need them are skipped)" >&2
  fi
fi
mkdir -p -m 0755 /run/sshd 2>/dev/null || true

exec deno test --allow-all --quiet "$@" tests/
