#!/bin/sh
# netmend OpenWrt installer: the Tailscale mesh node on low-flash routers, with the build kept
# in RAM. Lays down launchers at /usr/bin/tailscale{,d} that download the pinned build into /tmp
# on first use after boot (SHA-256 verified), a procd service, and the UCI network, firewall and
# dnsmasq settings. POSIX sh: runs under busybox ash and dash.
#
#   sh install.sh --version 1.90.8        install (or change the pin), start the service
#   sh install.sh --version latest        pin the newest stable build for this router's arch
#   sh install.sh --dry-run ...           print every change, change nothing
#   sh install.sh --uninstall [--purge]   remove exactly what was added (--purge: state too)
#   sh install.sh --check                 print what the router has (arch, RAM, flash), change nothing
set -u

usage() {
  cat <<'USAGE'
usage: install.sh [--version V|latest] [--base-url URL] [--sha256 HEX] [--lan-rule CIDR]
                  [--exit-node] [--no-start] [--dry-run] [--root DIR]
       install.sh --uninstall [--purge] [--dry-run] [--root DIR]
       install.sh --check [--root DIR]
USAGE
}

die() {
  echo "install.sh: $1" >&2
  [ $# -gt 1 ] && echo "  hint: $2" >&2
  exit "${EXIT_CODE:-2}"
}

ROOT=${NETMEND_OPENWRT_ROOT:-}
version=''
base_url=''
pinned_sha256=''
lan_rule=''
exit_node=0
dry_run=0
mode=install
purge=0
start_service=1
while [ $# -gt 0 ]; do
  case $1 in
    --version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift ;;
    --version=*) version=${1#*=} ;;
    --base-url) [ $# -ge 2 ] || die "--base-url needs a value"; base_url=$2; shift ;;
    --base-url=*) base_url=${1#*=} ;;
    --sha256) [ $# -ge 2 ] || die "--sha256 needs a value"; pinned_sha256=$2; shift ;;
    --sha256=*) pinned_sha256=${1#*=} ;;
    --lan-rule) [ $# -ge 2 ] || die "--lan-rule needs a value"; lan_rule=$2; shift ;;
    --lan-rule=*) lan_rule=${1#*=} ;;
    --root) [ $# -ge 2 ] || die "--root needs a value"; ROOT=$2; shift ;;
    --root=*) ROOT=${1#*=} ;;
    --exit-node) exit_node=1 ;;
    --no-start) start_service=0 ;;
    --dry-run) dry_run=1 ;;
    --uninstall) mode=uninstall ;;
    --purge) purge=1 ;;
    --check) mode=check ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
  shift
done
ROOT=${ROOT%/}
if [ -n "$ROOT" ] && [ ! -d "$ROOT" ]; then die "--root $ROOT is not a directory"; fi

check_version() {
  case $1 in
    [0-9]*) ;;
    *) die "--version '$1' is not a version number" "pass a stable release such as 1.90.8, or latest" ;;
  esac
  case $1 in *[!0-9A-Za-z.+~-]*) die "--version '$1' is not a version number" "pass a stable release such as 1.90.8, or latest" ;; esac
}

check_base_url() {
  case $1 in
    http://?*|https://?*) ;;
    *) die "--base-url '$1' is not an http(s) URL" ;;
  esac
  case $1 in *[\'\"\ ]*) die "--base-url must not contain quotes or spaces" ;; esac
}

# ADDRESS/LENGTH, IPv4 dotted quad or IPv6; what netifd takes as a rule's dest.
is_prefix() {
  case $1 in */*) ;; *) return 1 ;; esac
  prefix_address=${1%/*}
  prefix_length=${1#*/}
  case $prefix_length in ''|*[!0-9]*) return 1 ;; esac
  case $prefix_address in
    *:*)
      case $prefix_address in *[!0-9a-fA-F:.]*) return 1 ;; esac
      [ "$prefix_length" -le 128 ]
      return
      ;;
  esac
  case $prefix_address in ''|*[!0-9.]*|.*|*.|*..*) return 1 ;; esac
  [ "$prefix_length" -le 32 ] || return 1
  old_ifs=$IFS
  IFS=.
  # shellcheck disable=SC2086 # split on the dots
  set -- $prefix_address
  IFS=$old_ifs
  [ $# -eq 4 ] || return 1
  for octet in "$@"; do
    [ "${#octet}" -le 3 ] && [ "$octet" -le 255 ] || return 1
  done
  return 0
}

# Every flag is checked before anything is fetched or written.
if [ "$purge" = 1 ] && [ "$mode" != uninstall ]; then die "--purge only goes with --uninstall" "to remove the node and its state: --uninstall --purge"; fi
if [ -n "$version" ] && [ "$version" != latest ]; then check_version "$version"; fi
[ -z "$base_url" ] || check_base_url "$base_url"
if [ -n "$pinned_sha256" ]; then
  pinned_sha256=$(printf '%s' "$pinned_sha256" | tr 'A-F' 'a-f')
  case $pinned_sha256 in *[!0-9a-f]*) die "--sha256 must be 64 hex digits" ;; esac
  [ "${#pinned_sha256}" -eq 64 ] || die "--sha256 must be 64 hex digits"
fi
if [ -n "$lan_rule" ] && ! is_prefix "$lan_rule"; then die "--lan-rule '$lan_rule' is not an address prefix" "give the LAN as ADDRESS/LENGTH, e.g. 192.168.1.0/24"; fi

state_dir="$ROOT/etc/tailscale"
manifest="$state_dir/netmend-install.manifest"
launcher_marker='# netmend launcher for /usr/bin/tailscale'
changed=0
reload_network=0
reload_firewall=0
reload_dnsmasq=0

say() { echo "$*"; }

# ---------------------------------------------------------------- embedded files (filled in by netmend)
launcher_body() {
  cat <<'NETMEND_LAUNCHER_EOF'
@@LAUNCHER_BODY@@
NETMEND_LAUNCHER_EOF
}

init_body() {
  cat <<'NETMEND_INIT_EOF'
@@INIT_BODY@@
NETMEND_INIT_EOF
}

# Priority of the --lan-rule: just ahead of tailscaled's `lookup 52` (5270, or 1370 when it
# shifts its rules for mwan3). netmend computes both with the function the doctor uses for the
# same rule, so the two never disagree.
lan_rule_priority_plain=@@LAN_RULE_PRIORITY@@
lan_rule_priority_mwan3=@@LAN_RULE_PRIORITY_MWAN3@@

# ---------------------------------------------------------------- router facts
# Byte 5 of an ELF file, read without od/hexdump (not in every busybox build).
elf_data_byte() {
  dd if="$1" bs=1 skip=5 count=1 2>/dev/null
}

# mips and mips64 builds come in both byte orders and `uname -m` does not say which: the ELF
# header of a system binary does (EI_DATA, byte 5: 1 little endian, 2 big endian).
elf_endianness() {
  for binary in "$ROOT/bin/busybox" "$ROOT/bin/sh" "$ROOT/sbin/procd"; do
    [ -f "$binary" ] || continue
    [ "$(dd if="$binary" bs=1 count=4 2>/dev/null)" = "$(printf '\177ELF')" ] || continue
    data=$(elf_data_byte "$binary")
    if [ "$data" = "$(printf '\001')" ]; then echo le; return 0; fi
    if [ "$data" = "$(printf '\002')" ]; then echo be; return 0; fi
  done
  return 1
}

package_arch() {
  arch=''
  if [ -f "$ROOT/etc/openwrt_release" ]; then
    arch=$(sed -n "s/^DISTRIB_ARCH=[\"']\{0,1\}\([^\"']*\)[\"']\{0,1\}[[:space:]]*\$/\1/p" "$ROOT/etc/openwrt_release" | head -n 1)
  fi
  if [ -z "$arch" ] && [ -s "$ROOT/etc/apk/arch" ]; then
    arch=$(head -n 1 "$ROOT/etc/apk/arch")
  fi
  if [ -z "$arch" ] && command -v opkg >/dev/null 2>&1; then
    arch=$(opkg print-architecture 2>/dev/null | awk '$1 == "arch" && $2 != "all" && $2 != "noarch" { a = $2 } END { print a }')
  fi
  echo "$arch"
}

# Prints the tailscale build arch, or nothing when this router has none.
tailscale_arch() {
  pkg=$(package_arch)
  case $pkg in
    x86_64*) echo amd64; return ;;
    i386_pentium-mmx*|i386_i486*) echo geode; return ;;
    i386*) echo 386; return ;;
    aarch64*) echo arm64; return ;;
    arm*) echo arm; return ;;
    riscv64*) echo riscv64; return ;;
    mips64el*|mips64*) family=mips64 ;;
    mipsel*|mips*) family=mips ;;
    '')
      case $(uname -m) in
        x86_64) echo amd64; return ;;
        i?86) echo 386; return ;;
        aarch64|arm64) echo arm64; return ;;
        arm*) echo arm; return ;;
        riscv64) echo riscv64; return ;;
        mips64*) family=mips64 ;;
        mips*) family=mips ;;
        *) return ;;
      esac
      ;;
    *) return ;;
  esac
  # The ELF header decides the byte order; the package name only when no binary says.
  if order=$(elf_endianness); then
    [ "$order" = le ] && echo "${family}le" || echo "$family"
    return
  fi
  case $pkg in
    mips64el*|mipsel*) echo "${family}le" ;;
    '') ;;
    *) echo "$family" ;;
  esac
}

mem_available_kb() {
  awk '/^MemAvailable:/ { print $2; exit }' "$ROOT/proc/meminfo" 2>/dev/null
}

free_kb() {
  df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print $4 }'
}

flash_dir() {
  if [ -d "$ROOT/overlay" ]; then echo "$ROOT/overlay"; else echo "$ROOT/"; fi
}

installed_setting() {
  [ -f "$ROOT/usr/bin/tailscaled" ] || return 0
  sed -n "s/^$1='\\(.*\\)'\$/\\1/p" "$ROOT/usr/bin/tailscaled" | head -n 1
}

check() {
  echo "arch=$(tailscale_arch)"
  echo "package_arch=$(package_arch)"
  echo "mem_available_kb=$(mem_available_kb)"
  echo "tmp_free_kb=$(free_kb "$ROOT/tmp")"
  echo "flash_free_kb=$(free_kb "$(flash_dir)")"
  if [ -x "$ROOT/sbin/fw4" ]; then echo "firewall=fw4"; else echo "firewall=fw3"; fi
  echo "openwrt=$([ -f "$ROOT/etc/openwrt_release" ] && echo yes || echo no)"
  echo "installed_version=$(installed_setting TS_VERSION)"
  echo "mwan3=$(mwan3_installed && echo yes || echo no)"
}

# tailscaled moves its rules to 1310-1370 when mwan3 runs (its config plus a marked rule at
# 2001-2004). A rule at the mwan3 priority is ahead of both layouts, so mwan3's config alone
# decides: the rule keeps working when mwan3 starts after tailscaled, or later.
mwan3_installed() {
  [ -f "$ROOT/etc/config/mwan3" ]
}

lan_rule_priority() {
  if mwan3_installed; then echo "$lan_rule_priority_mwan3"; else echo "$lan_rule_priority_plain"; fi
}

# ---------------------------------------------------------------- change helpers
quote() {
  case $1 in
    *"'"*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
    *) printf "'%s'" "$1" ;;
  esac
}

manifest_has() {
  [ -f "$manifest" ] && grep -qxF -- "$1" "$manifest"
}

remember() {
  manifest_has "$1" && return 0
  [ "$dry_run" = 1 ] && return 0
  mkdir -p "$state_dir" && echo "$1" >> "$manifest"
}

uci_() {
  uci -c "$ROOT/etc/config" "$@"
}

note_reload() {
  case $1 in
    network) reload_network=1 ;;
    firewall) reload_firewall=1 ;;
    dhcp) reload_dnsmasq=1 ;;
  esac
}

# Writes a file atomically (temp file + rename) when its content differs. $1 path, $2 mode;
# the content comes on stdin.
put_file() {
  target="$ROOT$1"
  temp="$target.netmend-new.$$"
  mkdir -p "$(dirname "$target")" || die "cannot create the directory of $target"
  cat > "$temp" || { rm -f "$temp"; die "cannot write $temp"; }
  if [ -f "$target" ] && cmp -s "$temp" "$target"; then
    rm -f "$temp"
    remember "file $1"
    return 0
  fi
  changed=1
  if [ "$dry_run" = 1 ]; then
    rm -f "$temp"
    say "would write $1"
    return 0
  fi
  if ! chmod "$2" "$temp" || ! mv -f "$temp" "$target"; then
    rm -f "$temp"
    die "cannot write $target"
  fi
  say "wrote $1"
  remember "file $1"
}

# Line edits by copy (cp -p keeps the mode) and rename, so a reader never sees half a file.
edit_file_with_line() {
  temp="$ROOT$1.netmend-new.$$"
  cp -p "$ROOT$1" "$temp" && echo "$2" >> "$temp" && mv -f "$temp" "$ROOT$1" && return 0
  rm -f "$temp"
  return 1
}

edit_file_without_line() {
  temp="$ROOT$1.netmend-new.$$"
  cp -p "$ROOT$1" "$temp" || return 1
  grep -vxF -- "$2" "$ROOT$1" > "$temp"
  mv -f "$temp" "$ROOT$1" && return 0
  rm -f "$temp"
  return 1
}

# UCI is read once (`uci show`) and changed in one `uci batch`: routers are slow to fork.
uci_state=''
uci_batch=''

load_uci() {
  uci_state=$(uci_ -q show)
}

# The value `uci show` prints for a key: a section's type, or an option's quoted value(s).
uci_value() {
  key="$1="
  while IFS= read -r line; do
    case $line in
      "$key"*) printf '%s\n' "${line#"$key"}"; return 0 ;;
    esac
  done <<UCI_STATE
$uci_state
UCI_STATE
  return 0
}

queue() {
  uci_batch="$uci_batch$1
"
}

ensure_section() {
  # $1 config, $2 name, $3 type
  current=$(uci_value "$1.$2")
  [ "$current" = "$3" ] && return 0
  [ -z "$current" ] && remember "section $1.$2"
  changed=1
  note_reload "$1"
  if [ "$dry_run" = 1 ]; then say "would uci set $1.$2=$3"; return 0; fi
  queue "set $1.$2=$3"
  say "uci set $1.$2=$3"
}

ensure_option() {
  # $1 config.section.option, $2 value
  [ "$(uci_value "$1")" = "$(quote "$2")" ] && return 0
  changed=1
  note_reload "${1%%.*}"
  if [ "$dry_run" = 1 ]; then say "would uci set $1=$(quote "$2")"; return 0; fi
  queue "set $1=$(quote "$2")"
  say "uci set $1=$(quote "$2")"
}

list_contains() {
  # $1 config.section.option, $2 value: `uci show` prints a list as 'a' 'b' 'c'.
  case " $(uci_value "$1") " in
    *" $(quote "$2") "*) return 0 ;;
  esac
  return 1
}

ensure_list() {
  # $1 config.section.option, $2 value; remembered so uninstall removes only what it added.
  list_contains "$1" "$2" && return 0
  changed=1
  note_reload "${1%%.*}"
  remember "list $1 $2"
  if [ "$dry_run" = 1 ]; then say "would uci add_list $1=$(quote "$2")"; return 0; fi
  queue "add_list $1=$(quote "$2")"
  say "uci add_list $1=$(quote "$2")"
}

service_ctl() {
  # What the `#!/bin/sh /etc/rc.common` shebang does, spelled out so --root works too.
  if [ "$dry_run" = 1 ]; then say "would run /etc/init.d/$1 $2"; return 0; fi
  [ -f "$ROOT/etc/init.d/$1" ] || return 0
  say "/etc/init.d/$1 $2"
  sh "$ROOT/etc/rc.common" "$ROOT/etc/init.d/$1" "$2"
}

commit_and_reload() {
  [ "$reload_network" = 1 ] && queue "commit network"
  [ "$reload_firewall" = 1 ] && queue "commit firewall"
  [ "$reload_dnsmasq" = 1 ] && queue "commit dhcp"
  if [ "$dry_run" = 1 ]; then
    [ -n "$uci_batch" ] && printf '%s' "$uci_batch" | sed -n 's/^commit /would uci commit /p'
    uci_batch=''
  elif [ -n "$uci_batch" ]; then
    printf '%s' "$uci_batch" | uci_ batch || die "uci batch failed" "see \`uci changes\`; \`uci revert\` drops what was staged"
    uci_batch=''
  fi
  # reload, never restart: netifd flushes every ip rule on restart, tailscaled's included.
  [ "$reload_network" = 1 ] && service_ctl network reload
  [ "$reload_firewall" = 1 ] && service_ctl firewall reload
  [ "$reload_dnsmasq" = 1 ] && service_ctl dnsmasq reload
  return 0
}

# @@FETCH_FUNCTIONS@@

# Downloads URL into FILE (read-only: nothing on the router has changed yet). Returns 4 when the
# mirror has no such file (HTTP 404), for the caller to say what that means; any other failure
# stops the installer saying whether the mirror answered with an error or could not be reached.
mirror_get() {
  why=$(fetch "$1" "$2" 20)
  case $?:$why in
    0:*) return 0 ;;
    '2:HTTP 404') return 4 ;;
    2:*) EXIT_CODE=3 die "the mirror answered $why for $1" "try again later, or check --base-url" ;;
    *) EXIT_CODE=3 die "cannot reach the mirror for $1: $why" "check the router's WAN, DNS and clock (TLS needs the time); nothing was changed" ;;
  esac
}

# ---------------------------------------------------------------- install
install() {
  arch=$(tailscale_arch)
  [ -n "$arch" ] || EXIT_CODE=3 die "no tailscale build for this router's architecture ('$(package_arch)', uname -m '$(uname -m)')" \
    "the official builds cover amd64, 386, arm, arm64, mips, mipsle, mips64, mips64le, riscv64"

  if [ -f "$ROOT/usr/bin/tailscaled" ] && ! grep -qF "$launcher_marker" "$ROOT/usr/bin/tailscaled"; then
    die "/usr/bin/tailscaled exists and is not netmend's launcher" "remove the tailscale package first (opkg remove tailscale / apk del tailscale)"
  fi
  old_version=$(installed_setting TS_VERSION)
  [ -n "$base_url" ] || base_url=$(installed_setting TS_BASE_URL)
  [ -n "$base_url" ] || base_url='https://pkgs.tailscale.com/stable'
  base_url=${base_url%/}
  check_base_url "$base_url"

  if [ -z "$version" ]; then
    version=$old_version
    [ -n "$version" ] || die "no version given" "pass --version V (a stable release such as 1.90.8) or --version latest"
  fi
  download="${TMPDIR:-/tmp}/netmend-install.$$"
  if [ "$version" = latest ]; then
    mirror_get "$base_url/?mode=json" "$download" || EXIT_CODE=3 die "there is no version index at $base_url/?mode=json (HTTP 404)" "check --base-url, or pass --version V"
    index=$(cat "$download")
    rm -f "$download"
    version=$(printf '%s\n' "$index" | tr ',{}' '\n' | sed -n "s/^[[:space:]]*\"$arch\"[[:space:]]*:[[:space:]]*\"tailscale_\\([0-9][^\"_]*\\)_$arch\\.tgz\"[[:space:]]*\$/\\1/p" | head -n 1)
    [ -n "$version" ] || EXIT_CODE=3 die "the version index at $base_url lists no build for $arch"
    say "latest stable build for $arch: $version (pinned; it will not change unless you run this again)"
  fi
  check_version "$version"

  build="tailscale_${version}_${arch}"
  if [ -z "$pinned_sha256" ] && [ "$version" = "$old_version" ]; then
    pinned_sha256=$(installed_setting TS_PINNED_SHA256)
  fi
  # The build must exist for this arch now, not fail at every boot later.
  mirror_get "$base_url/$build.tgz.sha256" "$download" || EXIT_CODE=3 die "tailscale $version has no build for $arch at $base_url ($build.tgz.sha256: HTTP 404)" \
    "check --version and --base-url; old releases stay downloadable"
  published=$(awk 'NR == 1 { print tolower($1) }' "$download")
  rm -f "$download"
  if [ -n "$pinned_sha256" ] && [ "$published" != "$pinned_sha256" ]; then
    EXIT_CODE=3 die "the mirror's checksum for $build ($published) is not the pinned $pinned_sha256"
  fi

  if [ -n "$old_version" ] && [ "$old_version" != "$version" ]; then
    say "changing the pinned version from $old_version to $version"
  fi

  if [ ! -d "$state_dir" ]; then
    changed=1
    if [ "$dry_run" = 1 ]; then say "would create /etc/tailscale (state, kept in flash)"; else mkdir -p "$state_dir" && say "created /etc/tailscale"; fi
    remember "dir /etc/tailscale"
  fi
  settings="NETMEND_ROOT=$(quote "$ROOT")
TS_VERSION=$(quote "$version")
TS_ARCH=$(quote "$arch")
TS_BASE_URL=$(quote "$base_url")
TS_PINNED_SHA256=$(quote "$pinned_sha256")"
  for name in tailscale tailscaled; do
    {
      echo '#!/bin/sh'
      echo "$launcher_marker and /usr/bin/tailscaled (installed by netmend)."
      echo "$settings"
      launcher_body
    } | put_file "/usr/bin/$name" 755
  done
  {
    echo '#!/bin/sh /etc/rc.common'
    echo "NETMEND_ROOT=$(quote "$ROOT")"
    echo "TS_VERSION=$(quote "$version")"
    init_body
  } | put_file /etc/init.d/tailscale 755

  if [ ! -L "$ROOT/etc/rc.d/S99tailscale" ]; then
    changed=1
    if [ "$dry_run" = 1 ]; then say "would enable the service (/etc/rc.d/S99tailscale)"; else
      mkdir -p "$ROOT/etc/rc.d" && ln -sf ../init.d/tailscale "$ROOT/etc/rc.d/S99tailscale" && say "enabled the service (/etc/rc.d/S99tailscale)"
    fi
  fi
  remember "link /etc/rc.d/S99tailscale"
  if [ -f "$ROOT/etc/sysupgrade.conf" ] && ! grep -qxF /etc/tailscale/ "$ROOT/etc/sysupgrade.conf"; then
    changed=1
    if [ "$dry_run" = 1 ]; then say "would add /etc/tailscale/ to /etc/sysupgrade.conf"; else
      edit_file_with_line /etc/sysupgrade.conf /etc/tailscale/ && say "added /etc/tailscale/ to /etc/sysupgrade.conf"
    fi
    remember "line /etc/sysupgrade.conf /etc/tailscale/"
  fi

  load_uci
  ensure_section network tailscale interface
  ensure_option network.tailscale.proto none
  ensure_option network.tailscale.device tailscale0
  if [ -n "$lan_rule" ]; then
    case $lan_rule in *:*) rule_type=rule6 ;; *) rule_type=rule ;; esac
    # Ahead of tailscaled's lookup rule: LAN traffic stays on the LAN even when a subnet
    # router advertises the same prefix into table 52.
    ensure_section network tailscale_lan_rule "$rule_type"
    ensure_option network.tailscale_lan_rule.dest "$lan_rule"
    ensure_option network.tailscale_lan_rule.lookup main
    ensure_option network.tailscale_lan_rule.priority "$(lan_rule_priority)"
  fi

  ensure_section firewall tailscale zone
  ensure_option firewall.tailscale.name tailscale
  ensure_list firewall.tailscale.network tailscale
  ensure_option firewall.tailscale.input ACCEPT
  ensure_option firewall.tailscale.output ACCEPT
  ensure_option firewall.tailscale.forward ACCEPT
  ensure_option firewall.tailscale.masq 1
  ensure_option firewall.tailscale.mtu_fix 1
  ensure_section firewall tailscale_lan forwarding
  ensure_option firewall.tailscale_lan.src tailscale
  ensure_option firewall.tailscale_lan.dest lan
  ensure_section firewall lan_tailscale forwarding
  ensure_option firewall.lan_tailscale.src lan
  ensure_option firewall.lan_tailscale.dest tailscale
  if [ "$exit_node" = 1 ]; then
    ensure_section firewall tailscale_wan forwarding
    ensure_option firewall.tailscale_wan.src tailscale
    ensure_option firewall.tailscale_wan.dest wan
  fi

  if [ "$(uci_value 'dhcp.@dnsmasq[0]')" = dnsmasq ]; then
    # Split DNS: only ts.net names go to MagicDNS, and its 100.64/10 answers pass rebind protection.
    ensure_list 'dhcp.@dnsmasq[0].server' '/ts.net/100.100.100.100'
    ensure_list 'dhcp.@dnsmasq[0].rebind_domain' 'ts.net'
  else
    say "no dnsmasq section in /etc/config/dhcp: split DNS for ts.net not configured"
  fi

  commit_and_reload

  if [ "$changed" = 0 ]; then
    say "tailscale $version ($arch) is installed; nothing to change"
    return 0
  fi
  if [ "$start_service" = 1 ]; then
    if [ -n "$old_version" ]; then service_ctl tailscale restart; else service_ctl tailscale start; fi
  fi
  if [ "$dry_run" = 1 ]; then
    say "dry run: nothing was changed"
  else
    say "installed tailscale $version ($arch); the build is downloaded into /tmp when the service starts"
    say "next: tailscale up --accept-dns=false, then tailscale set --auto-update=false"
  fi
}

# ---------------------------------------------------------------- uninstall
# --purge after an earlier --uninstall (the one that said "kept /etc/tailscale"): only the state
# is left, and it goes unless a tailscale package installed since is using it.
purge_kept_state() {
  for binary in /usr/sbin/tailscaled /usr/bin/tailscaled; do
    if [ -e "$ROOT$binary" ]; then
      die "/etc/tailscale belongs to the tailscale installed at $binary; not removing it" "remove that package first (opkg remove tailscale / apk del tailscale)"
    fi
  done
  if [ "$dry_run" = 1 ]; then
    say "would remove /etc/tailscale (state)"
    say "dry run: nothing was changed"
  else
    rm -rf "$state_dir" && say "removed /etc/tailscale (state)"
  fi
}

uninstall() {
  if [ ! -f "$manifest" ]; then
    if [ "$purge" = 1 ] && [ -d "$state_dir" ]; then
      purge_kept_state
      return 0
    fi
    say "netmend's tailscale install is not present; nothing to remove"
    return 0
  fi
  version=$(installed_setting TS_VERSION)
  service_ctl tailscale stop
  load_uci
  # Undo in reverse order of installation.
  entries=$(awk '{ line[NR] = $0 } END { for (i = NR; i > 0; i--) print line[i] }' "$manifest")
  uci_touched=0
  old_ifs=$IFS
  IFS='
'
  for entry in $entries; do
    IFS=$old_ifs
    kind=${entry%% *}
    rest=${entry#* }
    case $kind in
      file|link)
        if [ -e "$ROOT$rest" ] || [ -L "$ROOT$rest" ]; then
          if [ "$dry_run" = 1 ]; then say "would remove $rest"; else rm -f "$ROOT$rest" && say "removed $rest"; fi
        fi
        ;;
      section)
        if [ -n "$(uci_value "$rest")" ]; then
          note_reload "${rest%%.*}"
          uci_touched=1
          if [ "$dry_run" = 1 ]; then say "would uci delete $rest"; else queue "delete $rest" && say "uci delete $rest"; fi
        fi
        ;;
      list)
        key=${rest%% *}
        value=${rest#* }
        if list_contains "$key" "$value"; then
          note_reload "${key%%.*}"
          uci_touched=1
          if [ "$dry_run" = 1 ]; then say "would uci del_list $key=$(quote "$value")"; else queue "del_list $key=$(quote "$value")" && say "uci del_list $key=$(quote "$value")"; fi
        fi
        ;;
      line)
        file=${rest%% *}
        line=${rest#* }
        if [ -f "$ROOT$file" ] && grep -qxF -- "$line" "$ROOT$file"; then
          if [ "$dry_run" = 1 ]; then say "would remove '$line' from $file"; else
            edit_file_without_line "$file" "$line" && say "removed '$line' from $file"
          fi
        fi
        ;;
      dir) ;;
    esac
    IFS='
'
  done
  IFS=$old_ifs
  [ "$uci_touched" = 1 ] && commit_and_reload
  if [ -n "$version" ] && [ -d "$ROOT/tmp/tailscale-$version" ]; then
    if [ "$dry_run" = 1 ]; then say "would remove /tmp/tailscale-$version"; else rm -rf "$ROOT/tmp/tailscale-$version" && say "removed /tmp/tailscale-$version"; fi
  fi
  if [ "$dry_run" = 1 ]; then
    [ "$purge" = 1 ] && say "would remove /etc/tailscale (state)"
    say "dry run: nothing was changed"
    return 0
  fi
  created_state_dir=0
  manifest_has "dir /etc/tailscale" && created_state_dir=1
  rm -f "$manifest" "$state_dir"/netmend-build-*.kb
  # --purge asks for the node's state to go, whoever created the directory.
  if [ "$purge" = 1 ] && [ -d "$state_dir" ]; then
    rm -rf "$state_dir" && say "removed /etc/tailscale (state)"
  elif [ "$created_state_dir" = 1 ] && rmdir "$state_dir" 2>/dev/null; then
    :
  elif [ -d "$state_dir" ]; then
    say "kept /etc/tailscale (node state; --purge removes it)"
  fi
  say "uninstalled"
}

case $mode in
  check) check ;;
  install) install ;;
  uninstall) uninstall ;;
esac
