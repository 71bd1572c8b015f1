package dpkg

import (
	"fmt"
	"strings"
)

// interest is one "interest" directive of a package's triggers control
// file (deb-triggers(5)).
type interest struct {
	name    string // a trigger name, or an absolute path for a file trigger
	noawait bool
}

// parseTriggers returns the interests a triggers control file declares,
// in file order. Activations need no record: dpkg only notes them for
// packages that are already configured, and every package this database
// holds was unpacked in the same run.
func parseTriggers(b []byte) ([]interest, error) {
	var out []interest
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		cmd, arg := line, ""
		if j := strings.IndexAny(line, " \t"); j >= 0 {
			cmd, arg = line[:j], strings.TrimSpace(line[j:])
		}
		switch cmd {
		case "interest", "interest-await", "interest-noawait":
		case "activate", "activate-await", "activate-noawait":
			continue
		default:
			return nil, fmt.Errorf("triggers line %d: unknown directive %q", i+1, cmd)
		}
		if arg == "" || strings.ContainsAny(arg, " \t") {
			return nil, fmt.Errorf("triggers line %d: bad trigger name %q", i+1, arg)
		}
		if !strings.HasPrefix(arg, "/") {
			if err := checkTriggerName(arg); err != nil {
				return nil, fmt.Errorf("triggers line %d: %w", i+1, err)
			}
		}
		out = append(out, interest{name: arg, noawait: cmd == "interest-noawait"})
	}
	return out, nil
}

// checkTriggerName rejects explicit trigger names dpkg rejects: they name
// a file under triggers/, so only printable ASCII without "/" is allowed,
// and never the names of dpkg's own files there.
func checkTriggerName(n string) error {
	for i := 0; i < len(n); i++ {
		if n[i] <= ' ' || n[i] >= 0x7f || n[i] == '/' {
			return fmt.Errorf("invalid trigger name %q", n)
		}
	}
	switch n {
	case "File", "Unincorp", "Lock":
		return fmt.Errorf("invalid trigger name %q", n)
	}
	return nil
}
