"""Validates JSON documents (a list on stdin) against a JSON schema; prints one line per violation.

usage: validate.py json|crd SCHEMA_FILE
  json: SCHEMA_FILE is a JSON schema (the compose-spec schema declares its own draft).
  crd:  SCHEMA_FILE is a CustomResourceDefinition (YAML); each document is checked against the
        openAPIV3Schema of its apiVersion. A field the API server would prune (not in the schema, no
        x-kubernetes-preserve-unknown-fields) counts as a violation, like kubectl's strict validation.
"""
import json
import sys

import jsonschema
import yaml


def strict(node):
    if isinstance(node, dict):
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


def main():
    kind, path = sys.argv[1], sys.argv[2]
    docs = json.load(sys.stdin)
    with open(path) as f:
        if kind == "json":
            schema = json.load(f)
            schemas = {None: schema}
        else:
            crd = yaml.safe_load(f)
            group = crd["spec"]["group"]
            schemas = {
                f"{group}/{v['name']}": strict(v["schema"]["openAPIV3Schema"])
                for v in crd["spec"]["versions"]
                if v.get("served")
            }
    for i, doc in enumerate(docs):
        schema = schemas.get(None) or schemas.get(doc.get("apiVersion"))
        if schema is None:
            print(f"document {i}: apiVersion {doc.get('apiVersion')} is not served by {path}")
            continue
        validator = jsonschema.validators.validator_for(schema)(schema)
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            print(f"document {i}: {where}: {error.message}")


main()
