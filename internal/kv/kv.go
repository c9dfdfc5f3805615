// Package kv formats key=value parameter maps the same way everywhere.
package kv

import (
	"slices"
	"strings"
)

// Format prints m as key=value pairs sorted by key, joined by sep.
func Format(m map[string]string, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, sep)
}
