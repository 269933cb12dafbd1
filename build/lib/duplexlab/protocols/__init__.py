"""Connections into wire events: recognising what each connection carries and the sans-I/O parsers for it."""
