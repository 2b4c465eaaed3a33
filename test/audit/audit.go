// Package audit counts one user's requests in the local cluster's API
// server audit log (hack/cluster.sh writes it at Metadata level).
package audit

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
)

// Log counts the requests one user made, from the API server's audit
// log: server-side counts, which client metrics can miss.
type Log struct {
	// Path of the audit log file.
	Path string
	// User whose requests are counted.
	User string
	// Namespace, when set, counts only requests in it.
	Namespace string
	offset    int64
}

// Counts are the requests of one window, by verb.
type Counts struct {
	Requests int            `json:"requests"`
	Writes   int            `json:"writes"`
	ByVerb   map[string]int `json:"byVerb"`
	// Writes by "verb resource[/subresource]".
	WritesBy map[string]int `json:"writesBy"`
	// Writes by "verb resource[/subresource] name".
	WritesTo map[string]int `json:"-"`
}

// Mark starts a new window at the current end of the log.
func (a *Log) Mark() error {
	st, err := os.Stat(a.Path)
	if err != nil {
		return err
	}
	a.offset = st.Size()
	return nil
}

// Count returns the user's requests since the last mark, and marks again.
func (a *Log) Count() (Counts, error) {
	c := Counts{ByVerb: map[string]int{}, WritesBy: map[string]int{}, WritesTo: map[string]int{}}
	f, err := os.Open(a.Path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return c, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	seen := map[string]bool{}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			a.offset += int64(len(line))
			var e struct {
				AuditID string `json:"auditID"`
				Verb    string `json:"verb"`
				User    struct {
					Username string `json:"username"`
				} `json:"user"`
				ObjectRef struct {
					Resource    string `json:"resource"`
					Subresource string `json:"subresource"`
					Namespace   string `json:"namespace"`
					Name        string `json:"name"`
				} `json:"objectRef"`
			}
			if json.Unmarshal(line, &e) == nil && e.User.Username == a.User && !seen[e.AuditID] &&
				(a.Namespace == "" || e.ObjectRef.Namespace == a.Namespace) {
				seen[e.AuditID] = true
				c.Requests++
				c.ByVerb[e.Verb]++
				switch e.Verb {
				case "create", "update", "patch", "delete", "deletecollection":
					c.Writes++
					what := e.Verb + " " + e.ObjectRef.Resource
					if e.ObjectRef.Subresource != "" {
						what += "/" + e.ObjectRef.Subresource
					}
					c.WritesBy[what]++
					c.WritesTo[what+" "+e.ObjectRef.Name]++
				}
			}
		}
		if err != nil {
			break
		}
	}
	return c, nil
}
