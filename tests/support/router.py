"""A stand-in for Heroku's router, for tests: forwards each request to a dyno,
appending the address it saw to X-Forwarded-For and adding the headers the real
router adds (X-Forwarded-Proto and -Port, X-Request-Id, X-Request-Start, Via).

A client may send X-Forwarded-For more than once. `merge="one"` joins them into
one header and appends there, as most proxies do; `merge="first"` appends to the
first and passes the rest on as sent, as Heroku's router does."""

import http.client
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade"}


class Router:
    def __init__(self, upstream_url: str, proto: str = "https", merge: str = "one"):
        upstream = urlsplit(upstream_url)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = [
                    (name, value)
                    for name, value in self.headers.items()
                    if name.lower() not in HOP_BY_HOP
                    and name.lower() != "x-forwarded-for"
                ]
                seen = self.headers.get_all("X-Forwarded-For", [])
                if merge == "first" and seen:
                    first, *rest = seen
                    forwarded = [f"{first}, {self.client_address[0]}", *rest]
                else:
                    forwarded = [", ".join([*seen, self.client_address[0]])]
                headers += [("X-Forwarded-For", value) for value in forwarded]
                headers += [
                    ("X-Forwarded-Proto", proto),
                    ("X-Forwarded-Port", "443" if proto == "https" else "80"),
                    ("X-Request-Id", str(uuid.uuid4())),
                    ("X-Request-Start", str(int(time.time() * 1000))),
                    ("Via", "1.1 vegur"),
                ]
                connection = http.client.HTTPConnection(
                    upstream.hostname, upstream.port, timeout=30
                )
                connection.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for name, value in headers:
                    connection.putheader(name, value)
                connection.endheaders(body)
                response = connection.getresponse()
                payload = response.read()
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                connection.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = forward

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
