package native

import (
	"archive/tar"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// update-alternatives, as dpkg's implements it: the link group's state
// in /var/lib/dpkg/alternatives/NAME (status, master link, slaves, then
// each choice with its priority and slave files; slaves and choices
// sorted when saved), /etc/alternatives/NAME pointing at the chosen file
// and the generic link pointing at /etc/alternatives/NAME. Links get the
// mtime of the file they lead to, as dpkg 1.21 makes them.

const (
	altAdminDir = "/var/lib/dpkg/alternatives"
	altDir      = "/etc/alternatives"
)

func init() {
	registerShared(updateAlternativesCmd, "update-alternatives")
}

type altSlave struct{ name, link string }

type altChoice struct {
	file   string
	prio   int
	slaves map[string]string // slave name → file
}

type alternative struct {
	name     string
	auto     bool
	link     string
	slaves   []altSlave
	choices  []*altChoice
	modified bool
	current  *string // cached readlink of /etc/alternatives/NAME
}

func (a *alternative) slave(name string) *altSlave {
	for i := range a.slaves {
		if a.slaves[i].name == name {
			return &a.slaves[i]
		}
	}
	return nil
}

func (a *alternative) choice(file string) *altChoice {
	for _, c := range a.choices {
		if c.file == file {
			return c
		}
	}
	return nil
}

func (a *alternative) addChoice(fs *altChoice) {
	for i, c := range a.choices {
		if c.file == fs.file {
			a.choices[i] = fs
			a.modified = true
			return
		}
	}
	a.choices = append(a.choices, fs)
	a.modified = true
}

func (a *alternative) addSlave(name, link string) {
	if sl := a.slave(name); sl != nil {
		sl.link = link
		return
	}
	a.slaves = append(a.slaves, altSlave{name, link})
}

// loadAlternative reads the state of link group name; ok is false when
// there is none. Choices whose file is gone are dropped (and the group
// marked modified), as update-alternatives does.
func (s *sys) loadAlternative(name string) (*alternative, bool, error) {
	data, err := s.readFile(altAdminDir + "/" + name)
	if err != nil {
		if isNotExist(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if len(data) == 0 {
		return nil, false, nil
	}
	ls := strings.Split(string(data), "\n")
	i := 0
	// Every line must end in a newline: the last element of the split
	// is the empty rest after the final one.
	next := func(what string) (string, error) {
		if i >= len(ls)-1 {
			return "", fmt.Errorf("%s/%s corrupt: unexpected end of file while trying to read %s", altAdminDir, name, what)
		}
		l := ls[i]
		i++
		return l, nil
	}
	a := &alternative{name: name}
	st, err := next("status")
	if err != nil {
		return nil, false, err
	}
	if st != "auto" && st != "manual" {
		return nil, false, fmt.Errorf("%s/%s corrupt: invalid status", altAdminDir, name)
	}
	a.auto = st == "auto"
	if a.link, err = next("master link"); err != nil {
		return nil, false, err
	}
	for {
		sn, err := next("slave name")
		if err != nil {
			return nil, false, err
		}
		if sn == "" {
			break
		}
		sl, err := next("slave link")
		if err != nil {
			return nil, false, err
		}
		a.slaves = append(a.slaves, altSlave{sn, sl})
	}
	for {
		file, err := next("master file")
		if err != nil {
			return nil, false, err
		}
		if file == "" {
			break
		}
		ps, err := next("priority")
		if err != nil {
			return nil, false, err
		}
		prio, err := strconv.Atoi(ps)
		if err != nil {
			return nil, false, fmt.Errorf("%s/%s corrupt: priority of %s: %s", altAdminDir, name, file, ps)
		}
		c := &altChoice{file: file, prio: prio, slaves: map[string]string{}}
		for _, sl := range a.slaves {
			f, err := next("slave file")
			if err != nil {
				return nil, false, err
			}
			if f != "" {
				c.slaves[sl.name] = f
			}
		}
		if _, ok := s.lookup(file); !ok {
			a.modified = true
			continue
		}
		a.choices = append(a.choices, c)
	}
	return a, true, nil
}

// saveAlternative writes the state file: unused slaves dropped, slaves
// sorted by name and choices by file.
func (s *sys) saveAlternative(a *alternative) error {
	var used []altSlave
	for _, sl := range a.slaves {
		for _, c := range a.choices {
			if _, ok := c.slaves[sl.name]; ok {
				used = append(used, sl)
				break
			}
		}
	}
	a.slaves = used
	sort.SliceStable(a.slaves, func(i, j int) bool { return a.slaves[i].name < a.slaves[j].name })
	sort.SliceStable(a.choices, func(i, j int) bool { return a.choices[i].file < a.choices[j].file })
	var b strings.Builder
	if a.auto {
		b.WriteString("auto\n")
	} else {
		b.WriteString("manual\n")
	}
	b.WriteString(a.link + "\n")
	for _, sl := range a.slaves {
		b.WriteString(sl.name + "\n" + sl.link + "\n")
	}
	b.WriteString("\n")
	for _, c := range a.choices {
		b.WriteString(c.file + "\n" + strconv.Itoa(c.prio) + "\n")
		for _, sl := range a.slaves {
			b.WriteString(c.slaves[sl.name] + "\n")
		}
	}
	b.WriteString("\n")
	if err := s.st.MkdirAll(altAdminDir, rootfs.Entry{Mode: 0o755}); err != nil {
		return &stageError{err}
	}
	if err := s.st.WriteFile(altAdminDir+"/"+a.name, []byte(b.String()), rootfs.Entry{Mode: 0o644}); err != nil {
		return &stageError{err}
	}
	return nil
}

// currentChoice is where /etc/alternatives/NAME points, "" if missing.
func (s *sys) currentChoice(a *alternative) string {
	if a.current == nil {
		cur := ""
		if e, ok := s.st.Lookup(altDir + "/" + a.name); ok && e.Type == tar.TypeSymlink {
			cur = e.Linkname
		}
		a.current = &cur
	}
	return *a.current
}

// best is the current choice unless a choice has a higher priority.
func (s *sys) best(a *alternative) *altChoice {
	if len(a.choices) == 0 {
		return nil
	}
	b := a.choice(s.currentChoice(a))
	if b == nil {
		b = a.choices[0]
	}
	for _, c := range a.choices {
		if c.prio > b.prio {
			b = c
		}
	}
	return b
}

// installLink makes altDir/name → file and, unless something other than
// a symlink is there, link → altDir/name.
func (s *sys) installLink(c *cmd, name, link, file string) error {
	mtime := rootfs.Entry{Mode: 0o777}
	if e, ok := s.lookup(file); ok {
		mtime.ModTime = e.ModTime
	}
	if err := s.st.MkdirAll(altDir, rootfs.Entry{Mode: 0o755}); err != nil {
		return &stageError{err}
	}
	alt := altDir + "/" + name
	if err := s.st.Symlink(file, alt, mtime); err != nil {
		return &stageError{err}
	}
	real, e, ok, err := s.resolve("/", link, false)
	if err != nil {
		return c.failf("error: unable to make %s a symlink to %s: %v", link, alt, err)
	}
	switch {
	case ok && e.Type != tar.TypeSymlink:
		fmt.Fprintf(c.stderr, "update-alternatives: warning: not replacing %s with a link\n", link)
		return nil
	case ok && e.Linkname == alt:
		return nil
	}
	if err := s.st.Symlink(alt, real, mtime); err != nil {
		return &stageError{err}
	}
	return nil
}

// removeLink removes link (unless it is not a symlink) and altDir/name.
func (s *sys) removeLink(name, link string) error {
	if real, e, ok, err := s.resolve("/", link, false); err == nil && ok && e.Type == tar.TypeSymlink {
		if err := s.st.Remove(real); err != nil {
			return &stageError{err}
		}
	}
	if _, ok := s.st.Lookup(altDir + "/" + name); ok {
		if err := s.st.Remove(altDir + "/" + name); err != nil {
			return &stageError{err}
		}
	}
	return nil
}

func (s *sys) prepareInstall(c *cmd, a *alternative, choice string) error {
	fs := a.choice(choice)
	if fs == nil {
		return c.failf("error: can't install unknown choice %s", choice)
	}
	if err := s.installLink(c, a.name, a.link, choice); err != nil {
		return err
	}
	for _, sl := range a.slaves {
		file, has := fs.slaves[sl.name]
		if has {
			if _, ok := s.lookup(file); ok {
				if err := s.installLink(c, sl.name, sl.link, file); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(c.stderr, "update-alternatives: warning: skip creation of %s because associated file %s (of link group %s) doesn't exist\n", sl.link, file, a.name)
		}
		if err := s.removeLink(sl.name, sl.link); err != nil {
			return err
		}
	}
	cur := choice
	a.current = &cur
	return nil
}

// linksBroken reports whether the links of the current choice are not as
// they should be (update-alternatives then reinstalls them).
func (s *sys) linksBroken(a *alternative) bool {
	e, ok := s.lookupNoFollow(a.link)
	if !ok || e.Type != tar.TypeSymlink || e.Linkname != altDir+"/"+a.name {
		return true
	}
	cur := s.currentChoice(a)
	if cur == "" {
		return true
	}
	fs := a.choice(cur)
	if fs == nil {
		return false
	}
	for _, sl := range a.slaves {
		file, has := fs.slaves[sl.name]
		_, exists := s.lookup(file)
		if has && exists {
			l, ok := s.lookupNoFollow(sl.link)
			t, ok2 := s.st.Lookup(altDir + "/" + sl.name)
			if !ok || l.Linkname != altDir+"/"+sl.name || !ok2 || t.Linkname != file {
				return true
			}
		} else if _, ok := s.lookupNoFollow(sl.link); ok {
			return true
		}
	}
	return false
}

func (s *sys) lookupNoFollow(p string) (rootfs.Entry, bool) {
	_, e, ok, err := s.resolve("/", p, false)
	return e, err == nil && ok
}

// updateAlternative applies the choice and saves the state.
func (s *sys) updateAlternative(c *cmd, a *alternative, cur, newChoice string) error {
	if len(a.choices) == 0 {
		if err := s.removeLink(a.name, a.link); err != nil {
			return err
		}
		for _, sl := range a.slaves {
			if err := s.removeLink(sl.name, sl.link); err != nil {
				return err
			}
		}
		if _, ok := s.st.Lookup(altAdminDir + "/" + a.name); ok {
			if err := s.st.Remove(altAdminDir + "/" + a.name); err != nil {
				return &stageError{err}
			}
		}
		return nil
	}
	switch {
	case newChoice != "" && newChoice != cur:
		if err := s.prepareInstall(c, a, newChoice); err != nil {
			return err
		}
	case s.linksBroken(a):
		if cur != "" && a.choice(cur) == nil {
			cur = s.best(a).file
			a.auto = true
		}
		if cur != "" {
			if err := s.prepareInstall(c, a, cur); err != nil {
				return err
			}
		}
	}
	if a.modified {
		return s.saveAlternative(a)
	}
	return nil
}

// selectMode is update-alternatives' alternative_select_mode.
func (s *sys) selectMode(a *alternative, cur string) {
	if cur == "" {
		a.auto = true
		return
	}
	if a.choice(cur) == nil {
		if _, ok := s.lookup(cur); !ok {
			a.auto = true
		} else if a.auto {
			a.auto = false
		}
	}
}

func updateAlternativesCmd(c *cmd) error {
	args := c.args[1:]
	var action string
	var inst *alternative
	var fs *altChoice
	var name, pathArg string
	for i := 0; i < len(args); i++ {
		a := args[i]
		need := func(n int) error {
			if len(args) < i+n+1 {
				return c.failf("error: --%s needs %d arguments", action, n)
			}
			return nil
		}
		switch a {
		case "--quiet", "--verbose", "--force", "--skip-auto":
			if a == "--force" || a == "--skip-auto" {
				return c.unsupported("%s", a)
			}
		case "--install":
			action = "install"
			if err := need(4); err != nil {
				return err
			}
			if args[i+1] == args[i+3] {
				return c.failf("error: <link> and <path> can't be the same")
			}
			prio, err := strconv.Atoi(args[i+4])
			if err != nil {
				return c.failf("error: priority must be an integer")
			}
			name = args[i+2]
			inst = &alternative{name: name, auto: true, link: args[i+1]}
			fs = &altChoice{file: args[i+3], prio: prio, slaves: map[string]string{}}
			i += 4
		case "--slave":
			if action != "install" {
				return c.failf("error: --slave only allowed with --install")
			}
			if len(args) < i+4 {
				return c.failf("error: --slave needs <link> <name> <path>")
			}
			slink, sname, spath := args[i+1], args[i+2], args[i+3]
			if slink == spath {
				return c.failf("error: <link> and <path> can't be the same")
			}
			if sname == inst.name {
				return c.failf("error: name %s is both primary and slave", sname)
			}
			if slink == inst.link {
				return c.failf("error: link %s is both primary and slave", slink)
			}
			if inst.slave(sname) != nil {
				return c.failf("error: duplicate slave name %s", sname)
			}
			for _, sl := range inst.slaves {
				if sl.link == slink {
					return c.failf("error: duplicate slave link %s", slink)
				}
			}
			inst.slaves = append(inst.slaves, altSlave{sname, slink})
			fs.slaves[sname] = spath
			i += 3
		case "--remove", "--set":
			action = a[2:]
			if len(args) < i+3 {
				return c.failf("error: --%s needs <name> <path>", action)
			}
			name, pathArg = args[i+1], args[i+2]
			i += 2
		case "--auto", "--remove-all", "--display", "--query", "--list":
			action = a[2:]
			if len(args) < i+2 {
				return c.failf("error: --%s needs <name>", action)
			}
			name = args[i+1]
			i++
		default:
			return c.unsupported("option %s", a)
		}
	}
	if action == "" {
		return c.failf("error: need an action")
	}
	if strings.ContainsAny(name, "/ \t") {
		return c.failf("error: alternative name (%s) must not contain '/' and spaces", name)
	}
	if action == "install" {
		if err := checkInstallArgs(c, inst, fs); err != nil {
			return err
		}
	}
	a, ok, err := c.s.loadAlternative(name)
	if err != nil {
		return c.failf("error: %v", err)
	}
	switch action {
	case "remove":
		if !ok {
			return nil
		}
	case "install":
		if !ok {
			a = nil
		}
	default:
		if !ok {
			return c.failf("error: no alternatives for %s", name)
		}
	}
	if action == "display" || action == "query" || action == "list" {
		return c.s.displayAlternative(c, a, action)
	}
	if a == nil {
		a = &alternative{name: name}
	}
	cur := c.s.currentChoice(a)
	c.s.selectMode(a, cur)
	newChoice := ""
	switch action {
	case "set":
		if a.choice(pathArg) == nil {
			return c.failf("error: alternative %s for %s not registered; not setting", pathArg, name)
		}
		newChoice = pathArg
		a.auto = false
		a.modified = true
	case "auto":
		a.auto = true
		a.modified = true
		if b := c.s.best(a); b != nil {
			newChoice = b.file
		}
	case "remove":
		for i, ch := range a.choices {
			if ch.file == pathArg {
				a.choices = append(a.choices[:i], a.choices[i+1:]...)
				a.modified = true
				break
			}
		}
		if cur == pathArg {
			if !a.auto {
				a.auto = true
			}
			if b := c.s.best(a); b != nil {
				newChoice = b.file
			}
		}
	case "remove-all":
		a.choices = nil
		a.modified = true
	case "install":
		if a.link != "" {
			if err := c.s.evolveAlternative(a, inst); err != nil {
				return err
			}
		} else {
			inst.current = a.current
			a = inst
		}
		a.addChoice(fs)
		if a.auto {
			newChoice = c.s.best(a).file
		}
	}
	return c.s.updateAlternative(c, a, cur, newChoice)
}

// checkInstallArgs is alternative_check_install_args: names, absolute
// paths, no link managed by another group, the path exists.
func checkInstallArgs(c *cmd, inst *alternative, fs *altChoice) error {
	if !strings.HasPrefix(inst.link, "/") {
		return c.failf("error: alternative link is not absolute as it should be: %s", inst.link)
	}
	if !strings.HasPrefix(fs.file, "/") {
		return c.failf("error: alternative path is not absolute as it should be: %s", fs.file)
	}
	groups, err := c.s.allAlternatives()
	if err != nil {
		return c.failf("error: %v", err)
	}
	owner := func(link string) (group, slaveName string) {
		for _, g := range groups {
			if g.link == link {
				return g.name, g.name
			}
			for _, sl := range g.slaves {
				if sl.link == link {
					return g.name, sl.name
				}
			}
		}
		return "", ""
	}
	parent := func(n string) string {
		for _, g := range groups {
			if g.name == n {
				return g.name
			}
			for _, sl := range g.slaves {
				if sl.name == n {
					return g.name
				}
			}
		}
		return ""
	}
	if p := parent(inst.name); p != "" && p != inst.name {
		return c.failf("error: alternative %s can't be master: it is a slave of %s", inst.name, p)
	}
	if g, _ := owner(inst.link); g != "" && g != inst.name {
		return c.failf("error: alternative link %s is already managed by %s", inst.link, g)
	}
	if _, ok := c.s.lookup(fs.file); !ok {
		return c.failf("error: alternative path %s doesn't exist", fs.file)
	}
	for _, sl := range inst.slaves {
		if strings.ContainsAny(sl.name, "/ \t") {
			return c.failf("error: alternative name (%s) must not contain '/' and spaces", sl.name)
		}
		if !strings.HasPrefix(sl.link, "/") || !strings.HasPrefix(fs.slaves[sl.name], "/") {
			return c.failf("error: alternative link or path of %s is not absolute", sl.name)
		}
		if p := parent(sl.name); p != "" && p != inst.name {
			return c.failf("error: alternative %s can't be slave of %s: it is managed by %s", sl.name, inst.name, p)
		}
		if g, n := owner(sl.link); g != "" && (g != inst.name || n != sl.name) {
			return c.failf("error: alternative link %s is already managed by %s", sl.link, g)
		}
	}
	return nil
}

// allAlternatives loads every link group.
func (s *sys) allAlternatives() ([]*alternative, error) {
	ents, err := s.list(altAdminDir)
	if err != nil {
		return nil, nil // no directory: no groups
	}
	var out []*alternative
	for _, e := range ents {
		a, ok, err := s.loadAlternative(path.Base(e.Path))
		if err != nil {
			continue // update-alternatives skips what it cannot parse here
		}
		if ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// evolveAlternative merges the link and slaves of a new --install into
// an existing group, moving renamed links.
func (s *sys) evolveAlternative(a, b *alternative) error {
	if a.link != b.link {
		if real, e, ok, err := s.resolve("/", a.link, false); err == nil && ok && e.Type == tar.TypeSymlink {
			dst, _, _, err := s.resolve("/", b.link, false)
			if err != nil {
				return err
			}
			if err := s.st.Rename(real, dst); err != nil {
				return &stageError{err}
			}
		}
	}
	a.link = b.link
	for _, sl := range b.slaves {
		if old := a.slave(sl.name); old != nil && old.link != sl.link {
			if real, e, ok, err := s.resolve("/", old.link, false); err == nil && ok && e.Type == tar.TypeSymlink {
				if err := s.st.Remove(real); err != nil {
					return &stageError{err}
				}
			}
		}
		a.addSlave(sl.name, sl.link)
	}
	return nil
}

func (s *sys) displayAlternative(c *cmd, a *alternative, action string) error {
	if action == "list" {
		for _, ch := range a.choices {
			fmt.Fprintln(c.stdout, ch.file)
		}
		return nil
	}
	if action == "query" {
		fmt.Fprintf(c.stdout, "Name: %s\nLink: %s\n", a.name, a.link)
		if len(a.slaves) > 0 {
			fmt.Fprintln(c.stdout, "Slaves:")
			for _, sl := range a.slaves {
				fmt.Fprintf(c.stdout, " %s %s\n", sl.name, sl.link)
			}
		}
		st := "manual"
		if a.auto {
			st = "auto"
		}
		fmt.Fprintf(c.stdout, "Status: %s\n", st)
		if b := s.best(a); b != nil {
			fmt.Fprintf(c.stdout, "Best: %s\n", b.file)
		}
		cur := s.currentChoice(a)
		if cur == "" {
			cur = "none"
		}
		fmt.Fprintf(c.stdout, "Value: %s\n", cur)
		for _, ch := range a.choices {
			fmt.Fprintf(c.stdout, "\nAlternative: %s\nPriority: %d\n", ch.file, ch.prio)
			if len(a.slaves) > 0 {
				fmt.Fprintln(c.stdout, "Slaves:")
				for _, sl := range a.slaves {
					if f, ok := ch.slaves[sl.name]; ok {
						fmt.Fprintf(c.stdout, " %s %s\n", sl.name, f)
					}
				}
			}
		}
		return nil
	}
	return c.unsupported("--display")
}
