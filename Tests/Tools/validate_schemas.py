#!/usr/bin/python3
"""Validates JSON documents against GridHub's JSON Schemas (draft 2020-12).

Usage: validate_schemas.py SCHEMA_DIR PATH...

Each PATH is a JSON file or a directory of them (*.json, not recursive). A file is checked against
the schema named by the start of its base name, up to the first '.', '-' or '_':
`incident.json`, `incident-0007.json` -> `incident.v1.schema.json`.

Prints one JSON object on stdout:
  {"schemas": [...checked schema files...],
   "results": [{"file": ..., "schema": ..., "valid": bool, "errors": ["path: message", ...]}]}
Exit status: 0 when every file is valid, 1 when any is not, 2 on a usage or schema error.
Requires Debian's python3-jsonschema (4.x). Formats are asserted: date-time (RFC 3339 with an offset,
checked here since the optional rfc3339 packages may be missing), uuid, uri (when available).
"""
import datetime
import json
import os
import re
import sys

from jsonschema import Draft202012Validator, FormatChecker

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def make_format_checker():
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value):
        if not isinstance(value, str):
            return True
        if not RFC3339.match(value):
            raise ValueError(f"{value!r} is not an RFC 3339 date-time with an offset")
        text = value.upper().replace("Z", "+00:00")
        date_part, rest = text.split("T", 1)
        clock = rest[:8]
        datetime.datetime.fromisoformat(f"{date_part}T{clock}{rest[-6:]}")
        return True

    return checker


def schema_name(path):
    base = os.path.basename(path)
    return re.split(r"[.\-_]", base, maxsplit=1)[0]


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema_dir = argv[1]
    validators = {}
    for name in sorted(os.listdir(schema_dir)):
        if not name.endswith(".v1.schema.json"):
            continue
        with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
            schema = json.load(f)
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as error:  # a broken schema is a usage error, not an invalid document
            print(f"{name}: not a valid draft 2020-12 schema: {error}", file=sys.stderr)
            return 2
        validators[name.split(".")[0]] = (name, Draft202012Validator(schema, format_checker=make_format_checker()))

    files = []
    for path in argv[2:]:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".json"))
        else:
            files.append(path)

    results = []
    all_valid = True
    for path in files:
        key = schema_name(path)
        if key not in validators:
            results.append({"file": path, "schema": None, "valid": False, "errors": [f"no schema for '{key}'"]})
            all_valid = False
            continue
        schema_file, validator = validators[key]
        try:
            with open(path, encoding="utf-8") as f:
                document = json.load(f)
        except ValueError as error:
            results.append({"file": path, "schema": schema_file, "valid": False, "errors": [f"not JSON: {error}"]})
            all_valid = False
            continue
        errors = [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                  for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]
        all_valid = all_valid and not errors
        results.append({"file": path, "schema": schema_file, "valid": not errors, "errors": errors})

    json.dump({"schemas": sorted(v[0] for v in validators.values()), "results": results}, sys.stdout, ensure_ascii=False)
    print()
    return 0 if all_valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
