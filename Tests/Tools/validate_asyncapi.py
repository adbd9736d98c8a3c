#!/usr/bin/env python3
"""Checks Schemas/asyncapi.yaml against the AsyncAPI 3.0 document structure (the fields each object
may and must have, per the 3.0.0 specification), resolves every $ref (inside the document and to the
JSON Schemas beside it), checks every schema it holds or names is a valid JSON Schema, and validates
every message example against its payload schema and headers. Prints one `topic NAME` line per topic
the document describes (parameters expanded), for the caller to compare with the topics GridHub
creates. Exits 1 with one line per problem.

The official AsyncAPI parser and its JSON Schema are npm packages, which this machine cannot install;
these checks follow the specification's field tables instead.
"""
import json
import os
import re
import sys

import jsonschema
import yaml
from jsonschema import Draft202012Validator, Draft7Validator

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "Schemas", "asyncapi.yaml")
folder = os.path.dirname(os.path.abspath(path))
doc = yaml.safe_load(open(path, encoding="utf-8"))
problems = []

# The fields each object type may have (AsyncAPI 3.0.0), and those it must have.
FIELDS = {
    "document": ({"asyncapi", "id", "info", "servers", "defaultContentType", "channels", "operations", "components"}, {"asyncapi", "info"}),
    "info": ({"title", "version", "description", "termsOfService", "contact", "license", "tags", "externalDocs"}, {"title", "version"}),
    "server": ({"host", "protocol", "protocolVersion", "pathname", "description", "title", "summary", "variables", "security", "tags", "externalDocs", "bindings"}, {"host", "protocol"}),
    "channel": ({"address", "messages", "title", "summary", "description", "servers", "parameters", "tags", "externalDocs", "bindings"}, set()),
    "operation": ({"action", "channel", "title", "summary", "description", "security", "tags", "externalDocs", "bindings", "traits", "messages", "reply"}, {"action", "channel"}),
    "message": ({"headers", "payload", "correlationId", "contentType", "name", "title", "summary", "description", "tags", "externalDocs", "bindings", "examples", "traits"}, set()),
    "parameter": ({"enum", "default", "description", "examples", "location"}, set()),
    "example": ({"headers", "payload", "name", "summary"}, set()),
    "securityScheme": ({"type", "description", "name", "in", "scheme", "bearerFormat", "flows", "openIdConnectUrl", "scopes"}, {"type"}),
    "components": ({"schemas", "servers", "channels", "operations", "messages", "securitySchemes", "serverVariables", "parameters", "correlationIds",
                    "replies", "replyAddresses", "externalDocs", "tags", "operationTraits", "messageTraits", "serverBindings", "channelBindings",
                    "operationBindings", "messageBindings"}, set()),
}
KAFKA_PROTOCOLS = {"kafka", "kafka-secure"}
SECURITY_TYPES = {"userPassword", "apiKey", "X509", "symmetricEncryption", "asymmetricEncryption", "httpApiKey", "http", "oauth2", "openIdConnect",
                  "plain", "scramSha256", "scramSha512", "gssapi"}


def fields(kind, obj, where):
    allowed, required = FIELDS[kind]
    if not isinstance(obj, dict):
        problems.append(f"{where}: a {kind} object must be a map")
        return
    for key in obj:
        if key not in allowed and not key.startswith("x-"):
            problems.append(f"{where}: '{key}' is not a field of a {kind} object")
    for key in required - set(obj):
        problems.append(f"{where}: a {kind} object needs '{key}'")


def resolve(ref, where):
    """A local JSON pointer of the document."""
    if not ref.startswith("#/"):
        problems.append(f"{where}: {ref} is not a pointer into the document")
        return None
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            problems.append(f"{where}: {ref} does not resolve")
            return None
        node = node[part]
    return node


def deref(obj, where):
    return resolve(obj["$ref"], where) if isinstance(obj, dict) and "$ref" in obj else obj


# The JSON Schemas beside the document, for $refs to files.
schemas = {}
for name in os.listdir(folder):
    if name.endswith(".schema.json"):
        schemas["./" + name] = json.load(open(os.path.join(folder, name), encoding="utf-8"))
# Debian 12's jsonschema (4.10) resolves $refs by a RefResolver with a store of the schemas by $id.
store = {s["$id"]: s for s in schemas.values()}

if doc.get("asyncapi") != "3.0.0":
    problems.append("asyncapi must be 3.0.0")
fields("document", doc, "document")
fields("info", doc.get("info", {}), "info")
fields("components", doc.get("components", {}), "components")
for name, scheme in doc.get("components", {}).get("securitySchemes", {}).items():
    fields("securityScheme", scheme, f"securitySchemes.{name}")
    if scheme.get("type") not in SECURITY_TYPES:
        problems.append(f"securitySchemes.{name}: type {scheme.get('type')} is not an AsyncAPI security scheme type")
for name, server in doc.get("servers", {}).items():
    fields("server", server, f"servers.{name}")
    if server.get("protocol") not in KAFKA_PROTOCOLS:
        problems.append(f"servers.{name}: protocol {server.get('protocol')} is not Kafka's")
    for s in server.get("security", []):
        deref(s, f"servers.{name}.security")

messages = doc.get("components", {}).get("messages", {})
for name, message in messages.items():
    where = f"components.messages.{name}"
    fields("message", message, where)
    headers = deref(message.get("headers", {}), where + ".headers")
    if isinstance(headers, dict) and "allOf" in headers:
        headers = {"allOf": [deref(h, where + ".headers") for h in headers["allOf"]]}
    try:
        Draft7Validator.check_schema(headers or {})
    except jsonschema.SchemaError as e:
        problems.append(f"{where}.headers: not a JSON Schema: {e.message}")
    payload = message.get("payload")
    if isinstance(payload, dict) and "schemaFormat" in payload:
        if not payload["schemaFormat"].startswith("application/schema+json"):
            problems.append(f"{where}.payload: schemaFormat {payload['schemaFormat']} is not JSON Schema")
        payload = payload.get("schema")
    if isinstance(payload, dict) and "$ref" in payload and not payload["$ref"].startswith("#"):
        file = payload["$ref"]
        if file not in schemas:
            problems.append(f"{where}.payload: {file} is not a schema beside the document")
            continue
        payload = schemas[file]
    try:
        Draft202012Validator.check_schema(payload)
    except jsonschema.SchemaError as e:
        problems.append(f"{where}.payload: not a JSON Schema: {e.message}")
        continue
    resolver = jsonschema.RefResolver.from_schema(payload, store=store)
    validator = Draft202012Validator(payload, resolver=resolver, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for n, example in enumerate(message.get("examples", [])):
        fields("example", example, f"{where}.examples[{n}]")
        for error in validator.iter_errors(example.get("payload")):
            problems.append(f"{where}.examples[{n}]: {error.json_path}: {error.message}")

parameters = doc.get("components", {}).get("parameters", {})
for name, parameter in parameters.items():
    fields("parameter", parameter, f"components.parameters.{name}")

topics = []
for name, channel in doc.get("channels", {}).items():
    where = f"channels.{name}"
    fields("channel", channel, where)
    address = channel.get("address", "")
    used = set(re.findall(r"\{([^}]+)\}", address))
    declared = set(channel.get("parameters", {}))
    if used != declared:
        problems.append(f"{where}: address parameters {sorted(used)} but declared {sorted(declared)}")
    for m, ref in channel.get("messages", {}).items():
        if deref(ref, f"{where}.messages.{m}") is None:
            continue
    expanded = [address]
    for p in used:
        parameter = deref(channel["parameters"][p], f"{where}.parameters.{p}") or {}
        values = parameter.get("enum")
        if not values:
            problems.append(f"{where}: parameter {p} has no enum, so its topics are unknown")
            continue
        expanded = [a.replace("{" + p + "}", v) for a in expanded for v in values]
    topics += expanded
    kafka = channel.get("bindings", {}).get("kafka")
    if kafka and kafka.get("topic") not in (None, address):
        problems.append(f"{where}: the Kafka binding names topic {kafka.get('topic')}, the address is {address}")

for name, operation in doc.get("operations", {}).items():
    where = f"operations.{name}"
    fields("operation", operation, where)
    if operation.get("action") not in ("send", "receive"):
        problems.append(f"{where}: action must be send or receive")
    channel_ref = operation.get("channel", {}).get("$ref", "")
    if resolve(channel_ref, where + ".channel") is None:
        continue
    for ref in operation.get("messages", []):
        r = ref.get("$ref", "")
        if not r.startswith(channel_ref + "/messages/"):
            problems.append(f"{where}: message {r} is not one of its channel's ({channel_ref})")
        resolve(r, where + ".messages")

described = {m.get("title") for m in messages.values()}
for file, schema in schemas.items():
    ce_type = "gov.gridhub." + os.path.basename(file).split(".")[0] + ".v1"
    if ce_type not in described:
        problems.append(f"no message describes {ce_type} ({file})")

for p in problems:
    print("problem: " + p)
for t in sorted(set(topics)):
    print("topic " + t)
sys.exit(1 if problems else 0)
