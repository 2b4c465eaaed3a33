// Package revision says what of a role shapes its pods, and hashes it. A
// set's revision and a workload's template inputs both hash a role this
// way, so a change of replica counts, or of how instances are replaced,
// never reads as a change of the pods: it moves no group and restarts no
// pod.
package revision

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// PodShaping is a copy of r with only what shapes its pods: its replicas,
// rollout strategy and disruption budget are left out, and a size of 1
// (the default) reads the same written or not.
func PodShaping(r *rbgsv1.RoleSpec) *rbgsv1.RoleSpec {
	out := r.DeepCopy()
	out.Replicas, out.RolloutStrategy, out.DisruptionBudget = nil, nil, nil
	if out.SizeOrDefault() == 1 {
		out.Size = nil
	}
	return out
}

// Hash is the hex of the first n bytes of the SHA-256 of v as JSON; ok is
// false when v does not marshal (never, for the API types).
func Hash(v any, n int) (hash string, ok bool) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:n]), true
}
