"""A small orchestrator stand-in for the e2e: accepts trigger events over HTTP and records them.

Every POST is answered 200 and recorded with its Idempotency-Key and the event's output number, so the
e2e can count lost numbers, repeated posts (same key) and duplicated events (same number, new key).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Dispatcher:
    def __init__(self, host: str, port: int) -> None:
        self.posts: list[tuple[str, int | None]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                number = None
                try:
                    body = json.loads(raw)
                    output = body.get("body", {}).get("output", body.get("output", {}))
                    number = int(output["number"])
                except (ValueError, KeyError, TypeError, AttributeError):
                    pass
                with outer.lock:
                    outer.posts.append((self.headers.get("Idempotency-Key", ""), number))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Dispatcher:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def count(self) -> int:
        with self.lock:
            return len(self.posts)

    def max_number(self) -> int:
        with self.lock:
            return max((n for _, n in self.posts if n is not None), default=0)

    def summary(self) -> dict[str, int]:
        with self.lock:
            posts = list(self.posts)
        keys_by_number: dict[int, set[str]] = {}
        for key, number in posts:
            if number is not None:
                keys_by_number.setdefault(number, set()).add(key)
        top = max(keys_by_number, default=0)
        distinct_keys = {key for key, _ in posts}
        return {
            "posts": len(posts),
            "events": len(keys_by_number),
            "max_number": top,
            "lost": len(set(range(1, top + 1)) - keys_by_number.keys()),
            "duplicated": sum(len(keys) - 1 for keys in keys_by_number.values()),
            "repeated_posts": len(posts) - len(distinct_keys),
            "unparsed": sum(1 for _, n in posts if n is None),
        }
