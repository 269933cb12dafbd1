#!/bin/sh
# Start the proxy named by $VIA in front of $UPSTREAM (host:port), in the foreground.
set -eu
: "${UPSTREAM:?set UPSTREAM to host:port of the server behind the proxy}"
case "${VIA:?set VIA to nginx, nginx-streaming, haproxy or haproxy-streaming}" in
  nginx|nginx-streaming)
    # nginx reads no environment: fill ${UPSTREAM} in, as the nginx image's envsubst templates do.
    sed "s|\${UPSTREAM}|$UPSTREAM|g" "/etc/duplexlab/$VIA.conf" > /tmp/nginx.conf
    exec nginx -c /tmp/nginx.conf -e stderr -g 'daemon off;' ;;
  haproxy|haproxy-streaming)
    exec haproxy -db -f "/etc/duplexlab/$VIA.cfg" ;;
  *) echo "unknown VIA '$VIA': nginx, nginx-streaming, haproxy or haproxy-streaming" >&2; exit 2 ;;
esac
