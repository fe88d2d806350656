//go:build tools

// Package tools pins chart-testing (`ct`) for tools.mk, which builds it with `go build` from
// this module: the module proxy serves v3.14.0 itself but not chart-testing's version list,
// which `go install ct@VERSION` reads. Only go.mod/go.sum and this file are in the repository.
package tools

import _ "github.com/helm/chart-testing/v3/ct"
