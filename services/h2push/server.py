"""HTTP/2 push server: Debian's nghttpd, which still sends PUSH_PROMISE (browsers dropped push).

`-p/=/style.css` pushes the stylesheet with every request for /. nghttpd writes its
SETTINGS as soon as the connection opens, before the client's preface: allowed.
"""

from __future__ import annotations

import os
from pathlib import Path

from services.common import PORT

WWW = Path(__file__).resolve().parent / "www"

if __name__ == "__main__":
    os.execvp("nghttpd", ["nghttpd", "--no-tls", "-d", str(WWW), "-p/=/style.css", str(PORT)])
