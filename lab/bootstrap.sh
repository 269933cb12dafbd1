#!/usr/bin/env bash
# Prepare everything `make lab` and `make test` need, idempotently and fast on
# a second run: the project virtualenv, tshark on the host, a Docker engine,
# Compose v2 and the debian:bookworm-slim base image.
#
# Usage: lab/bootstrap.sh [venv|tools|browser|engine|all|test]   (test = all + the browser)
# Exit codes: 0 ready; 3 no engine and we may not install one; 4 a step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STATE=.venv/.bootstrap
say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: %s\n' "$1" >&2; exit "${2:-4}"; }

is_debian_root() {
  [ "$(id -u)" = 0 ] && [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release
}

apt_install() {
  # One `apt-get update` per bootstrap run: a stale or empty list finds nothing.
  if [ -z "${_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed."
    _APT_UPDATED=1
  fi
  say "installing $* with apt-get"
  # dumpcap stays root-only on the host: the capture runs in its container.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed."
}

# pip repeats local-index notices and build-backend chatter; keep what explains a failure.
quiet_pip() { grep -vE "^WARNING: Location|^ *$|Editable install|!!|\*{10}|Please be careful|name as your package|precedence during imports|with strategy|BuildBackendWarning" >&2 || true; }

step_venv() {
  local py=${PYTHON:-python3}
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "Python 3.11 or newer is needed as '$py' (set PYTHON=/path/to/python3.11)."
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$py" -m venv "$VENV"; }
  local stamp="$STATE/venv.$(cat pyproject.toml setup.py | sha1sum | cut -c1-12)"
  if [ ! -e "$stamp" ]; then
    say "installing the project into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | quiet_pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]' 2>&1 | quiet_pip
    [ "${PIPESTATUS[0]}" = 0 ] || die "pip install of the project failed (see the lines above)."
    mkdir -p "$STATE"; rm -f "$STATE"/venv.*; touch "$stamp"
  fi
  # The editable install compiled the hot modules (setup.py); a source edited since runs as Python (analysis/_speed.py)
  # until they are built again, which this does.
  if "$VENV/bin/python" -m analysis --version 2>/dev/null | grep -q "changed since the build"; then
    say "rebuilding the compiled modules: their sources changed since the last build"
    "$VENV/bin/python" -m pip install -q --no-deps -e . 2>&1 | quiet_pip
  fi
}

step_tools() {
  local missing=()
  for t in tshark editcap; do command -v "$t" >/dev/null || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  is_debian_root || die "tshark is not installed: install Wireshark's command-line tools (Debian: apt-get install tshark)." 3
  apt_install tshark
}

step_browser() {
  # The report's browser test renders the page in a real headless Chromium.
  command -v chromium >/dev/null && return 0
  is_debian_root || die "chromium is not installed: the browser test needs it (Debian: apt-get install chromium)." 3
  apt_install chromium
}

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

step_engine() {
  if ! engine_up; then
    if ! command -v dockerd >/dev/null; then
      is_debian_root || die "No Docker engine answers 'docker info': install Docker Engine (https://docs.docker.com/engine/install/) and start it, then run make lab again." 3
      say "no Docker engine: installing Debian's docker.io"
      apt_install docker.io
    fi
    [ "$(id -u)" = 0 ] || die "The Docker engine is installed but not running, and only root can start it here: start dockerd (or your Docker service) and run make lab again." 3
    say "starting dockerd in the background (log: /var/log/duplexlab-dockerd.log)"
    # No systemd on these machines: dockerd runs detached, outliving make.
    setsid nohup dockerd >/var/log/duplexlab-dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 60); do engine_up && break; sleep 1; done
    engine_up || die "dockerd did not come up within 60 s: see /var/log/duplexlab-dockerd.log."
  fi
  if ! docker compose version >/dev/null 2>&1; then
    [ -x "$VENV/bin/docker-compose" ] || step_venv
    [ -x "$VENV/bin/docker-compose" ] || die "Compose v2 is missing and the virtualenv did not provide it."
    say "linking Compose v2 from $VENV into ~/.docker/cli-plugins"
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$PWD/$VENV/bin/docker-compose" "$HOME/.docker/cli-plugins/docker-compose"
    docker compose version >/dev/null 2>&1 || die "'docker compose' still does not work after linking the plugin."
  fi
  step_base_image
}

debian_mirror() {
  # The host's own apt source, so the project names no mirror of its own.
  local m
  m=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
      | grep -oE 'https?://[^ ]+' | head -n1 || true)
  [ -n "$m" ] || die "no Debian mirror found in the host's apt sources to build the base image from."
  echo "$m"
}

step_base_image() {
  docker image inspect debian:bookworm-slim >/dev/null 2>&1 && return 0
  say "pulling debian:bookworm-slim"
  if timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then return 0; fi
  is_debian_root || die "debian:bookworm-slim cannot be pulled and building it needs root on Debian: run 'docker pull debian:bookworm-slim' where a registry answers." 3
  say "no registry answers: building debian:bookworm-slim locally with debootstrap (about a minute)"
  command -v debootstrap >/dev/null || apt_install debootstrap
  local dir; dir=$(mktemp -d /tmp/duplexlab-rootfs.XXXXXX)
  debootstrap --variant=minbase bookworm "$dir" "$(debian_mirror)" >/tmp/duplexlab-debootstrap.log 2>&1 \
    || { rm -rf "$dir"; die "debootstrap failed: see /tmp/duplexlab-debootstrap.log."; }
  local changes=()
  # Where HTTPS leaves this machine through an inspecting proxy, builds need its CA bundle.
  if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$dir/usr/local/share/duplexlab"
    cp /etc/ssl/certs/ca-certificates.crt "$dir/usr/local/share/duplexlab/host-ca.crt"
    changes+=(--change 'ENV PIP_CERT=/usr/local/share/duplexlab/host-ca.crt')
  fi
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import "${changes[@]}" --change 'CMD ["bash"]' - debian:bookworm-slim >/dev/null \
    || { rm -rf "$dir"; die "docker import of the local base image failed."; }
  rm -rf "$dir"
}

case "${1:-all}" in
  venv) step_venv ;;
  tools) step_tools ;;
  browser) step_browser ;;
  engine) step_venv; step_engine ;;
  all) step_venv; step_tools; step_engine ;;
  test) step_venv; step_tools; step_browser; step_engine ;;
  *) die "unknown step '$1' (venv, tools, browser, engine, all or test)." 2 ;;
esac
