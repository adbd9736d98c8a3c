#!/usr/bin/env python3
"""Reads a swift-testing event stream (version 0, JSON Lines) and prints, one per line, a `--filter`
regular expression for every planned test function that did not end and recorded no issue: the tests
a run that stalled had not finished (scripts/test re-runs them in a new process), or "ALL" if it listed
none. With --failed, prints instead the display names of the tests that recorded an issue, finished or
not: their failure stands."""
import json
import re
import sys


def main() -> int:
    failed_mode = sys.argv[1:2] == ["--failed"]
    path = sys.argv[-1]
    planned: dict[str, str] = {}
    ended: set[str] = set()
    failed: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a killed run may be cut short
            payload = record.get("payload", {})
            if record.get("kind") == "test" and payload.get("kind") == "function":
                planned[payload["id"]] = payload.get("displayName") or payload.get("name", "")
            elif record.get("kind") == "event" and payload.get("kind") == "testEnded":
                ended.add(payload.get("testID", ""))
            elif record.get("kind") == "event" and payload.get("kind") == "issueRecorded":
                # A failure is a failure whether or not its test got to end (one that exceeded its time
                # limit and then did not stop is the stall's usual shape).
                issue = payload.get("issue", {})
                test_id = payload.get("testID", "")
                if not issue.get("isKnown") and issue.get("severity", "error") != "warning" and test_id not in failed:
                    failed.append(test_id)
    if failed_mode:
        for test_id in failed:
            print(planned.get(test_id, test_id))
        return 0
    if not planned:
        print("ALL")  # the run stalled before it listed its tests: run all of them again
        return 0
    for test_id in planned:
        if test_id in ended or test_id in failed:
            continue
        # "Module.Suite/function()/File.swift:12:6" → the test's name without its source location.
        name = re.sub(r"/[^/]+\.swift:\d+:\d+$", "", test_id)
        print("^" + re.escape(name) + "(/|$)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
