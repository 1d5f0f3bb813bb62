"""A webhook receiver for the tests. Every delivery is verified with `standardwebhooks`, Standard
Webhooks' own Python library (not our code), and recorded; the test chooses what it answers.

    python receiver.py <port> <secret>

POST /hook        a delivery: verified, logged, answered with the current status
GET  /_log        every delivery so far (id, headers, body, verified, error, answered)
POST /_mode       {"status": 200 | 500 | 410 ...}: what deliveries are answered from now on
POST /_verify     {"body": ..., "headers": {...}}: the library's verdict on a delivery the test made up
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT, SECRET = int(sys.argv[1]), sys.argv[2]
HOOK = Webhook(SECRET)
LOCK = threading.Lock()
LOG = []
MODE = {"status": 200}
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type")


def verdict(body, headers):
    try:
        HOOK.verify(body, headers)
        return True, None
    except WebhookVerificationError as e:
        return False, str(e)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_log":
            with LOCK:
                return self.answer(200, LOG)
        self.answer(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        if self.path == "/_mode":
            MODE.update(json.loads(body))
            return self.answer(200, MODE)
        if self.path == "/_verify":
            asked = json.loads(body)
            ok, error = verdict(asked["body"], asked["headers"])
            return self.answer(200, {"ok": ok, "error": error})
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok, error = verdict(body, headers)
        status = MODE["status"]
        with LOCK:
            LOG.append({
                "id": headers.get("webhook-id"),
                "headers": {k: headers.get(k) for k in HEADERS},
                "body": body,
                "verified": ok,
                "error": error,
                "answered": status,
            })
        self.answer(status, {})


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
