#!/usr/bin/env bash
# The Asterisk sandbox: a Debian sid chroot (Debian 12 has no asterisk package) that runs one
# or more Asterisk instances, each with its own configuration, ports and run/spool/log dirs.
#
#   sandbox.sh build                    build the chroot if missing (or half built)
#   sandbox.sh agi-venv                 build + a venv inside it with this repo installed
#                                       (for classic process-per-call AGI: hotline-agi)
#   sandbox.sh start NAME CONFDIR [--agi] [--bind DIR]...
#                                       copy a rendered config dir (hotline asterisk
#                                       render) into the chroot as instance NAME
#                                       and start Asterisk; returns once fully booted.
#                                       --agi bind-mounts the repo at /opt/hotline.
#                                       --bind DIR (repeatable) bind-mounts host folder DIR at
#                                       the same absolute path inside the chroot (prompt cache,
#                                       data dir), so Asterisk and classic AGI see its files.
#   sandbox.sh stop NAME                stop that instance (SIGTERM to its pid only) and
#                                       unmount its binds (idempotent)
#   sandbox.sh status [NAME]            "NAME running PID" / "NAME stopped" (exit 0 / 3)
#   sandbox.sh cli NAME CMD...          run an Asterisk CLI command on instance NAME
#   sandbox.sh path                     print the chroot directory
#
# Environment: HOTLINE_SANDBOX_DIR (default ~/.cache/hotline/asterisk-sid).
# Needs root (debootstrap, chroot, mount). Must run as root; everything it starts listens on
# 127.0.0.1 only (see the rendered configuration).
set -euo pipefail

ROOT=${HOTLINE_SANDBOX_DIR:-$HOME/.cache/hotline/asterisk-sid}
ROOT=${ROOT%/}
STATE="$ROOT.state"          # pid files and console logs, outside the chroot
LOCK="$ROOT.lock"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Bump when the package set changes: an older chroot is then rebuilt.
SANDBOX_VERSION=1
MARKER="$ROOT/.hotline-sandbox-ready"
VENV_MARKER="$ROOT/opt/hotline-venv/.hotline-ready"
AGI_DIR=/opt/hotline-agi-bin
PACKAGES="asterisk asterisk-core-sounds-en-gsm python3 python3-venv"
APT_OPTS=(-o Acquire::Check-Valid-Until=false -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false -q)
CHROOT_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
            HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive PIP_CONFIG_FILE=/dev/null
            PIP_DISABLE_PIP_VERSION_CHECK=1)

say() { echo "sandbox: $*" >&2; }
die() { say "error: $*"; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap/chroot/mount)"
}

in_chroot() { chroot "$ROOT" "${CHROOT_ENV[@]}" "$@"; }

valid_name() {
  [[ "$1" =~ ^[A-Za-z0-9_-]+$ ]] || die "bad instance name '$1' (letters, digits, _ and - only)"
}

# The Debian mirror of this host, read from its own apt configuration at run time.
host_mirror() {
  local src=/etc/apt/sources.list.d/debian.sources uri=""
  if [ -r "$src" ]; then
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$src")
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $2 !~ /security/ { print ($2 ~ /^\[/ ? $3 : $2); exit }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "cannot find a Debian mirror in the host's apt configuration"
  echo "$uri"
}

mounted_repo() { mountpoint -q "$ROOT/opt/hotline" 2>/dev/null; }

unmount_repo() {
  if mounted_repo; then umount "$ROOT/opt/hotline" || umount -l "$ROOT/opt/hotline"; fi
}

mount_repo() {
  mkdir -p "$ROOT/opt/hotline"
  mounted_repo || mount --bind "$REPO" "$ROOT/opt/hotline"
}

# --- per-instance bind mounts: host DIR at $ROOT$DIR, listed in $STATE/NAME.binds -------------
bindfile() { echo "$STATE/$1.binds"; }

# Is $1 (an absolute host path) listed by a running instance other than $2?
bind_in_use() {
  local f n
  for f in "$STATE"/*.binds; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .binds)
    [ "$n" = "$2" ] && continue
    running_pid "$n" >/dev/null || continue
    grep -qxF -- "$1" "$f" && return 0
  done
  return 1
}

unmount_binds() {   # unmount_binds NAME: every bind of NAME that no other running instance uses
  local f dir target
  f=$(bindfile "$1")
  [ -f "$f" ] || return 0
  while IFS= read -r dir; do
    [ -n "$dir" ] || continue
    target="$ROOT$dir"
    bind_in_use "$dir" "$1" && continue
    while mountpoint -q "$target" 2>/dev/null; do
      umount "$target" 2>/dev/null || umount -l "$target" || break
    done
  done < <(tac "$f")   # last mounted first (a bind below another one)
  rm -f "$f"
}

mount_binds() {   # mount_binds NAME DIR...: record first, so a failed start still unmounts
  local name=$1 dir target
  shift
  : >"$(bindfile "$name")"
  for dir in "$@"; do echo "$dir" >>"$(bindfile "$name")"; done
  for dir in "$@"; do
    target="$ROOT$dir"
    mkdir -p "$target"
    mountpoint -q "$target" || mount --bind "$dir" "$target" \
      || { unmount_binds "$name"; die "cannot bind-mount $dir into the chroot"; }
  done
}

# Any mount below the chroot (binds, the repo)? A rebuild must never rm -rf through one.
mounts_below_root() { awk -v r="$ROOT/" 'index($2 "/", r) == 1 { print $2 }' /proc/self/mounts; }

built() {
  [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$SANDBOX_VERSION" ]
}

do_build() {
  need_root
  command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
  if built; then say "chroot ready at $ROOT"; return 0; fi
  if [ -e "$ROOT" ]; then
    say "removing a half-built or outdated chroot at $ROOT"
    any_running && die "instances still running from $ROOT; stop them first"
    unmount_repo
    [ -z "$(mounts_below_root)" ] || die "folders still mounted below $ROOT: $(mounts_below_root | tr '\n' ' ')"
    rm -rf --one-file-system "$ROOT"
  fi
  local mirror t0=$SECONDS
  mirror=$(host_mirror)
  mkdir -p "$(dirname "$ROOT")"
  say "debootstrap sid (minbase) into $ROOT from the host's mirror"
  debootstrap --variant=minbase sid "$ROOT" "$mirror" >"$ROOT.debootstrap.log" 2>&1 \
    || { tail -20 "$ROOT.debootstrap.log" >&2; die "debootstrap failed (log: $ROOT.debootstrap.log)"; }
  say "debootstrap done in $((SECONDS - t0)) s"
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  say "apt-get install $PACKAGES"
  in_chroot apt-get "${APT_OPTS[@]}" update >"$ROOT.apt.log" 2>&1 \
    || { tail -20 "$ROOT.apt.log" >&2; die "apt-get update failed"; }
  # shellcheck disable=SC2086
  in_chroot apt-get "${APT_OPTS[@]}" install -y $PACKAGES >>"$ROOT.apt.log" 2>&1 \
    || { tail -20 "$ROOT.apt.log" >&2; die "apt-get install failed (log: $ROOT.apt.log)"; }
  in_chroot apt-get clean
  rm -rf "$ROOT"/var/lib/apt/lists/*
  printf '127.0.0.1 localhost %s\n::1 localhost\n' "$(hostname)" >"$ROOT/etc/hosts"
  mkdir -p "$ROOT/run/asterisk" "$ROOT/instances" "$ROOT/opt/hotline" "$ROOT$AGI_DIR"
  write_agi_wrapper
  echo "$SANDBOX_VERSION" >"$MARKER"   # written last: its presence means "complete"
  say "chroot ready at $ROOT in $((SECONDS - t0)) s ($(du -sh "$ROOT" | cut -f1))"
}

write_agi_wrapper() {
  mkdir -p "$ROOT$AGI_DIR"
  cat >"$ROOT$AGI_DIR/hotline-agi" <<'EOF'
#!/bin/sh
# Classic AGI entry: Asterisk starts this per call; it runs Hotline's hotline-agi console
# script from the venv that `sandbox.sh agi-venv` built inside this chroot.
exec /opt/hotline-venv/bin/hotline-agi "$@"
EOF
  chmod 755 "$ROOT$AGI_DIR/hotline-agi"
}

do_agi_venv() {
  do_build
  # The marker holds a hash of setup.cfg: a change of the repo's dependencies rebuilds the venv.
  local want
  want=$(sha256sum "$REPO/setup.cfg" | cut -c1-16)
  if [ -f "$VENV_MARKER" ] && [ "$(cat "$VENV_MARKER")" = "$want" ]; then
    say "AGI venv ready"; return 0
  fi
  local t0=$SECONDS
  mount_repo
  say "creating /opt/hotline-venv in the chroot and installing the repo (pip, default index)"
  rm -rf "$ROOT/opt/hotline-venv"
  in_chroot python3 -m venv /opt/hotline-venv
  # No host pip.conf in the chroot: pip's default index, with the chroot's clean environment.
  # The chroot trusts what the host trusts (its CA bundle, e.g. a site TLS proxy's CA).
  local cert=() host_ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
  if [ -r "$host_ca" ]; then
    mkdir -p "$ROOT/etc/ssl/certs"
    cp -L "$host_ca" "$ROOT/etc/ssl/certs/host-ca-certificates.crt"
    cert=(--cert /etc/ssl/certs/host-ca-certificates.crt)
  fi
  if ! in_chroot /opt/hotline-venv/bin/pip install -q "${cert[@]}" -e /opt/hotline >"$ROOT.pip.log" 2>&1; then
    any_running || unmount_repo
    tail -20 "$ROOT.pip.log" >&2
    die "pip install in the chroot failed (log: $ROOT.pip.log)"
  fi
  any_running || unmount_repo
  write_agi_wrapper
  echo "$want" > "$VENV_MARKER"
  say "AGI venv ready in $((SECONDS - t0)) s"
}

pidfile() { echo "$STATE/$1.pid"; }

running_pid() {   # prints the pid of instance $1 if it is alive
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # The pid must still be an asterisk process (pids are reused).
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "asterisk" ] || return 1
  echo "$pid"
}

any_running() {
  local f
  for f in "$STATE"/*.pid; do
    [ -e "$f" ] || continue
    running_pid "$(basename "$f" .pid)" >/dev/null && return 0
  done
  return 1
}

astconf() { echo "/instances/$1/etc/asterisk.conf"; }

cli() {   # cli NAME CMD
  in_chroot asterisk -C "$(astconf "$1")" -rx "$2"
}

do_start() {
  need_root
  local name=${1:-} confdir=${2:-} agi=no binds=() dir
  [ -n "$name" ] && [ -n "$confdir" ] || die "usage: start NAME CONFDIR [--agi] [--bind DIR]..."
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --agi) agi=yes; shift ;;
      --bind)
        [ $# -ge 2 ] || die "--bind needs a folder"
        dir=$2; shift 2
        case "$dir" in /*) ;; *) die "--bind $dir: give an absolute path" ;; esac
        [[ "$dir" != *$'\n'* ]] || die "--bind: bad folder name"
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd -P)
        [ "$dir" != / ] || die "--bind /: refusing to mount the whole host"
        case "$dir" in "$ROOT"|"$ROOT"/*) die "--bind $dir: already inside the chroot" ;; esac
        binds+=("$dir") ;;
      *) die "start: unknown option $1" ;;
    esac
  done
  valid_name "$name"
  [ -f "$confdir/asterisk.conf" ] || die "$confdir has no asterisk.conf (render it first)"
  grep -q "^astetcdir => /instances/$name/etc\$" "$confdir/asterisk.conf" \
    || die "$confdir/asterisk.conf was not rendered for instance $name (render --instance $name)"
  built || die "no sandbox chroot at $ROOT (run: $0 build)"
  if pid=$(running_pid "$name"); then die "instance $name already running (pid $pid)"; fi
  local inst="$ROOT/instances/$name" t0
  t0=$(date +%s%N)
  rm -rf "$inst/etc" "$inst/run"
  mkdir -p "$inst/etc" "$inst/run" "$inst/spool" "$inst/log" "$inst/lib" "$STATE"
  cp -r "$confdir"/. "$inst/etc/"
  unmount_binds "$name"   # left over by a crashed run of this instance
  mount_binds "$name" ${binds[@]+"${binds[@]}"}
  if [ "$agi" = yes ]; then mount_repo; fi
  write_agi_wrapper
  local console="$STATE/$name.console.log"
  # exec chain: the pid we record is Asterisk's own (setsid and chroot exec it). Its own
  # session, as the daemon it normally is (Asterisk without -f forks into a new session):
  # with the kernel's autogroup scheduling the CPU is then shared per service, not per
  # thread, so under load Asterisk's hundreds of channel threads do not out-vote a
  # one-reactor FastAGI server started from the same shell.
  setsid chroot "$ROOT" "${CHROOT_ENV[@]}" asterisk -f -q -n -C "$(astconf "$name")" \
    </dev/null >"$console" 2>&1 &
  local pid=$!
  echo "$pid" >"$(pidfile "$name")"
  local deadline=$((SECONDS + 60))
  until cli "$name" "core waitfullybooted" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pidfile "$name")"
      unmount_binds "$name"
      any_running || unmount_repo
      tail -20 "$console" >&2
      die "asterisk instance $name exited during start (console: $console)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      do_stop "$name"
      die "asterisk instance $name did not boot within 60 s"
    fi
    sleep 0.1
  done
  say "instance $name running (pid $pid), booted in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

do_stop() {
  need_root
  local name=${1:-} pid
  [ -n "$name" ] || die "usage: stop NAME"
  valid_name "$name"
  if pid=$(running_pid "$name"); then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "instance $name ignored SIGTERM; SIGKILL"; kill -KILL "$pid"; fi
    say "instance $name stopped"
  else
    say "instance $name not running"
  fi
  rm -f "$(pidfile "$name")"
  unmount_binds "$name"
  any_running || unmount_repo
}

do_status() {
  local names=() rc=0 n pid
  if [ -n "${1:-}" ]; then names=("$1"); else
    for f in "$STATE"/*.pid; do [ -e "$f" ] && names+=("$(basename "$f" .pid)"); done
  fi
  built && echo "chroot $ROOT ready" || { echo "chroot $ROOT missing"; rc=3; }
  for n in "${names[@]}"; do
    if pid=$(running_pid "$n"); then echo "$n running $pid"; else echo "$n stopped"; rc=3; fi
  done
  return $rc
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    build) mkdir -p "$(dirname "$ROOT")"; ( flock 9; do_build ) 9>"$LOCK" ;;
    agi-venv) mkdir -p "$(dirname "$ROOT")"; ( flock 9; do_agi_venv ) 9>"$LOCK" ;;
    start) do_start "$@" ;;
    stop) do_stop "$@" ;;
    status) do_status "$@" ;;
    cli)
      [ $# -ge 2 ] || die "usage: cli NAME CMD..."
      local name=$1; shift
      valid_name "$name"
      cli "$name" "$*" ;;
    path) echo "$ROOT" ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
}

main "$@"
