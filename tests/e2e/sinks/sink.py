"""A mail or chat sink for the end-to-end test: keeps every message it receives.

  sink.py smtp      SMTP on port 25 (as Alertmanager's smarthost smtp-relay:25 expects; Docker
                    lets an unprivileged user bind it inside a container)
  sink.py webhook   HTTP POST on port 8080 (a Slack-compatible incoming webhook)

Either way, GET http://127.0.0.1:8025/messages answers the messages received so far as a JSON list
of {"from", "to", "body"} (SMTP) or {"path", "body"} (webhook).
"""
import asyncio
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

messages: list[dict] = []
lock = threading.Lock()


def keep(message: dict):
    with lock:
        messages.append(message)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            body = json.dumps(messages).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode(errors="replace")
        keep({"path": self.path, "body": body})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def serve_http(port: int):
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


class MailHandler:
    async def handle_DATA(self, server, session, envelope):
        keep({"from": envelope.mail_from, "to": envelope.rcpt_tos,
              "body": envelope.content.decode(errors="replace")})
        return "250 OK"


def main():
    kind = sys.argv[1]
    if kind == "webhook":
        threading.Thread(target=serve_http, args=(8025,), daemon=True).start()
        serve_http(8080)
    elif kind == "smtp":
        from aiosmtpd.controller import Controller
        threading.Thread(target=serve_http, args=(8025,), daemon=True).start()
        Controller(MailHandler(), hostname="0.0.0.0", port=25).start()
        threading.Event().wait()
    else:
        sys.exit(f"usage: {sys.argv[0]} smtp | webhook")


if __name__ == "__main__":
    main()
