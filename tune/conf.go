package tune

import (
	"maps"
	"slices"
	"strings"
)

// Conf is the PYTORCH_CUDA_ALLOC_CONF value that gives the pytorch
// policy's params in PyTorch: "key:value" pairs sorted by key, joined by
// commas, leaving out knobs at PyTorch's default (so that a value that
// only undoes a recorded setting, like max_split_size_mb=unlimited,
// disappears). expandable_segments is written True, as PyTorch's docs do.
func Conf(params map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		if sameValue(k, "", v) {
			continue
		}
		if k == "expandable_segments" {
			v = "True"
		}
		parts = append(parts, k+":"+v)
	}
	return strings.Join(parts, ",")
}
