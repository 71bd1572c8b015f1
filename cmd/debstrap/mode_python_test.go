package main

import (
	"testing"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/deb"
)

// TestPythonFreeRest: the deferred byte-compiling may go on beside
// dpkg's step only when no script that step runs — of a package left, or
// the triggered postinst of a package with an interest — mentions
// Python.
func TestPythonFreeRest(t *testing.T) {
	ctrl := func(name string, files map[string]string) *deb.Control {
		st, err := deb.ParseStanza([]byte("Package: " + name + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		c := &deb.Control{Stanza: st, Files: map[string]deb.File{}}
		for n, d := range files {
			c.Files[n] = deb.File{Name: n, Data: []byte(d)}
		}
		return c
	}
	b := &bootstrap.Build{Controls: []*deb.Control{
		ctrl("pg", map[string]string{"postinst": "#!/bin/sh\ninitdb\n"}),
		ctrl("pyapp", map[string]string{"postinst": "#!/bin/sh\npy3compile -p pyapp\n"}),
		ctrl("man-db", map[string]string{"triggers": "interest /usr/share/man\n", "postinst": "#!/bin/sh\nmandb\n"}),
	}}
	for _, tc := range []struct {
		left []string
		want bool
	}{
		{[]string{"pg"}, true},
		{[]string{"pg", "pyapp"}, false},
		{[]string{"pyapp:amd64"}, false},
		{nil, true},
	} {
		if got := pythonFreeRest(b, tc.left); got != tc.want {
			t.Errorf("left %v: %v, want %v", tc.left, got, tc.want)
		}
	}
	b.Controls = append(b.Controls, ctrl("pytrig", map[string]string{"triggers": "interest-noawait foo\n", "postinst": "#!/bin/sh\npython3 -c x\n"}))
	if pythonFreeRest(b, []string{"pg"}) {
		t.Error("a trigger's postinst mentioning python was not seen")
	}
}
