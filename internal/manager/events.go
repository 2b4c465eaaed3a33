package manager

import (
	"fmt"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// maxNote is the longest note the API server accepts in an Event.
const maxNote = 1024

// boundedRecorder shortens notes to what an Event can hold: the API server
// rejects a longer one, and the event would be lost.
type boundedRecorder struct {
	events.EventRecorder
}

func (r boundedRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", truncate(fmt.Sprintf(note, args...), maxNote))
}

// truncate shortens s to at most n bytes, on a rune boundary, ending in
// "..." when it cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
