//go:build tools

// Package tools pins the CNCF Distribution registry command built by ../build.sh registry.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
