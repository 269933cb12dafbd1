"""The lab's peers: a server and a client per protocol, each a small program on a well-kept library."""
