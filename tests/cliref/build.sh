#!/usr/bin/env bash
# Builds the reference Databricks CLI and the CLI team's fake workspace
# server (libs/testserver, wrapped by main.go) into target/cliref/bin/, from
# the version this folder's go.mod pins. A build already there for the same
# go.mod and main.go is reused. Needs Go and the Go module proxy; prints the
# folder on success.
#
# The version: issue 12 names v1.13.0, which the Go module proxy does not
# serve (403); v0.298.0 is the newest version it serves (2026-11-30).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/cliref/bin"
version="$(cd "$here" && go list -m -f '{{.Version}}' github.com/databricks/cli)"
stamp="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -d' ' -f1)"
if [ -x "$out/databricks" ] && [ -x "$out/testserver" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$out"
    exit 0
fi
mkdir -p "$out"
rm -f "$out/.stamp"
cd "$here"
go mod download >&2
# Stamp the version as the CLI's release build does, so `databricks
# --version` and the User-Agent name it.
ldflags="-X github.com/databricks/cli/internal/build.buildVersion=${version#v}"
go build -trimpath -ldflags "$ldflags" -o "$out/databricks" github.com/databricks/cli >&2
go build -trimpath -o "$out/testserver" . >&2
echo "$stamp" > "$out/.stamp"
echo "$out"
