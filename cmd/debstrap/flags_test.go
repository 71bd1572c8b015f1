package main

import (
	"slices"
	"testing"
)

// --include splits on commas and spaces, except an argument that starts
// as a path or an apt pattern does, which is kept whole (mmdebstrap's rule).
func TestListFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"a,b c", "d"}, []string{"a", "b", "c", "d"}},
		{[]string{",,a,,"}, []string{"a"}},
		{[]string{"/debs/my pkg,1.deb"}, []string{"/debs/my pkg,1.deb"}},
		{[]string{"./x.deb", "../y.deb", "curl"}, []string{"./x.deb", "../y.deb", "curl"}},
		{[]string{"?priority(required)"}, []string{"?priority(required)"}},
		{[]string{" ./x.deb,curl"}, []string{"./x.deb", "curl"}},
	} {
		var l listFlag
		for _, a := range tc.args {
			if err := l.Set(a); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(l, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.args, l, tc.want)
		}
	}
}
