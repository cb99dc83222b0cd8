"""A minimal OpenAI-compatible HTTP server that answers every request after a fixed delay.

It exists to measure client-side concurrency: with a fixed latency L and C requests in flight,
the ideal throughput is C / L, and anything below it is the client's own overhead.

    python benchmarks/slow_server.py --port 0 --delay 0.05

prints "listening on PORT" once ready, then serves until killed. Only the standard library is
used (asyncio streams, HTTP/1.1 with keep-alive), so the server costs little CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

COMPLETION_TOKENS = 8
ANSWER = "[1, 2, 3]"


def chat_body(request: dict, counter: int) -> dict:
    prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
    prompt_tokens = max(1, len(prompt.split()))
    return {
        "id": f"chatcmpl-{counter}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "slow"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": COMPLETION_TOKENS,
                  "total_tokens": prompt_tokens + COMPLETION_TOKENS},
    }


class SlowServer:
    def __init__(self, delay: float):
        self.delay = delay
        self.served = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one connection carries many requests
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                await asyncio.sleep(self.delay)
                self.served += 1
                if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
                    status, payload = "200 OK", chat_body(json.loads(body or b"{}"), self.served)
                elif method == "GET" and path.rstrip("/").endswith("/models"):
                    status, payload = "200 OK", {"object": "list", "data": [{"id": "slow", "object": "model"}]}
                else:
                    status, payload = "404 Not Found", {"error": {"message": f"no route {method} {path}"}}
                data = json.dumps(payload).encode()
                writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n".encode() + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        finally:
            writer.close()


async def serve(port: int, delay: float) -> None:
    server = SlowServer(delay)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)
    print(f"listening on {listener.sockets[0].getsockname()[1]}", flush=True)
    async with listener:
        await listener.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds before each answer")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.port, args.delay))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
