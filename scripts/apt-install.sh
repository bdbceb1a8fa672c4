# Sourced by the install scripts: `apt_install WHO PACKAGE...` installs Debian packages that are
# missing (none given: nothing to do). Needs root, as on CI; without it, says what is missing.
apt_install() {
  local who="$1"
  shift
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$who: need root to apt-get install $*" >&2
    exit 2
  fi
  echo "$who: apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
