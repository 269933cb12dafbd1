"""duplexlab analysis: capture file -> wire events -> invariant findings -> report."""

from . import _speed

_speed.install(__name__)  # the hot modules load compiled where built, as Python otherwise (DUPLEXLAB_PURE=1)
