#!/bin/sh
# netmend launcher for /usr/bin/tailscale and /usr/bin/tailscaled on low-flash OpenWrt routers.
# The real binaries do not fit in flash: on first use after boot this downloads the pinned build
# into RAM (/tmp), verifies it, unpacks only the two binaries and execs the one it stands for.
# The installer writes the settings block below; everything after it is this file verbatim.
# --- settings ---
NETMEND_ROOT=''
TS_VERSION='0.0.0'
TS_ARCH='unknown'
TS_BASE_URL='https://pkgs.tailscale.com/stable'
TS_PINNED_SHA256=''
# --- end settings ---

# Tunables a user may set in the environment (procd `env`), with the defaults used on routers.
: "${TS_FETCH_TIMEOUT:=30}"
# How long one start keeps retrying while the WAN is not up yet; procd respawns it after that.
: "${TS_FETCH_WAIT:=300}"
: "${TS_RETRY_DELAY:=5}"
# Free space needed before the first download of a version: the tarball plus both unpacked
# binaries. Replaced by the measured figure once a download of that version has succeeded.
: "${TS_BUILD_KB:=51200}"
# RAM left for the daemon itself once the build sits in tmpfs (which is RAM too).
: "${TS_MEM_MARGIN_KB:=16384}"

role=${0##*/}
case $role in
  tailscale|tailscaled) ;;
  *) role=tailscaled ;;
esac
tmp_dir="$NETMEND_ROOT/tmp"
run_dir="$tmp_dir/tailscale-$TS_VERSION"
state_dir="$NETMEND_ROOT/etc/tailscale"
lock_dir="$tmp_dir/.tailscale-$TS_VERSION.lock"
build_name="tailscale_${TS_VERSION}_${TS_ARCH}"
work_dir=''

say() {
  # $1: syslog priority, $2: message. Goes to the system log and to stderr (procd captures it).
  logger -t netmend-tailscale -p "daemon.$1" "$2" 2>/dev/null
  echo "netmend-tailscale: $2" >&2
}

cleanup() {
  [ -n "$work_dir" ] && rm -rf "$work_dir"
  if [ -f "$lock_dir/pid" ] && [ "$(cat "$lock_dir/pid" 2>/dev/null)" = "$$" ]; then
    rm -rf "$lock_dir"
  fi
  work_dir=''
}

have_build() {
  [ -x "$run_dir/tailscale" ] && [ -x "$run_dir/tailscaled" ]
}

# mkdir is atomic everywhere (busybox builds may lack flock): the first caller downloads, the
# others wait for it. A lock left by a process that died is taken over.
take_lock() {
  while :; do
    if mkdir "$lock_dir" 2>/dev/null; then
      echo "$$" > "$lock_dir/pid"
      return 0
    fi
    holder=$(cat "$lock_dir/pid" 2>/dev/null)
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
      rm -rf "$lock_dir"
      continue
    fi
    have_build && return 1
    sleep 1
  done
}

preflight() {
  need_kb=$TS_BUILD_KB
  measured=$(cat "$state_dir/netmend-build-$TS_VERSION-$TS_ARCH.kb" 2>/dev/null)
  case $measured in
    ''|*[!0-9]*) ;;
    *) need_kb=$measured ;;
  esac
  tmp_free_kb=$(df -Pk "$tmp_dir" 2>/dev/null | awk 'NR == 2 { print $4 }')
  mem_kb=$(awk '/^MemAvailable:/ { print $2; found = 1 } END { if (!found) print "" }' "$NETMEND_ROOT/proc/meminfo" 2>/dev/null)
  if [ -z "$mem_kb" ]; then
    # Kernels before 3.14 have no MemAvailable.
    mem_kb=$(awk '/^(MemFree|Cached):/ { sum += $2 } END { print sum + 0 }' "$NETMEND_ROOT/proc/meminfo" 2>/dev/null)
  fi
  if [ -z "$tmp_free_kb" ] || [ "$tmp_free_kb" -lt $((need_kb + 1024)) ]; then
    say err "not downloading tailscale $TS_VERSION: $tmp_dir has ${tmp_free_kb:-unknown} KB free, the build needs $((need_kb + 1024)) KB"
    return 1
  fi
  if [ -z "$mem_kb" ] || [ "$mem_kb" -lt $((need_kb + TS_MEM_MARGIN_KB)) ]; then
    say err "not downloading tailscale $TS_VERSION: MemAvailable is ${mem_kb:-unknown} KB, the build needs $need_kb KB in RAM plus $TS_MEM_MARGIN_KB KB for the daemon"
    return 1
  fi
  return 0
}

# @@FETCH_FUNCTIONS@@

# Retries while the mirror is unreachable or answers with a passing error (a WAN that comes up
# late, a 503), with a growing delay. A 404 is not retried: that build is not there.
fetch_retrying() {
  waited=0
  delay=$TS_RETRY_DELAY
  while :; do
    why=$(fetch "$1" "$2" "$TS_FETCH_TIMEOUT")
    case $?:$why in
      0:*) return 0 ;;
      '2:HTTP 404')
        say err "the mirror has no tailscale $TS_VERSION build for $TS_ARCH: $1 (HTTP 404)"
        return 1
        ;;
    esac
    if [ "$waited" -ge "$TS_FETCH_WAIT" ]; then
      say err "cannot download $1: $why (gave up after ${waited}s; procd will start this again)"
      return 1
    fi
    say warning "cannot download $1 yet; retrying in ${delay}s ($why)"
    sleep "$delay"
    waited=$((waited + delay))
    delay=$((delay * 2))
    [ "$delay" -gt 60 ] && delay=60
  done
}

download() {
  url="$TS_BASE_URL/$build_name.tgz"
  preflight || return 3
  work_dir="$tmp_dir/.tailscale-$TS_VERSION.partial.$$"
  rm -rf "$work_dir"
  mkdir -p "$work_dir/unpack" || return 1
  fetch_retrying "$url.sha256" "$work_dir/build.sha256" || return 1
  expected=$(awk 'NR == 1 { print tolower($1) }' "$work_dir/build.sha256")
  case $expected in
    *[!0-9a-f]*|'') say err "refusing tailscale $TS_VERSION: $url.sha256 does not hold a SHA-256 digest"; return 2 ;;
  esac
  if [ "${#expected}" -ne 64 ]; then
    say err "refusing tailscale $TS_VERSION: $url.sha256 does not hold a SHA-256 digest"
    return 2
  fi
  if [ -n "$TS_PINNED_SHA256" ] && [ "$expected" != "$TS_PINNED_SHA256" ]; then
    say err "refusing tailscale $TS_VERSION: the mirror's checksum $expected is not the one pinned at install time ($TS_PINNED_SHA256)"
    return 2
  fi
  fetch_retrying "$url" "$work_dir/build.tgz.partial" || return 1
  actual=$(sha256sum "$work_dir/build.tgz.partial" | awk '{ print $1 }')
  if [ "$actual" != "$expected" ]; then
    say err "refusing tailscale $TS_VERSION: checksum mismatch for $url (got $actual, expected $expected)"
    return 2
  fi
  if ! tar -xzf "$work_dir/build.tgz.partial" -C "$work_dir/unpack" "$build_name/tailscale" "$build_name/tailscaled"; then
    say err "refusing tailscale $TS_VERSION: $url does not contain $build_name/tailscale and tailscaled"
    return 2
  fi
  used_kb=$(du -sk "$work_dir" | awk '{ print $1 }')
  mkdir -p "$run_dir" || return 1
  chmod 755 "$work_dir/unpack/$build_name/tailscale" "$work_dir/unpack/$build_name/tailscaled"
  # Same filesystem: each mv is a rename, so a binary is either absent or whole.
  mv -f "$work_dir/unpack/$build_name/tailscale" "$run_dir/tailscale" || return 1
  mv -f "$work_dir/unpack/$build_name/tailscaled" "$run_dir/tailscaled" || return 1
  size_file="$state_dir/netmend-build-$TS_VERSION-$TS_ARCH.kb"
  # Written once per version (flash wears), so the next boot's pre-flight uses the real size.
  if [ -d "$state_dir" ] && [ "$(cat "$size_file" 2>/dev/null)" != "$used_kb" ]; then
    echo "$used_kb" > "$size_file.tmp" && mv -f "$size_file.tmp" "$size_file"
  fi
  say info "tailscale $TS_VERSION ($TS_ARCH) downloaded into $run_dir, checksum verified"
  return 0
}

if ! have_build; then
  trap 'cleanup' EXIT
  trap 'cleanup; exit 130' INT
  trap 'cleanup; exit 143' TERM
  if take_lock; then
    if ! have_build; then
      download
      status=$?
      if [ "$status" -ne 0 ]; then
        cleanup
        exit 1
      fi
    fi
  fi
  cleanup
  trap - EXIT INT TERM
  if ! have_build; then
    say err "tailscale $TS_VERSION is not available in $run_dir"
    exit 1
  fi
fi
exec "$run_dir/$role" "$@"
