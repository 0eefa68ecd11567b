"""The demo server over real HTTP on 127.0.0.1, so the real ``zenml-devices`` process can be measured
(its own RSS, its own terminal output) against any number of devices.

    python -m bench.demo_http --devices 10000

prints one JSON line ``{"url", "token", "first_hostname", "devices"}`` once it is ready, then serves
until its standard input closes. Requests are answered one at a time by the demo server's
``httpx`` transport, in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx

from zenml_devices_tui.demo.server import DemoServer

BENCH_USER_AGENT = "Host/bench-runner ZenML/0.98.0 Python/3.11.7 OS/Linux"


def serve(demo: DemoServer, host: str = "127.0.0.1", port: int = 0) -> HTTPServer:
    loop = asyncio.new_event_loop()
    base = str(demo.base_url).rstrip("/")

    class Bridge(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in ("host", "connection")]
            request = httpx.Request(self.command, base + self.path, headers=headers, content=body)

            async def answer() -> httpx.Response:
                response = await demo.transport.handle_async_request(request)
                await response.aread()
                return response

            response = loop.run_until_complete(answer())
            content = response.content
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, *args: object) -> None:
            pass

    return HTTPServer((host, port), Bridge)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    args = parser.parse_args()
    demo = DemoServer(device_count=args.devices, live=False, auto_approve_after=None)
    _, token = demo.device_token(user_agent=BENCH_USER_AGENT)
    mine = [d.hostname for d in demo.devices.values() if d.user_id == demo.user_id and d.hostname]
    first = min(mine, key=str.casefold)
    server = serve(demo)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"url": url, "token": token, "first_hostname": first,
                      "devices": len(mine)}), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    server.shutdown()


if __name__ == "__main__":
    main()
