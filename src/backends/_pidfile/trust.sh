# The prologue of every pidfile script: its arguments start with CREATE N DIR1 ... DIRN,
# the state directories it uses (CREATE=1: made first, 0700, so none can be slipped in
# between the check and the use). Each that exists must belong to us or root and must not be
# writable by group or others (like OpenSSH's StrictModes), or another user could plant
# a definition that we later run, or a PID file that makes us signal their choice of
# process. Exit 16 with "untrusted=I why=owner|mode" (I: the directory's position).
# Checked without ls: `[ -O ]` for the owner, POSIX find -perm for the mode.
trust_create=$1 trust_n=$2
shift 2
trust_i=0
while [ "$trust_i" -lt "$trust_n" ]; do
  trust_i=$((trust_i + 1))
  [ "$trust_create" = 1 ] && (umask 077 && mkdir -p -- "$1") 2>/dev/null
  if [ -d "$1" ]; then
    if ! [ -O "$1" ] && [ -z "$(find "$1" -prune -user 0 -print 2>/dev/null)" ]; then
      echo "untrusted=$trust_i why=owner"
      exit 16
    fi
    if [ -n "$(find "$1" -prune \( -perm -020 -o -perm -002 \) -print 2>/dev/null)" ]; then
      echo "untrusted=$trust_i why=mode"
      exit 16
    fi
  fi
  shift
done
