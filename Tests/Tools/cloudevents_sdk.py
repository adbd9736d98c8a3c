#!/usr/bin/env python3
"""GridHub and the CloudEvents SDK for Python (PyPI `cloudevents`, its Kafka binding), with
confluent_kafka as the client:

    cloudevents_sdk.py decode BOOTSTRAP TOPIC COUNT   # reads COUNT records, decodes each with from_binary, prints one JSON line each
    cloudevents_sdk.py feedback BOOTSTRAP DISPATCH_ID DEPARTMENT STATUS NOTE   # produces feedback in structured mode (to_structured)
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer

try:  # cloudevents 2.x keeps the 1.x API under v1
    from cloudevents.v1.http import CloudEvent
    from cloudevents.v1.kafka import KafkaMessage, from_binary, to_structured
except ImportError:
    from cloudevents.http import CloudEvent
    from cloudevents.kafka import KafkaMessage, from_binary, to_structured

command, bootstrap = sys.argv[1], sys.argv[2]
if command == "decode":
    topic, count = sys.argv[3], int(sys.argv[4])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ce-sdk-{time.time()}", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, deadline = 0, time.time() + 60
    while seen < count and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        headers = {k: v for k, v in (m.headers() or [])}
        event = from_binary(KafkaMessage(headers=headers, key=m.key(), value=m.value()))
        print(json.dumps({"type": event["type"], "id": event["id"], "source": event["source"], "time": event["time"],
                          "traceparent": event.get("traceparent"), "data": event.data}, ensure_ascii=False), flush=True)
        seen += 1
    consumer.close()
    sys.exit(0 if seen >= count else 1)
elif command == "feedback":
    dispatch_id, department, status, note = sys.argv[3:7]
    event = CloudEvent({"type": "gov.gridhub.feedback.v1", "source": f"/department/{department}", "datacontenttype": "application/json"},
                       {"dispatchId": dispatch_id, "department": department, "status": status, "note": note,
                        "at": time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600))})
    message = to_structured(event, key_mapper=lambda e: e.data["dispatchId"])
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("gridhub.feedback.v1", key=message.key, value=message.value, headers=list(message.headers.items()))
    left = producer.flush(30)
    print(json.dumps({"id": event["id"], "headers": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in message.headers.items()}}), flush=True)
    sys.exit(0 if left == 0 else 1)
