//go:build tools

// Package tools pins the CoreDNS command built by ../build.sh.
package tools

import _ "github.com/coredns/coredns"
