package native

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestAptCacheOrder: extended_states lists packages in apt's cache order;
// the expected order is the file mmdebstrap 1.3.5 (apt 2.6.1) wrote for
// bookworm minbase.
func TestAptCacheOrder(t *testing.T) {
	want := strings.Fields(`libext2fs2 libffi8 libnettle8 libunistring2 libidn2-0 libtasn1-6 libp11-kit0
		libapt-pkg6.0 libsepol2 debian-archive-keyring libcom-err2 gpgv libsemanage2 adduser libxxhash0
		libsemanage-common libseccomp2 libhogweed6 libgnutls30 logsave libss2 libstdc++6`)
	pkgs := make([]Installed, len(want))
	for i, n := range slices.Sorted(slices.Values(want)) {
		pkgs[i] = Installed{Name: n, Architecture: "amd64"}
	}
	sort.SliceStable(pkgs, func(i, j int) bool { return aptCacheLess(pkgs[i], pkgs[j], "amd64") })
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
