package bootstrap

import "testing"

func TestLookupUID(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n")
	for _, tc := range []struct {
		name string
		want int
	}{{"root", 0}, {"_apt", 42}, {"nobody", -1}} {
		if got := lookupUID(passwd, tc.name); got != tc.want {
			t.Errorf("lookupUID(%q) = %d, want %d", tc.name, got, tc.want)
		}
	}
}
