"""Bytes off the wire: reading capture files, link/IP/TCP decoding, reassembly, TLS decryption through tshark."""
