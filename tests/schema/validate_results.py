#!/usr/bin/env python3
"""Validates servelab result.json and matrix.json files against their JSON Schemas.

Usage: validate_results.py [--allow-empty] SCHEMA_DIR FILE_OR_DIR...

SCHEMA_DIR holds result.schema.json and matrix.schema.json (docs/schema). Each
FILE is validated; each DIR is searched recursively for files named
result.json and matrix.json. A file's schema is chosen by its top-level
version key ("servelab_result" or "servelab_matrix"), else by its name
(matrix.json, or *result.json).

Prints "ok PATH" per valid file and "FAIL PATH: <json path>: <message>" for
every error of an invalid one, then a count line. Exit status: 0 when every
file is valid, 1 when one is not or no file was found (unless --allow-empty:
ctest's check of the results the tests kept, when a filtered run kept none),
2 on usage errors (bad arguments, a missing or invalid schema).

Needs python3-jsonschema >= 4.0 (Draft202012Validator; Debian's 4.10 is enough).
"""

import json
import math
import os
import re
import sys

try:
    import jsonschema
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write("validate_results.py: needs the jsonschema module (apt install python3-jsonschema)\n")
    sys.exit(2)

USAGE = "usage: validate_results.py [--allow-empty] SCHEMA_DIR FILE_OR_DIR..."

# kind -> (schema file, top-level version key, file name found in directories)
KINDS = {
    "result": ("result.schema.json", "servelab_result", "result.json"),
    "matrix": ("matrix.schema.json", "servelab_matrix", "matrix.json"),
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Messages quote the offending value: a histogram encoding is kilobytes long.
_MAX_MESSAGE = 300


def usage_error(message):
    sys.stderr.write(f"validate_results.py: {message}\n{USAGE}\n")
    sys.exit(2)


def json_path(parts):
    """'$.summary.requests', '$.timeline[0].second', "$.summary.status_codes['200']"."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += "['" + part.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return out


def load_validators(schema_dir):
    if not os.path.isdir(schema_dir):
        usage_error(f"{schema_dir}: not a directory")
    validators = {}
    for kind, (file_name, _, _) in KINDS.items():
        path = os.path.join(schema_dir, file_name)
        try:
            with open(path, encoding="utf-8") as f:
                schema = json.load(f)
        except (OSError, ValueError) as e:
            usage_error(f"{path}: cannot read the schema: {e}")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            usage_error(f"{path}: not a valid draft 2020-12 schema: "
                        f"{json_path(e.absolute_path)}: {e.message}")
        validators[kind] = jsonschema.Draft202012Validator(schema)
    return validators


def find_files(args):
    names = {name for (_, _, name) in KINDS.values()}
    files = []
    for arg in args:
        if os.path.isdir(arg):
            found = []
            for root, dirs, entries in os.walk(arg):
                dirs.sort()
                found.extend(os.path.join(root, e) for e in entries if e in names)
            files.extend(sorted(found))
        elif os.path.isfile(arg):
            files.append(arg)
        else:
            usage_error(f"{arg}: no such file or directory")
    return files


def _refuse_constant(name):
    # Python's json reads NaN/Infinity; JSON (and servelab's reader) does not.
    raise ValueError(f"{name} is not valid JSON")


def non_finite(value, parts=()):
    """Paths of numbers that are not finite (1e999 reads as infinity)."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [list(parts)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite(v, (*parts, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in non_finite(v, (*parts, i))]
    return []


def kind_of(doc, path):
    if isinstance(doc, dict):
        present = [kind for kind, (_, key, _) in KINDS.items() if key in doc]
        if len(present) == 1:
            return present[0]
    base = os.path.basename(path)
    if base == "matrix.json":
        return "matrix"
    if base.endswith("result.json"):
        return "result"
    return None


def errors_of(path, validators):
    """(json path, message) of each error of the file at `path`; empty when valid."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f, parse_constant=_refuse_constant)
    except OSError as e:
        return [("$", f"cannot read: {e.strerror}")]
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        return [("$", f"not JSON: {e}")]
    kind = kind_of(doc, path)
    if kind is None:
        return [("$", "not a servelab result or matrix file: no top-level "
                      "\"servelab_result\" or \"servelab_matrix\" key")]
    errors = [(json_path(p), "number out of range (not finite)") for p in non_finite(doc)]
    for e in validators[kind].iter_errors(doc):
        message = e.message
        if len(message) > _MAX_MESSAGE:
            message = message[:_MAX_MESSAGE] + "..."
        errors.append((json_path(e.absolute_path), message))
    return sorted(errors)


def main(argv):
    allow_empty = len(argv) > 1 and argv[1] == "--allow-empty"
    if allow_empty:
        argv = argv[:1] + argv[2:]
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        if len(argv) >= 2 and argv[1] in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        usage_error("expected a schema folder and at least one file or folder")
    validators = load_validators(argv[1])
    files = find_files(argv[2:])
    failed = 0
    for path in files:
        errors = errors_of(path, validators)
        if not errors:
            print(f"ok {path}")
            continue
        failed += 1
        for where, message in errors:
            print(f"FAIL {path}: {where}: {message}")
    if not files:
        print("0 files: no result.json or matrix.json found")
        return 0 if allow_empty else 1
    print(f"{len(files)} file{'s' if len(files) != 1 else ''}: "
          f"{len(files) - failed} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
