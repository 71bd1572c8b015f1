package dpkg

import (
	"sort"
	"strings"
)

// dpkg-divert and dpkg-statoverride write their files by walking dpkg's
// in-memory table of paths, so entries come out in the order of that
// table's buckets: a 32-bit FNV-1a hash of the path (leading "/" and "./"
// skipped) modulo a prime. Matching it makes the files byte-identical;
// the order was checked against dpkg-divert 1.21 with 31 paths.
const fsysBins = 262139

// fsysBin returns the bucket of path. C's char is signed on some
// architectures and unsigned on others, which changes the hash of bytes
// above 0x7f; dpkg of the target architecture writes these files.
func fsysBin(path string, signedChar bool) uint32 {
	for {
		if strings.HasPrefix(path, "/") {
			path = path[1:]
		} else if strings.HasPrefix(path, "./") {
			path = path[2:]
		} else {
			break
		}
	}
	h := uint32(2166136261)
	for i := 0; i < len(path); i++ {
		c := uint32(path[i])
		if signedChar && c >= 0x80 {
			c |= 0xffffff00 // sign extension of a negative char
		}
		h ^= c
		h *= 16777619
	}
	return h % fsysBins
}

// unsignedCharArches are the Debian architectures whose C ABI has an
// unsigned char.
var unsignedCharArches = map[string]bool{
	"arm64": true, "armel": true, "armhf": true, "arm": true,
	"ppc64el": true, "ppc64": true, "powerpc": true,
	"s390x": true, "s390": true, "riscv64": true,
}

// sortFsys orders paths as dpkg's table walk would; paths in the same
// bucket keep their insertion order.
func sortFsys[T any](items []T, path func(T) string, arch string) {
	signed := !unsignedCharArches[arch]
	sort.SliceStable(items, func(i, j int) bool {
		return fsysBin(path(items[i]), signed) < fsysBin(path(items[j]), signed)
	})
}
