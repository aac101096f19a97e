//go:build tools

// The reference CLI is built from this module too (`go build
// github.com/databricks/cli`), so its version is pinned once, in go.mod.
package main

import _ "github.com/databricks/cli"
