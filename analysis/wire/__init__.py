"""Bytes off the wire: capture files, link/IP/TCP decoding, reassembly, TLS and QUIC opened with one key store."""
