package v1alpha1

// Defaults of optional fields, for readers of objects that the API server
// has not defaulted (built in code, or from before a default existed).

// PartitionOrZero is the rollout's partition, 0 when unset.
func (r *RolloutStrategy) PartitionOrZero() int32 {
	if r.Partition == nil {
		return 0
	}
	return *r.Partition
}
