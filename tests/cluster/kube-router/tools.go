//go:build tools

// Package tools pins the kube-router command built by ../build.sh netpol (the test
// cluster's NetworkPolicy engine).
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
