package resolve

// CompareVersions orders two Debian version strings as dpkg and apt do:
// epoch numerically, then upstream version and revision with the dpkg
// algorithm ('~' sorts before everything, even the end of the string;
// letters before non-letters; digit runs numerically). A missing epoch is 0
// and a missing revision compares equal to "0", as in dpkg.
//
// It works on the strings directly, without allocating: the resolver
// compares versions in its inner loops (candidate selection, relation
// checks), where pault.ag/go/debian/version's Parse+Compare allocates per
// call. FuzzVersionCompare checks the two agree.
func CompareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := compareEpoch(ea, eb); c != 0 {
		return c
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

// splitVersion splits [epoch:]upstream[-revision]. The epoch is everything
// before the first ':' (when all digits); the revision is after the last '-'.
func splitVersion(v string) (epoch, upstream, revision string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ':' {
			epoch, v = v[:i], v[i+1:]
			break
		}
		if c < '0' || c > '9' {
			break
		}
	}
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '-' {
			return epoch, v[:i], v[i+1:]
		}
	}
	return epoch, v, ""
}

func compareEpoch(a, b string) int {
	a, b = trimZeros(a), trimZeros(b)
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func trimZeros(s string) string {
	for len(s) > 0 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// order is dpkg's character weight for the non-digit parts.
func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		return int(c)
	case c == '~':
		return -1
	case c == 0:
		return 0
	}
	return int(c) + 256
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// verrevcmp is dpkg's comparison of an upstream version or a revision.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	at := func(s string, k int) byte {
		if k < len(s) {
			return s[k]
		}
		return 0
	}
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := order(at(a, i)), order(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}
