// Package scheme holds every kind the operator and its tools read or
// write: the built-in kinds and the operator's own.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// New returns a scheme with the built-in kinds and the operator's own.
func New() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := rbgsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}
