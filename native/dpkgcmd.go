package native

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/pattern"
	"pault.ag/go/debian/version"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/rootfs"
)

// dpkg's own tools, answering from the run's view of the database: the
// packages and their current states, the diversions and stat overrides
// made so far.

func init() {
	registerShared(dpkgCmd, "dpkg")
	registerShared(dpkgQueryCmd, "dpkg-query")
	registerShared(dpkgTriggerCmd, "dpkg-trigger")
	registerShared(dpkgDivertCmd, "dpkg-divert")
	registerShared(dpkgStatoverrideCmd, "dpkg-statoverride")
}

// dpkgVersion is the version of the root's dpkg, for
// DPKG_RUNNING_VERSION.
func (s *sys) dpkgVersion() string {
	if p := s.byName["dpkg"]; p != nil {
		return p.version
	}
	return ""
}

// compareVersions orders two Debian versions.
func compareVersions(a, b string) int {
	va, ea := version.Parse(a)
	vb, eb := version.Parse(b)
	if ea != nil || eb != nil {
		return strings.Compare(a, b)
	}
	return version.Compare(va, vb)
}

// compareOp evaluates dpkg --compare-versions A OP B. An empty version is
// earlier than any other, except for the -nl operators where it is later.
func compareOp(a, op, b string) (bool, error) {
	nl := strings.HasSuffix(op, "-nl")
	base := strings.TrimSuffix(op, "-nl")
	var c int
	switch {
	case a == "" && b == "":
		c = 0
	case a == "":
		c = -1
		if nl {
			c = 1
		}
	case b == "":
		c = 1
		if nl {
			c = -1
		}
	default:
		c = compareVersions(a, b)
	}
	switch base {
	case "lt", "<<":
		return c < 0, nil
	case "le", "<=":
		return c <= 0, nil
	case "eq", "=":
		return c == 0, nil
	case "ne":
		return c != 0, nil
	case "ge", ">=":
		return c >= 0, nil
	case "gt", ">>":
		return c > 0, nil
	case "<":
		return c <= 0, nil // obsolete, means <=
	case ">":
		return c >= 0, nil
	}
	return false, fmt.Errorf("unknown operator %q", op)
}

func dpkgCmd(c *cmd) error {
	args := c.args[1:]
	if len(args) == 0 {
		return c.unsupported("no action")
	}
	a := args[0]
	if len(args) > 1 && args[1] == "--" {
		args = append([]string{a}, args[2:]...)
	}
	switch {
	case a == "--validate-version":
		if len(args) != 2 {
			return c.failf("--validate-version takes one <version> argument")
		}
		if _, err := version.Parse(args[1]); err != nil || args[1] == "" {
			fmt.Fprintf(c.stderr, "dpkg: warning: version '%s' has bad syntax\n", args[1])
			return status(1)
		}
		return nil
	case a == "--compare-versions":
		if len(args) != 4 {
			return c.failf("--compare-versions takes three arguments: <version> <relation> <version>")
		}
		ok, err := compareOp(args[1], args[2], args[3])
		if err != nil {
			return c.failf("error: %v", err)
		}
		if !ok {
			return status(1)
		}
		return nil
	case a == "--print-architecture":
		fmt.Fprintln(c.stdout, c.s.opts.Arch)
		return nil
	case a == "--print-foreign-architectures":
		return nil
	case strings.HasPrefix(a, "--assert-"):
		return nil
	case a == "--version":
		fmt.Fprintf(c.stdout, "Debian 'dpkg' package management program version %s (%s).\n", c.s.dpkgVersion(), c.s.opts.Arch)
		return nil
	case a == "-l" || a == "--list" || a == "-L" || a == "--listfiles" || a == "-s" || a == "--status" ||
		a == "-S" || a == "--search" || a == "-W" || a == "--show":
		return dpkgQueryCmd(c)
	}
	return c.unsupported("action %s", args[0])
}

// stateOf is the state a script sees for p: the package being configured
// is half-configured, one whose preinst runs half-installed.
func (s *sys) stateOf(p *pkgState) string {
	if p == s.current && p.state == dpkg.Unpacked && s.currentScript == "postinst" {
		return "half-configured"
	}
	if p == s.current && s.currentScript == "preinst" {
		return "half-installed"
	}
	return string(p.state)
}

// matchPkgs returns the packages matching a dpkg-query pattern (a name,
// possibly arch-qualified, or a glob).
func (s *sys) matchPkgs(pat string) []*pkgState {
	name, arch, _ := strings.Cut(pat, ":")
	var out []*pkgState
	for _, p := range s.pkgs {
		if ok, _ := path.Match(name, p.name); !ok {
			continue
		}
		if arch != "" && arch != p.arch && !(arch == "any") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// queryField is a ${field} of dpkg-query's format.
func (s *sys) queryField(p *pkgState, f string) string {
	st := s.stateOf(p)
	switch strings.ToLower(f) {
	case "status":
		return "install ok " + st
	case "db:status-want":
		return "install"
	case "db:status-eflag":
		return "ok"
	case "db:status-status":
		return st
	case "db:status-abbrev":
		abbrev := map[string]string{"installed": "i", "unpacked": "U", "half-configured": "F", "half-installed": "H"}
		return "i" + abbrev[st] + " "
	case "binary:package":
		return p.id()
	case "binary:synopsis":
		d, _, _ := strings.Cut(p.ctrl.Get("Description"), "\n")
		return d
	case "source:package":
		src := p.ctrl.Get("Source")
		if src == "" {
			return p.name
		}
		n, _, _ := strings.Cut(src, " ")
		return n
	case "source:version":
		src := p.ctrl.Get("Source")
		if _, v, ok := strings.Cut(src, "("); ok {
			return strings.TrimSuffix(strings.TrimSpace(v), ")")
		}
		return p.version
	case "db-fsys:files":
		var b strings.Builder
		for _, l := range s.st.Files(p.name) {
			b.WriteString(" " + l + "\n")
		}
		return b.String()
	}
	return p.ctrl.Get(f)
}

// queryFormat expands a dpkg-query --showformat for p.
func (s *sys) queryFormat(p *pkgState, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		ch := format[i]
		switch {
		case ch == '\\' && i+1 < len(format):
			i++
			switch format[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(format[i])
			}
		case ch == '$' && i+1 < len(format) && format[i+1] == '{':
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				b.WriteString(format[i:])
				return b.String()
			}
			spec := format[i+2 : i+end]
			i += end
			name, width, hasWidth := strings.Cut(spec, ";")
			v := s.queryField(p, name)
			if hasWidth {
				if w, err := strconv.Atoi(width); err == nil {
					if w < 0 {
						v = fmt.Sprintf("%-*s", -w, v)
					} else {
						v = fmt.Sprintf("%*s", w, v)
					}
				}
			}
			b.WriteString(v)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func dpkgQueryCmd(c *cmd) error {
	o, err := c.parse(optSpec{"W|show", "f|showformat=", "s|status", "l|list", "L|listfiles", "S|search", "control-path", "admindir=", "root="}, false)
	if err != nil {
		return err
	}
	if v := o.get("root"); v != "" && v != "/" {
		return c.unsupported("--root=%s", v)
	}
	st := 0
	notFound := func(pat string) {
		fmt.Fprintf(c.stderr, "dpkg-query: no packages found matching %s\n", pat)
		st = 1
	}
	switch {
	case o.has("show"):
		format := "${binary:Package}\t${Version}\n"
		if o.has("showformat") {
			format = o.get("showformat")
		}
		pats := o.operands
		if len(pats) == 0 {
			pats = []string{"*"}
		}
		for _, pat := range pats {
			ps := c.s.matchPkgs(pat)
			if len(ps) == 0 {
				notFound(pat)
			}
			for _, p := range ps {
				fmt.Fprint(c.stdout, c.s.queryFormat(p, format))
			}
		}
	case o.has("status"):
		for _, pat := range o.operands {
			ps := c.s.matchPkgs(pat)
			if len(ps) == 0 {
				fmt.Fprintf(c.stderr, "dpkg-query: package '%s' is not installed and no information is available\n", pat)
				st = 1
			}
			for _, p := range ps {
				fmt.Fprintf(c.stdout, "Package: %s\nStatus: %s\n", p.name, c.s.queryField(p, "Status"))
				for _, f := range p.ctrl.Fields {
					if f.Name != "Package" {
						fmt.Fprintf(c.stdout, "%s: %s\n", f.Name, f.Value)
					}
				}
				fmt.Fprintln(c.stdout)
			}
		}
	case o.has("list"):
		pats := o.operands
		if len(pats) == 0 {
			pats = []string{"*"}
		}
		header := false
		for _, pat := range pats {
			ps := c.s.matchPkgs(pat)
			if len(ps) == 0 {
				notFound(pat)
				continue
			}
			if !header {
				fmt.Fprint(c.stdout, "Desired=Unknown/Install/Remove/Purge/Hold\n| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n||/ Name Version Architecture Description\n+++-====-=======-============-===========\n")
				header = true
			}
			for _, p := range ps {
				fmt.Fprintf(c.stdout, "%s%s %s %s %s\n", c.s.queryField(p, "db:Status-Abbrev"), p.name, p.version, p.arch, c.s.queryField(p, "binary:Synopsis"))
			}
		}
	case o.has("listfiles"):
		for _, pat := range o.operands {
			ps := c.s.matchPkgs(pat)
			if len(ps) == 0 {
				fmt.Fprintf(c.stderr, "dpkg-query: package '%s' is not installed\n", pat)
				st = 1
			}
			for _, p := range ps {
				for _, f := range c.s.st.Files(p.name) {
					fmt.Fprintln(c.stdout, f)
				}
			}
		}
	case o.has("search"):
		for _, pat := range o.operands {
			found := false
			for _, p := range c.s.pkgs {
				for _, f := range c.s.st.Files(p.name) {
					match := f == pat
					if strings.ContainsAny(pat, "*?[") {
						match, _ = path.Match(pat, f)
					} else if !strings.HasPrefix(pat, "/") {
						match = strings.Contains(f, pat)
					}
					if match {
						fmt.Fprintf(c.stdout, "%s: %s\n", p.id(), f)
						found = true
					}
				}
			}
			if !found {
				fmt.Fprintf(c.stderr, "dpkg-query: no path found matching pattern %s\n", pat)
				st = 1
			}
		}
	case o.has("control-path"):
		if len(o.operands) == 0 {
			return c.failf("--control-path needs a package name")
		}
		ps := c.s.matchPkgs(o.operands[0])
		if len(ps) != 1 {
			return c.failf("package '%s' is not installed", o.operands[0])
		}
		p := ps[0]
		var names []string
		for n := range p.ctrl.Files {
			if n != "control" && (len(o.operands) < 2 || n == o.operands[1]) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(c.stdout, "/var/lib/dpkg/info/%s.%s\n", p.id(), n)
		}
	default:
		return c.unsupported("action")
	}
	return status(st)
}

func dpkgTriggerCmd(c *cmd) error {
	o, err := c.parse(optSpec{"no-await", "await", "by-package=", "no-act", "check-supported", "admindir="}, false)
	if err != nil {
		return err
	}
	if o.has("check-supported") {
		return nil
	}
	if len(o.operands) != 1 {
		return c.failf("takes one argument, the trigger name")
	}
	if !o.has("no-act") {
		c.s.activate(o.operands[0])
	}
	return nil
}

// Diversions.

func (s *sys) diversionOf(p string) *dpkg.Diversion {
	for i := range s.divs {
		if s.divs[i].Path == p {
			return &s.divs[i]
		}
	}
	return nil
}

func divDescribe(d dpkg.Diversion) string {
	if d.Package == "" {
		return fmt.Sprintf("local diversion of %s to %s", d.Path, d.Divert)
	}
	return fmt.Sprintf("diversion of %s to %s by %s", d.Path, d.Divert, d.Package)
}

func dpkgDivertCmd(c *cmd) error {
	o, err := c.parse(optSpec{"add", "remove", "list", "listpackage", "truename", "package=", "local", "divert=", "rename", "no-rename", "quiet", "test", "admindir=", "instdir=", "root="}, false)
	if err != nil {
		return err
	}
	action := ""
	for _, a := range []string{"add", "remove", "list", "listpackage", "truename"} {
		if o.has(a) {
			if action != "" {
				return c.failf("conflicting actions --%s and --%s", action, a)
			}
			action = a
		}
	}
	if action == "" {
		action = "add"
	}
	s := c.s
	switch action {
	case "list":
		pats := o.operands
		if len(pats) == 0 {
			pats = []string{"*"}
		}
		for _, d := range s.divs {
			for _, pat := range pats {
				if fnmatch(pat, d.Path) || fnmatch(pat, d.Divert) || fnmatch(pat, d.Package) {
					fmt.Fprintln(c.stdout, divDescribe(d))
					break
				}
			}
		}
		return nil
	case "listpackage", "truename":
		if len(o.operands) != 1 {
			return c.failf("--%s needs a single argument", action)
		}
		d := s.diversionOf(o.operands[0])
		switch {
		case action == "truename" && d == nil:
			fmt.Fprintln(c.stdout, o.operands[0])
		case action == "truename":
			fmt.Fprintln(c.stdout, d.Divert)
		case d == nil:
		case d.Package == "":
			fmt.Fprintln(c.stdout, "LOCAL")
		default:
			fmt.Fprintln(c.stdout, d.Package)
		}
		return nil
	}
	if len(o.operands) != 1 {
		return c.failf("--%s needs a single argument", action)
	}
	file := o.operands[0]
	if !strings.HasPrefix(file, "/") {
		return c.failf("filename \"%s\" is not absolute", file)
	}
	pkg, pkgGiven := o.get("package"), o.has("package")
	if o.has("local") {
		pkg, pkgGiven = "", true
	} else if !pkgGiven {
		if mp := c.getenv("DPKG_MAINTSCRIPT_PACKAGE"); mp != "" {
			pkg, pkgGiven = mp, true
		}
	}
	rename := o.has("rename") && !o.has("no-rename")
	quiet := o.has("quiet")
	if action == "add" {
		divert := o.get("divert")
		if divert == "" {
			divert = file + ".distrib"
		}
		if !strings.HasPrefix(divert, "/") {
			return c.failf("filename \"%s\" is not absolute", divert)
		}
		if divert == file {
			return c.failf("cannot divert file '%s' to itself", file)
		}
		nd := dpkg.Diversion{Path: file, Divert: divert, Package: pkg}
		for _, d := range s.divs {
			if d.Path == file && d.Divert == divert && d.Package == pkg {
				if !quiet {
					fmt.Fprintf(c.stdout, "Leaving '%s'\n", divDescribe(d))
				}
				return nil
			}
			if d.Path == file || d.Divert == divert || d.Path == divert || d.Divert == file {
				fmt.Fprintf(c.stderr, "dpkg-divert: error: '%s' clashes with '%s'\n", divDescribe(nd), divDescribe(d))
				return status(2)
			}
		}
		if !quiet {
			fmt.Fprintf(c.stdout, "Adding '%s'\n", divDescribe(nd))
		}
		if rename {
			if rename, err = s.divertCheckRename(c, file, divert); err != nil {
				return err
			}
		}
		// dpkg renames no file the diverting package ships itself: it
		// unpacks that one in place, the diversion being its own.
		if rename && pkg != "" && s.pkgOwnsFile(pkg, file) {
			if !quiet {
				fmt.Fprintf(c.stdout, "Ignoring request to rename file '%s' owned by diverting package '%s'\n", file, pkg)
			}
			rename = false
		}
		if rename && s.essentialOwnsFile(file) {
			fmt.Fprintf(c.stderr, "dpkg-divert: warning: diverting file '%s' from an Essential package with rename is dangerous, use --no-rename\n", file)
		}
		if !o.has("test") {
			s.divs = append(s.divs, nd)
			if rename {
				if err := s.divertRename(file, divert); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// remove
	for i, d := range s.divs {
		if d.Path != file {
			continue
		}
		if o.has("divert") && d.Divert != o.get("divert") {
			fmt.Fprintf(c.stderr, "dpkg-divert: error: mismatch on divert-to\n  when removing '%s'\n  found '%s'\n", file, divDescribe(d))
			return status(2)
		}
		if pkgGiven && d.Package != pkg {
			fmt.Fprintf(c.stderr, "dpkg-divert: error: mismatch on package\n  when removing '%s'\n  found '%s'\n", file, divDescribe(d))
			return status(2)
		}
		if !quiet {
			fmt.Fprintf(c.stdout, "Removing '%s'\n", divDescribe(d))
		}
		if rename {
			if rename, err = s.divertCheckRename(c, d.Divert, d.Path); err != nil {
				return err
			}
		}
		if !o.has("test") {
			if rename {
				if err := s.divertRename(d.Divert, d.Path); err != nil {
					return err
				}
			}
			s.divs = append(s.divs[:i], s.divs[i+1:]...)
		}
		return nil
	}
	if !quiet {
		fmt.Fprintf(c.stdout, "No diversion '%s', none removed.\n", file)
	}
	return nil
}

// divertCheckRename is dpkg-divert's check_rename: no rename when from
// is absent; an error when to is there too (dpkg allows that only for a
// hard link of the same file, which a stage cannot tell, so it refuses).
func (s *sys) divertCheckRename(c *cmd, from, to string) (bool, error) {
	if _, _, ok, err := s.resolve("/", from, false); err != nil || !ok {
		return false, nil
	}
	_, _, exists, err := s.resolve("/", to, false)
	if err != nil {
		return false, c.failf("error: rename %s: %v", to, err)
	}
	if exists {
		fmt.Fprintf(c.stderr, "dpkg-divert: error: rename involves overwriting '%s' with\n  different file '%s', not allowed\n", to, from)
		return false, status(2)
	}
	return true, nil
}

// divertRename moves from to to after divertCheckRename allowed it.
func (s *sys) divertRename(from, to string) error {
	src, _, _, err := s.resolve("/", from, false)
	if err != nil {
		return &stageError{err}
	}
	dst, _, _, err := s.resolve("/", to, false)
	if err != nil {
		return &stageError{err}
	}
	if err := s.st.Rename(src, dst); err != nil {
		return &stageError{err}
	}
	return nil
}

// pkgOwnsFile tells whether a package named name (of any architecture)
// lists file, as dpkg's diversion_is_owned_by_self: the path as given,
// matched literally against the file lists.
func (s *sys) pkgOwnsFile(name, file string) bool {
	for _, p := range s.pkgs {
		if p.name == name && listsFile(s.st.Files(p.key()), file) {
			return true
		}
	}
	return false
}

// essentialOwnsFile tells whether an Essential package lists file.
func (s *sys) essentialOwnsFile(file string) bool {
	for _, p := range s.pkgs {
		if p.essential && listsFile(s.st.Files(p.key()), file) {
			return true
		}
	}
	return false
}

func listsFile(files []string, file string) bool {
	for _, f := range files {
		if f == file {
			return true
		}
	}
	return false
}

// Stat overrides.

func dpkgStatoverrideCmd(c *cmd) error {
	o, err := c.parse(optSpec{"add", "remove", "list", "update", "force", "force-all", "quiet", "admindir=", "root="}, false)
	if err != nil {
		return err
	}
	s := c.s
	switch {
	case o.has("list"):
		pats := o.operands
		if len(pats) == 0 {
			pats = []string{"*"}
		}
		found := false
		for _, ov := range s.overrides {
			for _, pat := range pats {
				if ok, _ := path.Match(pat, ov.Path); ok {
					fmt.Fprintf(c.stdout, "%s %s %o %s\n", ov.User, ov.Group, ov.Mode, ov.Path)
					found = true
					break
				}
			}
		}
		if !found {
			return status(1)
		}
		return nil
	case o.has("add"):
		if len(o.operands) != 4 {
			return c.failf("--add needs four arguments")
		}
		user, group, modeStr, file := o.operands[0], o.operands[1], o.operands[2], o.operands[3]
		mode, err := strconv.ParseInt(modeStr, 8, 64)
		if err != nil || mode > 0o7777 {
			return c.failf("illegal mode '%s'", modeStr)
		}
		uid, ok := idOrName(user, s.userID)
		if !ok {
			return c.failf("user '%s' does not exist", user)
		}
		gid, ok := idOrName(group, s.groupID)
		if !ok {
			return c.failf("group '%s' does not exist", group)
		}
		for i, ov := range s.overrides {
			if ov.Path == file {
				if !o.has("force") && !o.has("force-all") {
					fmt.Fprintf(c.stderr, "dpkg-statoverride: error: an override for '%s' already exists; aborting\n", file)
					return status(2)
				}
				s.overrides = append(s.overrides[:i], s.overrides[i+1:]...)
				break
			}
		}
		s.overrides = append(s.overrides, dpkg.StatOverride{User: user, Group: group, Mode: mode, Path: file})
		if o.has("update") {
			real, _, ok, err := s.resolve("/", file, true)
			if err == nil && ok {
				if err := s.st.Update(real, func(e *rootfs.Entry) { e.Uid, e.Gid, e.Mode = uid, gid, mode }); err != nil {
					return &stageError{err}
				}
			} else {
				fmt.Fprintf(c.stderr, "dpkg-statoverride: warning: --update given but %s does not exist\n", file)
			}
		}
		return nil
	case o.has("remove"):
		if len(o.operands) != 1 {
			return c.failf("--remove needs one argument")
		}
		for i, ov := range s.overrides {
			if ov.Path == o.operands[0] {
				s.overrides = append(s.overrides[:i], s.overrides[i+1:]...)
				return nil
			}
		}
		fmt.Fprintln(c.stderr, "dpkg-statoverride: warning: no override present")
		if o.has("force") || o.has("force-all") {
			return nil
		}
		return status(2)
	}
	return c.unsupported("action")
}

// idOrName resolves "#123" or a name.
func idOrName(s string, lookup func(string) (int, bool)) (int, bool) {
	if strings.HasPrefix(s, "#") {
		n, err := strconv.Atoi(s[1:])
		return n, err == nil
	}
	return lookup(s)
}

func init() {
	register(dpkgRealpathCmd, "dpkg-realpath")
}

// dpkgRealpathCmd is dpkg-realpath: the canonical path inside the root,
// symlinks resolved with the root as "/".
func dpkgRealpathCmd(c *cmd) error {
	o, err := c.parse(optSpec{"root=", "instdir=", "z|zero"}, false)
	if err != nil {
		return err
	}
	for _, k := range []string{"root", "instdir"} {
		if v := o.get(k); v != "" && v != "/" {
			return c.unsupported("--%s=%s", k, v)
		}
	}
	if len(o.operands) != 1 {
		return c.failf("error: need one pathname")
	}
	p := o.operands[0]
	real, _, ok, err := c.s.resolve(c.dir, p, true)
	if err != nil || !ok {
		fmt.Fprintf(c.stderr, "dpkg-realpath: error: cannot canonicalize pathname %s: No such file or directory\n", p)
		return status(1)
	}
	fmt.Fprintln(c.stdout, real)
	return nil
}

// fnmatch matches as fnmatch(3) without flags does: "*" matches slashes.
func fnmatch(pat, name string) bool {
	expr, err := pattern.Regexp(pat, pattern.EntireString)
	if err != nil {
		return false
	}
	re, err := regexp.Compile(expr)
	return err == nil && re.MatchString(name)
}
