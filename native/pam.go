package native

import (
	"crypto/md5"
	"encoding/hex"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// pam-auth-update (libpam-runtime's Perl program): /etc/pam.d/common-*
// from the profiles in /usr/share/pam-configs and the templates in
// /usr/share/pam, the state in /var/lib/pam, and its debconf questions,
// for the noninteractive case. A root whose common-* files were changed
// locally (pam-auth-update's diff of the saved state) is not handled.

func init() {
	register(pamAuthUpdateCmd, "pam-auth-update")
}

type pamProfile struct {
	fields    map[string]string
	conflicts map[string]bool
	prio      int
}

var pamInvalidModules = []string{"pam_tally"}

// parsePamProfile is pam-auth-update's parse_pam_profile.
func parsePamProfile(data []byte) (*pamProfile, bool) {
	p := &pamProfile{fields: map[string]string{}, conflicts: map[string]bool{}}
	field := ""
	disabled := false
	head := regexp.MustCompile(`^(\S+):\s+(.*)\s*$`)
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l == "" {
			continue
		}
		// Perl matches the line with its newline: "Auth:\n" is a field.
		if m := head.FindStringSubmatch(l); m != nil {
			field = strings.TrimSuffix(m[1], "-Final")
			if field == "Conflicts" {
				for _, c := range strings.Split(m[2], ", ") {
					p.conflicts[c] = true
				}
			} else {
				p.fields[field] = m[2]
			}
			continue
		}
		t := strings.TrimSpace(strings.TrimSuffix(l, "\n"))
		if t != "" {
			p.fields[field] += "\n" + t
		}
		for _, inv := range pamInvalidModules {
			if strings.Contains(p.fields[field], inv) {
				disabled = true
			}
		}
		p.fields[field] = strings.TrimLeft(p.fields[field], "\n \t")
	}
	if _, ok := p.fields["Session-Interactive-Only"]; !ok {
		for _, f := range []string{"-Type", "", "-Initial"} {
			if v, ok := p.fields["Session"+f]; ok {
				p.fields["Session-noninteractive"+f] = v
			}
		}
	}
	p.prio, _ = strconv.Atoi(p.fields["Priority"])
	return p, !disabled
}

// Known md5sums of unmodified common-* files (pam-auth-update's table):
// such a file is rebuilt from /usr/share/pam.
var pamKnownSums = map[string][]string{
	"auth":                   {"8d4fe17e66ba25de16a117035d1396aa"},
	"account":                {"3c0c362eaf3421848b679d63fd48c3fa"},
	"password":               {"4d5c92d595a46b69cd61f18feb4c0574", "50fce2113dfda83ac8bdd5a6e706caec", "4bd7610f2e85f8ddaef79c7db7cb49eb", "9ba753d0824276b44bcadfee1f87b6bc"},
	"session":                {"f297c731a467822cbd86e1283263e8a3", "240fb92986c885b327cdb21dd641da8c", "4a25673e8b36f1805219027d3be02cd2"},
	"session-noninteractive": {"ad2b78ce1498dd637ef36469430b6ac6"},
}

var pamTypes = []string{"auth", "account", "password", "session", "session-noninteractive"}

const (
	pamPrimary    = `# here are the per-package modules (the "Primary" block)`
	pamFallback   = `# here's the fallback if no module succeeds`
	pamAdditional = `# and here are more per-package modules (the "Additional" block)`
	pamEnd        = `# end of pam-auth-update config`
)

func pamAuthUpdateCmd(c *cmd) error {
	s := c.s
	force, pkgMode := false, false
	args := c.args[1:]
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--force":
			force = true
		case "--package":
			pkgMode = true
		case "--root":
			if i+1 < len(args) && args[i+1] != "" && args[i+1] != "/" {
				return c.unsupported("--root %s", args[i+1])
			}
			i++
		default:
			return c.unsupported("option %s", args[i])
		}
	}
	// The profiles.
	profiles := map[string]*pamProfile{}
	ents, err := s.list("/usr/share/pam-configs")
	if err != nil {
		return c.failf("could not open config directory: %v", err)
	}
	for _, e := range ents {
		n := path.Base(e.Path)
		if strings.HasSuffix(n, "~") || (strings.HasPrefix(n, "#") && strings.HasSuffix(n, "#") && len(n) > 2) {
			continue
		}
		data, err := s.readFile(e.Path)
		if err != nil {
			return c.failf("could not read profile %s: %v", n, err)
		}
		if p, ok := parsePamProfile(data); ok {
			profiles[n] = p
		}
	}
	byPrio := func(names []string) {
		sort.SliceStable(names, func(i, j int) bool {
			a, b := profiles[names[i]], profiles[names[j]]
			if a.prio != b.prio {
				return a.prio > b.prio
			}
			return names[i] > names[j]
		})
	}
	sorted := sortedKeys(profiles)
	byPrio(sorted)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepDebconf()
	d := s.debconf
	sess := c.run.debconf
	if sess == nil {
		sess = &dcSession{owner: "unknown"}
	}
	d.used = true
	tmplData, err := s.readFile("/var/lib/dpkg/info/libpam-runtime.templates")
	if err != nil {
		return c.failf("loading libpam-runtime.templates: %v", err)
	}
	if err := d.loadTemplates(tmplData, "libpam-runtime"); err != nil {
		return c.failf("%v", err)
	}
	const tmpl, override = "libpam-runtime/profiles", "libpam-runtime/override"
	q := d.question(tmpl)
	if q == nil {
		return c.failf("no %s question", tmpl)
	}
	var names []string
	for _, n := range sorted {
		names = append(names, profiles[n].fields["Name"])
	}
	q.variables["profile_names"] = strings.Join(sorted, ", ")
	q.variables["profiles"] = strings.Join(names, ", ")

	diff := s.pamDiff()
	var enabled []string
	if diff != nil {
		enabled = append(enabled, diff.mods...)
	} else if v, _ := d.value(tmpl); v != "" {
		enabled = strings.Split(v, ", ")
	}
	seen := map[string]bool{}
	if data, err := s.readFile("/var/lib/pam/seen"); err == nil {
		for _, l := range lines(data) {
			seen[l] = true
		}
	}
	var keep []string
	for _, e := range enabled {
		if profiles[e] != nil {
			keep = append(keep, e)
		}
	}
	enabled = keep
	priority := "high"
	if pkgMode {
		priority = "medium"
	}
	if len(enabled) == 0 {
		seen = map[string]bool{}
		if !force {
			priority = "high"
		}
	}
	for _, n := range sorted {
		if profiles[n].fields["Default"] == "yes" && !seen[n] {
			enabled = append(enabled, n)
		}
	}
	byPrio(enabled)
	var dedup []string
	for i, e := range enabled {
		if i == 0 || e != enabled[i-1] {
			dedup = append(dedup, e)
		}
	}
	enabled = dedup
	var newProfiles []string
	for _, n := range sorted {
		if !seen[n] {
			newProfiles = append(newProfiles, n)
		}
	}
	if diff == nil && !force {
		// Without a saved state the Perl program asks whether to
		// override local changes; noninteractively the answer is the
		// question's value.
		if v, _ := d.value(override); v != "true" {
			return c.unsupported("pam-auth-update without --force on a root lacking its state")
		}
		force = true
	}
	// The question round, noninteractive: nothing is shown.
	if len(newProfiles) > 0 || !pkgMode {
		q.flags["seen"] = "false"
	}
	q.fields["value"] = strings.Join(enabled, ", ")
	if pr := priorities[priority]; pr >= s.debconfPriority() && q.flags["seen"] != "true" && c.getenv("DEBCONF_NONINTERACTIVE_SEEN") == "true" {
		sess.seen = append(sess.seen, tmpl)
	}
	q.fields["value"] = d.noninteractiveValue(tmpl)
	if v := q.fields["value"]; v != "" {
		enabled = strings.Split(v, ", ")
	} else {
		enabled = nil
	}
	for _, e := range enabled {
		for _, other := range enabled {
			if profiles[e] != nil && profiles[e].conflicts[other] {
				return c.unsupported("conflicting PAM profiles %s and %s", e, other)
			}
		}
	}
	if len(enabled) == 0 {
		return c.unsupported("no PAM profile enabled")
	}
	q.fields["value"] = strings.Join(enabled, ", ")

	// /var/lib/pam/seen, then the files.
	if err := s.st.MkdirAll("/var/lib/pam", rootfs.Entry{Mode: 0o755}); err != nil {
		return &stageError{err}
	}
	if err := s.st.WriteFile("/var/lib/pam/seen", []byte(strings.Join(sorted, "\n")+"\n"), rootfs.Entry{Mode: 0o644}); err != nil {
		return &stageError{err}
	}
	for _, typ := range pamTypes {
		target := "/etc/pam.d/common-" + typ
		template := target
		if data, err := s.readFile(target); err == nil {
			sum := pamTemplateSum(data)
			for _, k := range pamKnownSums[typ] {
				if sum == k {
					template = "/usr/share/pam/common-" + typ
				}
			}
		}
		var tdiff *pamTypeDiff
		if diff != nil {
			tdiff = diff.types[typ]
		}
		out, ok := s.pamFromTemplate(template, profiles, enabled, typ, tdiff)
		if !ok {
			if !force {
				return c.unsupported("rebuilding a modified %s", target)
			}
			if out, ok = s.pamFromTemplate("/usr/share/pam/common-"+typ, profiles, enabled, typ, tdiff); !ok {
				return c.failf("cannot build %s from /usr/share/pam/common-%s", target, typ)
			}
		}
		if s.exists(target) && force {
			old, err := s.readFile(target)
			if err != nil {
				return c.failf("%v", err)
			}
			if err := s.writeFile(target+".pam-old", old, rootfs.Entry{Mode: 0o644}); err != nil {
				return err
			}
		}
		if err := s.st.WriteFile(target, out, rootfs.Entry{Mode: 0o644}); err != nil {
			return &stageError{err}
		}
		if err := s.st.WriteFile("/var/lib/pam/"+typ, pamState(profiles, enabled, typ), rootfs.Entry{Mode: 0o644}); err != nil {
			return &stageError{err}
		}
	}
	if oq := d.question(override); oq != nil {
		oq.flags["seen"] = "false"
		oq.fields["value"] = "false"
	}
	return nil
}

// pamTemplateSum is get_template_md5sum: the md5 of the file without
// the lines the blocks hold.
func pamTemplateSum(data []byte) string {
	var b strings.Builder
	pamBlocks(data, func(l string) { b.WriteString(l) }, func(string) {})
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// pamBlocks walks a pam-auth-update template as get_template_md5sum and
// create_from_template do: each line goes to keep, except the lines inside
// the Primary block (up to pamFallback) and the Additional block (up to
// pamEnd), which the profiles' lines replace; block is called with
// "Primary" or "Additional" right after the line that opens it. It reports
// whether both blocks were found and closed.
func pamBlocks(data []byte, keep func(string), block func(name string)) bool {
	state := 0
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l == "" {
			continue
		}
		switch state {
		case 1:
			if strings.HasPrefix(l, pamFallback) {
				keep(l)
				state++
			}
			continue
		case 3:
			if strings.HasPrefix(l, pamEnd) {
				keep(l)
				state++
			}
			continue
		}
		keep(l)
		switch {
		case state == 0 && strings.HasPrefix(l, pamPrimary):
			block("Primary")
			state++
		case state == 2 && strings.HasPrefix(l, pamAdditional):
			block("Additional")
			state++
		}
	}
	return state >= 4
}

func pamLines(p *pamProfile, uctype string, pos int) string {
	if pos == 0 {
		if v := p.fields[uctype+"-Initial"]; v != "" {
			return v
		}
	}
	return p.fields[uctype]
}

var pamModLine = regexp.MustCompile(`^((\[[^]]+\]|\w+)\s+\S+)\s*(.*)`)

// pamFromTemplate is create_from_template.
func (s *sys) pamFromTemplate(template string, profiles map[string]*pamProfile, enabled []string, typ string, diff *pamTypeDiff) ([]byte, bool) {
	data, err := s.readFile(template)
	if err != nil {
		return nil, false
	}
	uctype := strings.ToUpper(typ[:1]) + typ[1:]
	short := strings.TrimSuffix(typ, "-noninteractive")
	var b strings.Builder
	complete := pamBlocks(data, func(l string) { b.WriteString(l) }, func(val string) {
		count, i := 0, 0
		for _, mod := range enabled {
			p := profiles[mod]
			if p == nil || p.fields[uctype+"-Type"] != val {
				continue
			}
			out := pamLines(p, uctype, i)
			i++
			for _, x := range regexp.MustCompile("\n+").Split(out, -1) {
				if x != "" {
					count++
				}
			}
		}
		if val == "Additional" {
			count--
		}
		if val == "Primary" && count == 0 {
			b.WriteString(short + "\t[default=1]\t\t\tpam_permit.so\n")
		}
		i = 0
		for _, mod := range enabled {
			p := profiles[mod]
			if p == nil || p.fields[uctype+"-Type"] != val {
				continue
			}
			out := pamLines(p, uctype, i)
			i++
			for _, line := range strings.Split(out, "\n") {
				m := pamModLine.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				modline := strings.ReplaceAll(m[1], "end", strconv.Itoa(count))
				opts := strings.Fields(m[3])
				if diff != nil {
					// merge_one_line: the local additions and removals of
					// options are kept.
					mod := pamJump.ReplaceAllString(modline, "$1$2")
					adds := map[string]bool{}
					for o := range diff.add[mod] {
						adds[o] = true
					}
					var kept []string
					for _, o := range opts {
						delete(adds, o)
						if !diff.remove[mod][o] {
							kept = append(kept, o)
						}
					}
					opts = append(kept, sortedKeys(adds)...)
				}
				b.WriteString(short + "\t" + modline + " " + strings.Join(opts, " ") + "\n")
				count--
			}
		}
	})
	if !complete {
		return nil, false
	}
	return []byte(b.String()), true
}

// pamState is the /var/lib/pam/TYPE pam-auth-update saves.
func pamState(profiles map[string]*pamProfile, enabled []string, typ string) []byte {
	uctype := strings.ToUpper(typ[:1]) + typ[1:]
	var b strings.Builder
	i := 0
	for _, mod := range enabled {
		p := profiles[mod]
		if p == nil || p.fields[uctype+"-Type"] == "" || p.fields[uctype+"-Type"] == "Additional" {
			continue
		}
		if out := pamLines(p, uctype, i); out != "" {
			b.WriteString("Module: " + mod + "\n" + out + "\n")
		}
		i++
	}
	if i == 0 {
		b.WriteString("Module: null\n[default=1]\t\t\tpam_permit.so\n")
	}
	i = 0
	for _, mod := range enabled {
		p := profiles[mod]
		if p == nil || p.fields[uctype+"-Type"] == "" || p.fields[uctype+"-Type"] == "Primary" {
			continue
		}
		if out := pamLines(p, uctype, i); out != "" {
			b.WriteString("Module: " + mod + "\n" + out + "\n")
		}
		i++
	}
	return []byte(b.String())
}

// pamJump matches the jump count of a control ("[success=2 ...]").
var pamJump = regexp.MustCompile(`(\[[^0-9]*)[0-9]+(.*\])`)
var pamEndJump = regexp.MustCompile(`(\[.*)end(.*\])`)

type pamTypeDiff struct {
	add, remove map[string]map[string]bool // module line → option
}

type pamDiffResult struct {
	mods  []string // modules found in the files, in order
	types map[string]*pamTypeDiff
}

// pamDiff is diff_profiles: the saved state of the last run compared
// with the current common-* files; nil when they do not match.
func (s *sys) pamDiff() *pamDiffResult {
	res := &pamDiffResult{types: map[string]*pamTypeDiff{}}
	for _, typ := range pamTypes {
		saved, err := s.readFile("/var/lib/pam/" + typ)
		if err != nil {
			return nil
		}
		type sl struct{ mod, line string }
		var savedLines []sl
		mod := ""
		for _, l := range lines(saved) {
			if strings.HasPrefix(l, "Module: ") {
				mod = strings.TrimPrefix(l, "Module: ")
				continue
			}
			l = pamJump.ReplaceAllString(l, "$1$2")
			l = pamEndJump.ReplaceAllString(l, "$1$2")
			savedLines = append(savedLines, sl{mod, l})
		}
		cur, err := s.readFile("/etc/pam.d/common-" + typ)
		if err != nil {
			return nil
		}
		td := &pamTypeDiff{add: map[string]map[string]bool{}, remove: map[string]map[string]bool{}}
		res.types[typ] = td
		realtype := strings.TrimSuffix(typ, "-noninteractive")
		prefix := regexp.MustCompile(`^` + regexp.QuoteMeta(realtype) + `\s+`)
		state := 0
		for _, l := range lines(cur) {
			switch state {
			case 0:
				if strings.HasPrefix(l, pamPrimary) {
					state = 1
				}
				continue
			case 1:
				l = prefix.ReplaceAllString(l, "")
				if strings.HasPrefix(l, pamFallback) {
					state = 2
					continue
				}
			case 2:
				if strings.HasPrefix(l, pamAdditional) {
					state = 3
				}
				continue
			case 3:
				if strings.HasPrefix(l, pamEnd) {
					state = 4
				}
				l = prefix.ReplaceAllString(l, "")
			}
			if state == 4 {
				break
			}
			found := false
			var curMod, curOpts string
			var prevOpts []string
			for !found && len(savedLines) > 0 {
				sv := savedLines[0]
				savedLines = savedLines[1:]
				m := pamModLine.FindStringSubmatch(sv.line)
				if m == nil {
					continue
				}
				prevOpts = strings.Fields(m[3])
				curMod = m[1]
				l = pamJump.ReplaceAllString(l, "$1$2")
				if strings.HasPrefix(l, curMod) {
					found = true
					curOpts = strings.TrimSpace(l[len(curMod):])
					res.mods = append(res.mods, sv.mod)
				}
			}
			if !found {
				return nil
			}
			for _, o := range strings.Fields(curOpts) {
				hit := false
				for i := 0; i < len(prevOpts); i++ {
					if prevOpts[i] == o {
						hit = true
						prevOpts = append(prevOpts[:i], prevOpts[i+1:]...)
						i--
					}
				}
				if !hit {
					if td.add[curMod] == nil {
						td.add[curMod] = map[string]bool{}
					}
					td.add[curMod][o] = true
				}
			}
			for _, o := range prevOpts {
				if td.remove[curMod] == nil {
					td.remove[curMod] = map[string]bool{}
				}
				td.remove[curMod][o] = true
			}
		}
		if state < 3 {
			return nil
		}
	}
	return res
}
