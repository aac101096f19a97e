#!/usr/bin/env python3
"""Derive schema.txt (beside this file) from the Databricks CLI's bundle schema.

The CLI's `bundle/schema/jsonschema.json` is generated from its Go types, and
`bundle/internal/validation/generated/{required,enum}_fields.go` list the
required fields and enum values its `validate.Required` and `validate.Enum`
check. Only the facts validate needs are kept: for each type its kind and the
names and types of its fields; the required and enum patterns. No
descriptions, nothing else. Run after a CLI version bump:

    python3 xtask/src/config/schema_gen.py \
        "$(go env GOMODCACHE)/github.com/databricks/cli@v0.298.0" > xtask/src/config/schema.txt

Output: first the types, one per line, the line number (from 0, after the `#`
header lines) being the type's id; line 0 is the configuration's root:
    s | i | f | b | a          string, integer, number, boolean, anything
    e V1 V2 ...                string enum (values the normalizer accepts as strings)
    l ID                       list of ID
    m ID                       map (string keys) of ID
    o NAME:ID ...              object with fields
then the checks, each on a line of its own:
    R PATTERN FIELD ...        the value at PATTERN should have each FIELD
    E PATTERN VALUE ...        the string at PATTERN should be one of VALUE
"""
import json
import re
import sys

REF = "#/$defs/"
READONLY = {"github.com/databricks/cli/bundle/config/variable.Variable": ["value"]}


def main():
    module = sys.argv[1].rstrip("/")
    src = f"{module}/bundle/schema/jsonschema.json"
    schema = json.load(open(src))
    defs = {}

    def collect(d, prefix):
        for k, v in d.items():
            name = f"{prefix}/{k}" if prefix else k
            if isinstance(v, dict) and any(x in v for x in ("type", "oneOf", "anyOf", "$ref")):
                defs[name] = v
            elif isinstance(v, dict):
                collect(v, name)

    collect(schema["$defs"], "")
    # Fields of the CLI's typed model that its schema leaves out (`readonly`
    # in Go) but its loader accepts: a variable's `value` is its value.
    for name, fields in READONLY.items():
        props = defs[name].setdefault("properties", {})
        for f in fields:
            props.setdefault(f, {})
    ids = {}
    lines = []

    def first(v):
        # The first alternative is the typed one; the others admit `${...}`.
        if "oneOf" in v:
            return v["oneOf"][0]
        if "anyOf" in v:
            return None  # a target variable: a value or a declaration
        return v

    def type_id(ref_or_schema):
        if "$ref" in ref_or_schema:
            name = ref_or_schema["$ref"][len(REF):]
            if name in ids:
                return ids[name]
            v = defs.get(name)
            ids[name] = len(lines)
            lines.append(None)
            lines[ids[name]] = line_for(v) if v is not None else "a"
            return ids[name]
        i = len(lines)
        lines.append(None)
        lines[i] = line_for(ref_or_schema)
        return i

    def line_for(v):
        t = first(v)
        if t is None:
            return "a"
        ty = t.get("type")
        if ty == "object" and "properties" in t:
            fields = []
            for f, fv in sorted(t["properties"].items()):
                fields.append(f"{f}:{type_id(fv)}")
            return "o " + " ".join(fields)
        if ty == "object" and "additionalProperties" in t:
            ap = t["additionalProperties"]
            return f"m {type_id(ap) if isinstance(ap, dict) and ap else any_id()}"
        if ty == "array":
            return f"l {type_id(t['items'])}"
        if ty == "string" and "enum" in t:
            return "e " + " ".join(sorted(t["enum"]))
        return {"string": "s", "integer": "i", "number": "f", "boolean": "b"}.get(ty, "a")

    any_cache = {}

    def any_id():
        if "a" not in any_cache:
            any_cache["a"] = len(lines)
            lines.append("a")
        return any_cache["a"]

    root = {"type": "object", "properties": schema["properties"]}
    lines.append(None)
    lines[0] = line_for(root)
    version = module.split("@")[-1] if "@" in module else "?"
    print(f"# Derived from the Databricks CLI ({version}) by schema_gen.py: field names and types,")
    print("# required fields and enum values only. See schema_gen.py for the source files and the format.")
    for line in lines:
        print(line)
    generated = f"{module}/bundle/internal/validation/generated"
    for tag, name in (("R", "required_fields.go"), ("E", "enum_fields.go")):
        text = open(f"{generated}/{name}").read()
        for m in sorted(re.finditer(r'"([^"]+)":\s*\{([^}]*)\}', text), key=lambda m: m.group(1)):
            print(tag, m.group(1), " ".join(re.findall(r'"([^"]+)"', m.group(2))))


if __name__ == "__main__":
    main()
