#!/bin/sh
# The grid's Caddy: the static site (www.sh), then caddy in the foreground with grid/peers/Caddyfile.
set -eu
/opt/grid/peers/www.sh
export XDG_DATA_HOME=/tmp XDG_CONFIG_HOME=/tmp
exec caddy run --config /opt/grid/peers/Caddyfile --adapter caddyfile
