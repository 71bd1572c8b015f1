package native

import (
	"archive/tar"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// Service management, as it goes in a root being built: nothing is
// started (mmdebstrap installs a policy-rc.d denying it, and systemctl in
// a chroot ignores start requests), units are enabled on disk.
// deb-systemd-helper and update-rc.d (init-system-helpers' Perl tools)
// and systemctl's offline enable/preset are implemented here.

func init() {
	register(debSystemdHelperCmd, "deb-systemd-helper")
	register(noopCmd, "deb-systemd-invoke", "invoke-rc.d")
	register(systemctlCmd, "systemctl")
	register(updateRcdCmd, "update-rc.d")
}

// noopCmd: starting services is denied during the build.
func noopCmd(c *cmd) error { return nil }

// A scope is a systemd instance: "system", or "user" (deb-systemd-helper
// --user, systemctl --global), whose units, links and state live apart.

// dshEnabledDir is deb-systemd-helper's state directory for scope.
func dshEnabledDir(scope string) string {
	if scope == "user" {
		return "/var/lib/systemd/deb-systemd-user-helper-enabled"
	}
	return "/var/lib/systemd/deb-systemd-helper-enabled"
}

// findUnit is deb-systemd-helper's find_unit.
func (s *sys) findUnit(scope, name string) string {
	for _, d := range []string{"/etc/systemd/" + scope + "/", "/lib/systemd/" + scope + "/", "/usr/lib/systemd/" + scope + "/"} {
		if e, ok := s.lookup(d + name); ok && (e.Type == tar.TypeReg || e.Type == tar.TypeLink) {
			return d + name
		}
	}
	return name
}

type unitLink struct{ dest, src string } // src is the link, dest its target

// installSection reads the [Install] keys of a unit file (all sections,
// as deb-systemd-helper does not look at section headers).
func (s *sys) unitInstall(unitPath string) (map[string][]string, error) {
	data, err := s.readFile(unitPath)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key := strings.ToLower(strings.TrimSpace(k))
		switch key {
		case "wantedby", "requiredby", "also", "alias", "defaultinstance":
			for _, f := range strings.Fields(v) {
				if len(f) >= 2 && (f[0] == '"' || f[0] == '\'') && f[len(f)-1] == f[0] {
					f = f[1 : len(f)-1]
				}
				out[key] = append(out[key], f)
			}
		}
	}
	return out, nil
}

// linkClosure is deb-systemd-helper's get_link_closure.
func (s *sys) linkClosure(scope, servicePath string, visited []string) ([]unitLink, error) {
	etc := "/etc/systemd/" + scope + "/"
	inst, err := s.unitInstall(servicePath)
	if err != nil {
		return nil, fmt.Errorf("unable to read %s", servicePath)
	}
	unit := path.Base(servicePath)
	wanted := unit
	var links []unitLink
	for _, v := range inst["also"] {
		if v != unit && !contains(visited, v) {
			visited = append(visited, v)
			more, err := s.linkClosure(scope, s.findUnit(scope, v), visited)
			if err != nil {
				return nil, err
			}
			links = append(links, more...)
		}
	}
	for _, v := range inst["alias"] {
		if v != unit {
			links = append(links, unitLink{dest: servicePath, src: etc + v})
		}
	}
	if d := inst["defaultinstance"]; len(d) > 0 {
		if i := strings.LastIndex(unit, "@."); i >= 0 {
			wanted = unit[:i+1] + d[len(d)-1] + unit[i+1:]
		}
	}
	for _, v := range inst["wantedby"] {
		links = append(links, unitLink{dest: servicePath, src: etc + v + ".wants/" + wanted})
	}
	for _, v := range inst["requiredby"] {
		links = append(links, unitLink{dest: servicePath, src: etc + v + ".requires/" + wanted})
	}
	return links, nil
}

func dshStatePath(scope, unit string) string {
	return dshEnabledDir(scope) + "/" + path.Base(unit) + ".dsh-also"
}

func (s *sys) stateEntries(p string) []string {
	data, err := s.readFile(p)
	if err != nil {
		return nil
	}
	return lines(data)
}

func (s *sys) isSymlink(p string) bool {
	e, ok := s.lookupNoFollow(p)
	return ok && e.Type == tar.TypeSymlink
}

func (s *sys) touchFile(p string) error {
	if s.exists(p) {
		return nil
	}
	if err := s.st.MkdirAll(path.Dir(p), rootfs.Entry{Mode: 0o755}); err != nil {
		return &stageError{err}
	}
	if err := s.st.WriteFile(p, nil, rootfs.Entry{Mode: 0o644}); err != nil {
		return &stageError{err}
	}
	return nil
}

func (s *sys) makeLink(target, link string) error {
	if err := s.st.MkdirAll(path.Dir(link), rootfs.Entry{Mode: 0o755}); err != nil {
		return &stageError{err}
	}
	real, _, _, err := s.resolve("/", link, false)
	if err != nil {
		return err
	}
	if err := s.st.Symlink(target, real, rootfs.Entry{Mode: 0o777}); err != nil {
		return &stageError{err}
	}
	return nil
}

// recordState adds link to the .dsh-also state file of unit.
func (s *sys) recordState(scope, unit, link string) error {
	p := dshStatePath(scope, unit)
	entries := s.stateEntries(p)
	if contains(entries, link) && s.exists(p) {
		return nil
	}
	entries = append(entries, link)
	if err := s.st.MkdirAll(dshEnabledDir(scope), rootfs.Entry{Mode: 0o755}); err != nil {
		return &stageError{err}
	}
	if err := s.st.WriteFile(p, []byte(strings.Join(entries, "\n")+"\n"), rootfs.Entry{Mode: 0o644}); err != nil {
		return &stageError{err}
	}
	return nil
}

func (s *sys) makeSystemdLinks(scope, unit, servicePath string, create bool) error {
	links, err := s.linkClosure(scope, servicePath, nil)
	if err != nil {
		return err
	}
	if len(links) == 0 {
		// An empty state file still records that the unit was seen.
	}
	for _, l := range links {
		if err := s.recordState(scope, unit, l.src); err != nil {
			return err
		}
		statefile := dshEnabledDir(scope) + "/" + strings.TrimPrefix(l.src, "/etc/systemd/"+scope+"/")
		if s.exists(statefile) {
			continue
		}
		if create && !s.isSymlink(l.src) {
			if err := s.makeLink(l.dest, l.src); err != nil {
				return err
			}
		}
		if err := s.touchFile(statefile); err != nil {
			return err
		}
	}
	return nil
}

func (s *sys) hasSystemctl() bool {
	for _, p := range []string{"/bin/systemctl", "/usr/bin/systemctl"} {
		if e, ok := s.lookup(p); ok && e.Mode&0o111 != 0 {
			return true
		}
	}
	return false
}

func debSystemdHelperCmd(c *cmd) error {
	args := c.args[1:]
	quiet, scope := false, "system"
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		switch args[0] {
		case "--quiet":
			quiet = true
		case "--user":
			scope = "user"
		case "--system":
			scope = "system"
		default:
			return c.unsupported("option %s", args[0])
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return nil
	}
	if c.getenv("DPKG_MAINTSCRIPT_PACKAGE") == "" {
		fmt.Fprintf(c.stderr, "%s was not called from dpkg. Exiting.\n", c.args[0])
		return status(1)
	}
	action, units := args[0], args[1:]
	s := c.s
	rc := 0
	switch action {
	case "is-enabled", "was-enabled", "debian-installed":
		rc = 1
	}
	for _, unit := range units {
		sp := s.findUnit(scope, unit)
		switch action {
		case "unmask":
			mask := "/etc/systemd/" + scope + "/" + path.Base(sp)
			e, ok := s.lookupNoFollow(mask)
			if !ok || e.Type != tar.TypeSymlink || e.Linkname != "/dev/null" {
				continue
			}
			return c.unsupported("unmasking a masked unit")
		case "was-enabled":
			enabled := true
			for _, l := range s.stateEntries(dshStatePath(scope, unit)) {
				if !s.isSymlink(l) {
					enabled = false
					break
				}
			}
			if !quiet {
				if enabled {
					fmt.Fprintln(c.stderr, "enabled")
				} else {
					fmt.Fprintln(c.stderr, "disabled")
				}
			}
			if enabled {
				rc = 0
			}
		case "is-enabled":
			links, err := s.linkClosure(scope, sp, nil)
			if err != nil {
				return c.failf("error: %v", err)
			}
			enabled := true
			for _, l := range links {
				if !s.isSymlink(l.src) {
					enabled = false
				}
			}
			if enabled {
				rc = 0
			}
		case "debian-installed":
			if s.exists(dshStatePath(scope, unit)) {
				rc = 0
			}
		case "enable":
			if s.hasSystemctl() {
				create := false
				if s.exists(dshStatePath(scope, unit)) {
					links, err := s.linkClosure(scope, sp, nil)
					if err != nil {
						return c.failf("error: %v", err)
					}
					for _, l := range links {
						if s.isSymlink(l.src) {
							create = true
						}
					}
				} else if err := s.systemctlPreset(c, scope, unit); err != nil {
					return err
				}
				if err := s.makeSystemdLinks(scope, unit, sp, create); err != nil {
					return c.failf("error: %v", err)
				}
			} else if err := s.makeSystemdLinks(scope, unit, sp, true); err != nil {
				return c.failf("error: %v", err)
			}
		case "disable":
			if err := s.dshRemoveLinks(scope, sp, 0); err != nil {
				return err
			}
			// Empty state and link directories go, as after a piuparts
			// run (rmdir_if_empty).
			for _, d := range []string{dshEnabledDir("system"), dshEnabledDir("user")} {
				if err := s.rmdirIfEmpty(d); err != nil {
					return err
				}
			}
			for _, d := range []string{"/etc/systemd/system", "/etc/systemd/user"} {
				ents, _ := s.list(d)
				for _, e := range ents {
					if e.Type == tar.TypeDir {
						if err := s.rmdirIfEmpty(e.Path); err != nil {
							return err
						}
					}
				}
			}
		case "update-state":
			links, err := s.linkClosure(scope, sp, nil)
			if err != nil {
				return c.failf("error: %v", err)
			}
			var b strings.Builder
			for _, l := range links {
				b.WriteString(l.src + "\n")
			}
			if err := s.st.MkdirAll(dshEnabledDir(scope), rootfs.Entry{Mode: 0o755}); err != nil {
				return &stageError{err}
			}
			if err := s.st.WriteFile(dshStatePath(scope, unit), []byte(b.String()), rootfs.Entry{Mode: 0o644}); err != nil {
				return &stageError{err}
			}
		default:
			return c.unsupported("action %s", action)
		}
	}
	return status(rc)
}

// dshRemoveLinks is deb-systemd-helper's remove_links (not purging):
// the links its state file records, with their state, and the same for
// the units named by Also=.
func (s *sys) dshRemoveLinks(scope, servicePath string, depth int) error {
	if depth > 16 {
		return nil // Also= loops: the Perl recursion never ends either
	}
	for _, l := range s.stateEntries(dshStatePath(scope, servicePath)) {
		if !s.isSymlink(l) {
			continue
		}
		for _, p := range []string{dshEnabledDir(scope) + "/" + strings.TrimPrefix(l, "/etc/systemd/"+scope+"/"), l} {
			if real, _, ok, err := s.resolve("/", p, false); err == nil && ok {
				if err := s.st.Remove(real); err != nil {
					return &stageError{err}
				}
			}
		}
	}
	data, err := s.readFile(servicePath)
	if err != nil {
		return nil
	}
	for _, line := range lines(data) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.EqualFold(k, "Also") {
			if err := s.dshRemoveLinks(scope, s.findUnit(scope, v), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// rmdirIfEmpty is deb-systemd-helper's rmdir_if_empty: the empty
// directories below dir, then dir if that left it empty.
func (s *sys) rmdirIfEmpty(dir string) error {
	e, ok := s.st.Lookup(dir)
	if !ok || e.Type != tar.TypeDir {
		return nil
	}
	ents, err := s.list(dir)
	if err != nil {
		return nil
	}
	for _, k := range ents {
		if k.Type == tar.TypeDir {
			if err := s.rmdirIfEmpty(k.Path); err != nil {
				return err
			}
		}
	}
	if ents, _ := s.st.List(dir); len(ents) == 0 {
		if err := s.st.Remove(dir); err != nil {
			return &stageError{err}
		}
	}
	return nil
}

// systemd unit search path, in systemd's order.
var unitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}

// systemdUnitDirs is the search path the root's systemd uses: from
// systemd 252 on Debian and Ubuntu (rootprefix /usr) /usr/lib comes
// before /lib. Which one a link names depends on it.
func (s *sys) systemdUnitDirs(scope string) []string {
	if scope == "user" {
		// User units were never under the root prefix (/lib).
		return []string{"/etc/systemd/user", "/run/systemd/user", "/usr/local/lib/systemd/user", "/usr/lib/systemd/user"}
	}
	p := s.byName["systemd"]
	if p != nil && compareVersions(p.version, "253") >= 0 {
		return []string{"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}
	}
	return unitDirs
}

// systemctlFind finds a unit file (for an instance, its template).
func (s *sys) systemctlFind(scope, unit string) string {
	name := unit
	if i := strings.IndexByte(unit, '@'); i >= 0 {
		if j := strings.LastIndexByte(unit, '.'); j > i+1 {
			if s2 := s.systemctlFindExact(scope, unit); s2 != "" {
				return s2
			}
			name = unit[:i+1] + unit[j:]
		}
	}
	return s.systemctlFindExact(scope, name)
}

func (s *sys) systemctlFindExact(scope, name string) string {
	seen := map[string]bool{}
	for _, d := range s.systemdUnitDirs(scope) {
		real, e, ok, err := s.resolve("/", d, true)
		if err != nil || !ok || e.Type != tar.TypeDir || seen[real] {
			continue
		}
		seen[real] = true
		if e, ok := s.lookup(d + "/" + name); ok && e.Type != tar.TypeDir {
			return d + "/" + name
		}
	}
	return ""
}

// systemctlEnable creates the links systemctl enable makes offline.
func (s *sys) systemctlEnable(c *cmd, scope, unit string, visited map[string]bool) error {
	etc := "/etc/systemd/" + scope + "/"
	if visited[unit] {
		return nil
	}
	visited[unit] = true
	file := s.systemctlFind(scope, unit)
	if file == "" {
		return c.failf("Failed to enable unit: Unit file %s does not exist.", unit)
	}
	inst, err := s.unitInstall(file)
	if err != nil {
		return c.failf("%v", err)
	}
	target := file
	if e, ok := s.lookupNoFollow(file); ok && e.Type == tar.TypeSymlink && strings.HasPrefix(file, "/etc/") {
		return c.unsupported("enabling a unit linked into /etc")
	}
	name := unit
	if strings.HasSuffix(path.Base(file), "@"+path.Ext(file)) || strings.Contains(path.Base(file), "@.") {
		// A template: enable the instance given, or DefaultInstance.
		if strings.Contains(unit, "@.") {
			d := inst["defaultinstance"]
			if len(d) == 0 {
				return nil // nothing to enable without an instance
			}
			i := strings.LastIndex(unit, "@.")
			name = unit[:i+1] + d[len(d)-1] + unit[i+1:]
		}
	}
	for _, v := range inst["wantedby"] {
		if err := s.makeLink(target, etc+v+".wants/"+name); err != nil {
			return err
		}
	}
	for _, v := range inst["requiredby"] {
		if err := s.makeLink(target, etc+v+".requires/"+name); err != nil {
			return err
		}
	}
	for _, v := range inst["alias"] {
		if v != name {
			if err := s.makeLink(target, etc+v); err != nil {
				return err
			}
		}
	}
	for _, v := range inst["also"] {
		if err := s.systemctlEnable(c, scope, v, visited); err != nil {
			return err
		}
	}
	return nil
}

// presetEnabled evaluates the preset files for unit: first matching
// line wins, files in name order across /etc, /run and /usr/lib; no
// match means enable.
func (s *sys) presetEnabled(scope, unit string) bool {
	files := map[string]string{}
	for _, d := range []string{"/usr/lib/systemd/" + scope + "-preset", "/lib/systemd/" + scope + "-preset", "/run/systemd/" + scope + "-preset", "/etc/systemd/" + scope + "-preset"} {
		for _, f := range s.glob(d + "/*.preset") {
			files[path.Base(f)] = f // later directories override
		}
	}
	names := sortedKeys(files)
	for _, n := range names {
		data, err := s.readFile(files[n])
		if err != nil {
			continue
		}
		for _, l := range lines(data) {
			f := strings.Fields(l)
			if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
				continue
			}
			if m, _ := path.Match(f[1], unit); m {
				return f[0] == "enable"
			}
		}
	}
	return true
}

func (s *sys) systemctlPreset(c *cmd, scope, unit string) error {
	if !s.presetEnabled(scope, unit) {
		return nil
	}
	return s.systemctlEnable(c, scope, unit, map[string]bool{})
}

func systemctlCmd(c *cmd) error {
	var verb string
	var units []string
	scope := "system"
	for _, a := range c.args[1:] {
		switch {
		case a == "--global":
			scope = "user"
		case a == "--system" || a == "--quiet" || a == "-q" || a == "--no-reload" || a == "--no-block" ||
			a == "--preset-mode=enable-only" || a == "--root=/" || a == "--root=" || a == "--no-ask-password" || a == "--force" || a == "-f":
		case strings.HasPrefix(a, "--root="):
			return c.unsupported("%s", a)
		case strings.HasPrefix(a, "-"):
			return c.unsupported("option %s", a)
		case verb == "":
			verb = a
		default:
			units = append(units, a)
		}
	}
	s := c.s
	switch verb {
	case "daemon-reload", "daemon-reexec", "start", "stop", "restart", "reload", "try-restart", "reload-or-restart",
		"try-reload-or-restart", "condrestart", "force-reload":
		// In a chroot systemctl ignores these.
		return nil
	case "is-active", "is-failed":
		fmt.Fprintln(c.stdout, "inactive")
		return status(3)
	case "enable", "reenable":
		for _, u := range units {
			if err := s.systemctlEnable(c, scope, unitName(u), map[string]bool{}); err != nil {
				return err
			}
		}
		return nil
	case "preset":
		for _, u := range units {
			if err := s.systemctlPreset(c, scope, unitName(u)); err != nil {
				return err
			}
		}
		return nil
	case "disable":
		for _, u := range units {
			u = unitName(u)
			if s.systemctlFind(scope, u) == "" {
				// systemd 252 and 257 exit 0 here, 255 exits 1.
				return c.unsupported("disable of %s, which does not exist", u)
			}
			if err := s.systemctlDisable(scope, u, map[string]bool{}); err != nil {
				return err
			}
			// And any other link to it: systemctl removes every symlink
			// to the unit in the configuration directory.
			if err := s.removeUnitLinks("/etc/systemd/"+scope, u, 2); err != nil {
				return err
			}
		}
		return nil
	}
	return c.unsupported("systemctl %s", verb)
}

// removeUnitLinks removes the symlinks named unit that point to a file
// named unit, in dir and its subdirectories down to depth.
func (s *sys) removeUnitLinks(dir, unit string, depth int) error {
	ents, err := s.list(dir)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		switch {
		case e.Type == tar.TypeSymlink && path.Base(e.Path) == unit && path.Base(e.Linkname) == unit:
			if err := s.st.Remove(e.Path); err != nil {
				return &stageError{err}
			}
		case e.Type == tar.TypeDir && depth > 1:
			if err := s.removeUnitLinks(e.Path, unit, depth-1); err != nil {
				return err
			}
		}
	}
	return nil
}

// unitName adds .service to a bare name, as systemctl does.
func unitName(u string) string {
	if strings.Contains(u, ".") {
		return u
	}
	return u + ".service"
}

// updateRcdCmd is update-rc.d without insserv: S01/K01 links from the
// LSB header's Default-Start and Default-Stop, once.
func updateRcdCmd(c *cmd) error {
	args := c.args[1:]
	for len(args) > 0 && args[0] == "-f" {
		args = args[1:]
	}
	if len(args) < 2 {
		return c.failf("error: not enough arguments")
	}
	s := c.s
	if e, ok := s.lookup("/etc/insserv.conf"); ok && e.Type == tar.TypeReg {
		for _, p := range []string{"/sbin/insserv", "/usr/lib/insserv/insserv"} {
			if e, ok := s.lookup(p); ok && e.Mode&0o111 != 0 {
				return c.unsupported("insserv ordering")
			}
		}
	}
	if s.exists("/sbin/openrc") {
		return c.unsupported("openrc")
	}
	name, action := args[0], args[1]
	switch action {
	case "defaults", "defaults-disabled":
		for _, lvl := range "0123456S" {
			if m, _ := s.globAny(fmt.Sprintf("/etc/rc%c.d", lvl), "[SK][0-9][0-9]"+name); m {
				return nil
			}
		}
		start, stop, err := s.lsbLevels("/etc/init.d/" + name)
		if err != nil {
			return c.failf("error: unable to read /etc/init.d/%s", name)
		}
		prefix := "S"
		if action == "defaults-disabled" {
			prefix = "K"
		}
		for _, lvl := range start {
			if err := s.makeLink("../init.d/"+name, "/etc/rc"+lvl+".d/"+prefix+"01"+name); err != nil {
				return err
			}
		}
		for _, lvl := range stop {
			if err := s.makeLink("../init.d/"+name, "/etc/rc"+lvl+".d/K01"+name); err != nil {
				return err
			}
		}
		return nil
	case "disable", "enable":
		return s.updateRcdToggle(c, name, action, args[2:])
	case "remove":
		for _, lvl := range "0123456S" {
			for _, f := range s.glob(fmt.Sprintf("/etc/rc%c.d/[SK][0-9][0-9]%s", lvl, name)) {
				if err := s.st.Remove(f); err != nil {
					return &stageError{err}
				}
			}
		}
		return nil
	}
	return c.unsupported("action %s", action)
}

// updateRcdToggle is update-rc.d NAME disable|enable [LEVELS] without
// insserv: each S link of the levels (default: Default-Start) renamed K,
// or the reverse; then, with systemctl there, systemctl disable|enable.
func (s *sys) updateRcdToggle(c *cmd, name, action string, levels []string) error {
	if len(levels) == 0 {
		start, _, err := s.lsbLevels("/etc/init.d/" + name)
		if err != nil || len(start) == 0 {
			return c.failf("error: %s Default-Start contains no runlevels, aborting.", name)
		}
		levels = start
	}
	var links []string
	for _, lvl := range levels {
		if len(lvl) != 1 || !strings.Contains("S2345", lvl) {
			fmt.Fprintf(c.stderr, "update-rc.d: warning: %s action will have no effect on runlevel %s\n", action, lvl)
			continue
		}
		links = append(links, s.glob("/etc/rc"+lvl+".d/[SK][0-9][0-9]"+name)...)
	}
	if len(links) == 0 {
		return c.failf("error: no runlevel symlinks to modify, aborting!")
	}
	from, to := "/S", "/K"
	if action == "enable" {
		from, to = "/K", "/S"
	}
	for _, l := range links {
		i := strings.LastIndex(l, from)
		if i < 0 {
			continue
		}
		if err := s.st.Rename(l, l[:i]+to+l[i+2:]); err != nil {
			return &stageError{err}
		}
	}
	if !s.hasSystemctl() {
		return nil
	}
	unit := name + ".service"
	if action == "enable" {
		if s.systemctlFind("system", unit) == "" {
			return nil // systemctl --quiet: its complaint goes unseen
		}
		return s.systemctlEnable(c, "system", unit, map[string]bool{})
	}
	return s.systemctlDisable("system", unit, map[string]bool{})
}

// systemctlDisable removes the links systemctl enable makes offline.
func (s *sys) systemctlDisable(scope, unit string, visited map[string]bool) error {
	if visited[unit] {
		return nil
	}
	visited[unit] = true
	file := s.systemctlFind(scope, unit)
	if file == "" {
		return nil
	}
	inst, err := s.unitInstall(file)
	if err != nil {
		return nil
	}
	etc := "/etc/systemd/" + scope + "/"
	var links []string
	for _, v := range inst["wantedby"] {
		links = append(links, etc+v+".wants/"+unit)
	}
	for _, v := range inst["requiredby"] {
		links = append(links, etc+v+".requires/"+unit)
	}
	for _, v := range inst["alias"] {
		if v != unit {
			links = append(links, etc+v)
		}
	}
	for _, l := range links {
		if s.isSymlink(l) {
			real, _, _, err := s.resolve("/", l, false)
			if err != nil {
				return err
			}
			if err := s.st.Remove(real); err != nil {
				return &stageError{err}
			}
		}
	}
	for _, v := range inst["also"] {
		if err := s.systemctlDisable(scope, v, visited); err != nil {
			return err
		}
	}
	return nil
}

func (s *sys) globAny(dir, pattern string) (bool, error) {
	return len(s.glob(dir+"/"+pattern)) > 0, nil
}

// lsbLevels reads Default-Start and Default-Stop of an init script.
func (s *sys) lsbLevels(script string) (start, stop []string, err error) {
	data, err := s.readFile(script)
	if err != nil {
		return nil, nil, err
	}
	in := false
	for _, l := range lines(data) {
		switch {
		case strings.HasPrefix(l, "### BEGIN INIT INFO"):
			in = true
		case strings.HasPrefix(l, "### END INIT INFO"):
			sort.Strings(start)
			return start, stop, nil
		case in && strings.HasPrefix(l, "# Default-Start:"):
			start = strings.Fields(strings.TrimPrefix(l, "# Default-Start:"))
		case in && strings.HasPrefix(l, "# Default-Stop:"):
			stop = strings.Fields(strings.TrimPrefix(l, "# Default-Stop:"))
		}
	}
	return start, stop, nil
}
