"""A stand-in for your service: an HTTP/1.1 server whose /events endpoint streams Server-Sent Events.

Replace it with your own server; what the tests check is its traffic, not this code.
Usage: python ticker.py PORT
"""

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Ticker(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path != "/events":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for n in range(5):
            self.wfile.write(f"id: {n}\ndata: tick {n}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.2)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Ticker).serve_forever()
