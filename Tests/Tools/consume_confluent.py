#!/usr/bin/python3
"""Reads N records from a topic with confluent_kafka (a client GridHub did not write) and prints
one line per record: key, the ce_type header, value. Exits 1 if fewer than N arrive in time."""
import sys
import time
import uuid

from confluent_kafka import Consumer

bootstrap, topic, wanted = sys.argv[1], sys.argv[2], int(sys.argv[3])
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "interop-" + uuid.uuid4().hex,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
})
consumer.subscribe([topic])
seen = 0
deadline = time.time() + 45
while seen < wanted and time.time() < deadline:
    msg = consumer.poll(0.5)
    if msg is None:
        continue
    if msg.error():
        print(f"error: {msg.error()}", file=sys.stderr)
        continue
    headers = dict(msg.headers() or [])
    print(f"{msg.key().decode()}\t{headers.get('ce_type', b'').decode()}\t{msg.value().decode()}")
    seen += 1
consumer.close()
sys.exit(0 if seen == wanted else 1)
