"""A real SMTP server on loopback (aiosmtpd) that writes every message it
receives as one JSON line: the hub's notification test reads them back.

usage: sink.py PORT OUT.jsonl   (prints "READY <port>" once listening)
"""
import json
import sys
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        body = msg.get_body(preferencelist=("plain",))
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "subject": str(msg["subject"]),
                "body": body.get_content() if body else "",
            }, ensure_ascii=False) + "\n")
        return "250 OK"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    c = Controller(Sink(out), hostname="127.0.0.1", port=port)
    c.start()
    print(f"READY {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()


if __name__ == "__main__":
    main()
