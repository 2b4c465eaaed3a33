//go:build tools

// Package tools pins helm, which renders the chart in charts/rbgs for the
// tests.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
