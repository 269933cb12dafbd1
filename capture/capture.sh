#!/bin/sh
# Record one protocol's traffic into /captures/$NAME.pcapng until stopped.
# tini (PID 1) forwards SIGINT/SIGTERM here; dumpcap then writes its statistics
# block and closes the file cleanly, which is what makes the pcapng complete.
set -eu
name=${NAME:?set NAME to the protocol whose traffic this sidecar records}
out=/captures/$name.pcapng
rm -f "$out"
umask 022
comment=$(cat "/captures/.$name.comment" 2>/dev/null || echo "duplexlab capture of $name")
# Only frames to or from this namespace: a bridge floods frames for a MAC it has not learned yet, and
# those belong to other containers' conversations. UDP: QUIC (HTTP/3, WebTransport).
mac=$(cat /sys/class/net/eth0/address)
dumpcap -i eth0 -f "(tcp or udp) and ether host $mac" -q --capture-comment "$comment" -w "$out.part" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null' INT TERM
# Ready (for the healthcheck) once dumpcap has written the file header.
status=0
wait "$pid" || status=$?
# A trapped signal interrupts the first wait; the second waits for dumpcap to finish writing.
if kill -0 "$pid" 2>/dev/null; then wait "$pid" || status=$?; fi
chmod 0644 "$out.part" 2>/dev/null || true
mv -f "$out.part" "$out"
exit "$status"
