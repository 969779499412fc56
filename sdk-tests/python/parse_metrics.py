"""Parses Prometheus text (the file named by the first argument, else stdin) with the official Python client's parser
and prints what it read as JSON, for tests/metrics.rs:

    {"families": {"<name>": "<type>", ...},
     "samples": [["<sample name>", {"<label>": "<value>"}, <value>], ...]}

A text the parser refuses makes this exit non-zero with its error."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as f:
            text = f.read()
    else:
        text = sys.stdin.read()
    families = {}
    samples = []
    for family in text_string_to_metric_families(text):
        if family.name in families:
            raise SystemExit(f"family {family.name} appears twice")
        families[family.name] = family.type
        for s in family.samples:
            samples.append([s.name, dict(s.labels), s.value])
    json.dump({"families": families, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
