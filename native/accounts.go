package native

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// Accounts: the shadow suite's tools (groupadd, useradd, usermod, pwconv,
// grpconv, pwck, grpck), getent, adduser/addgroup (Debian's front end to
// them) and systemd-sysusers, acting on /etc/passwd, /etc/group,
// /etc/shadow and /etc/gshadow as those tools leave them: the previous
// content saved as FILE-, the lock file /etc/.pwd.lock, the day of the
// last password change from SOURCE_DATE_EPOCH.

func init() {
	registerShared(getentCmd, "getent")
	registerShared(groupaddCmd, "groupadd")
	registerShared(useraddCmd, "useradd")
	registerShared(usermodCmd, "usermod")
	registerShared(pwconvCmd, "pwconv", "grpconv")
	registerShared(pwckCmd, "pwck", "grpck")
	registerShared(adduserCmd, "adduser", "addgroup")
}

// acctFile is one of the account files, loaded.
type acctFile struct {
	path    string
	lines   []dbLine
	old     []byte
	exists  bool
	changed bool
	entry   rootfs.Entry
}

// loadAccts loads several account files, in the order given.
func (s *sys) loadAccts(paths ...string) ([]*acctFile, error) {
	out := make([]*acctFile, len(paths))
	for i, p := range paths {
		f, err := s.loadAcct(p)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

func (s *sys) loadAcct(p string) (*acctFile, error) {
	f := &acctFile{path: p}
	e, ok := s.lookup(p)
	if !ok {
		return f, nil
	}
	data, err := s.readFile(p)
	if err != nil {
		return nil, err
	}
	f.exists, f.old, f.entry = true, data, e
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" {
			f.lines = append(f.lines, strings.Split(l, ":"))
		}
	}
	return f, nil
}

func (f *acctFile) find(name string) dbLine {
	for _, l := range f.lines {
		if len(l) > 0 && l[0] == name {
			return l
		}
	}
	return nil
}

func (f *acctFile) findID(id int) dbLine {
	for _, l := range f.lines {
		if len(l) > 2 && l[2] == strconv.Itoa(id) {
			return l
		}
	}
	return nil
}

func (f *acctFile) add(l dbLine) {
	f.lines = append(f.lines, l)
	f.changed = true
}

// save writes the file back if changed, keeping the previous content as
// FILE- as the shadow tools' commonio does: with the file's mode less
// execute bits (pwconv's backup of /etc/passwd is the exception,
// readable by root only, as shadowconfig documents it).
func (s *sys) saveAcct(f *acctFile, newMode int64, newGid int) error {
	return s.saveAcctBackup(f, newMode, newGid, -1)
}

func (s *sys) saveAcctBackup(f *acctFile, newMode int64, newGid int, backupMode int64) error {
	if !f.changed {
		return nil
	}
	var b strings.Builder
	for _, l := range f.lines {
		b.WriteString(strings.Join(l, ":") + "\n")
	}
	meta := rootfs.Entry{Mode: newMode, Gid: newGid}
	if f.exists {
		meta = rootfs.Entry{Mode: f.entry.Mode, Uid: f.entry.Uid, Gid: f.entry.Gid}
		bmode := f.entry.Mode & 0o664
		if backupMode >= 0 {
			bmode = backupMode
		}
		if err := s.st.WriteFile(realOr(s, f.path)+"-", f.old, rootfs.Entry{Mode: bmode, Uid: f.entry.Uid, Gid: f.entry.Gid}); err != nil {
			return &stageError{err}
		}
	}
	if err := s.st.WriteFile(realOr(s, f.path), []byte(b.String()), meta); err != nil {
		return &stageError{err}
	}
	return nil
}

func realOr(s *sys, p string) string {
	if real, _, _, err := s.resolve("/", p, true); err == nil {
		return real
	}
	return p
}

// lockPasswd makes /etc/.pwd.lock as lckpwdf does.
func (s *sys) lockPasswd() error {
	if s.exists("/etc/.pwd.lock") {
		return nil
	}
	if err := s.st.WriteFile("/etc/.pwd.lock", nil, rootfs.Entry{Mode: 0o600}); err != nil {
		return &stageError{err}
	}
	return nil
}

// loginDefs reads a number from /etc/login.defs, or def.
func (s *sys) loginDefs(key string, def int) int {
	data, err := s.readFile("/etc/login.defs")
	if err != nil {
		return def
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == key {
			if n, err := strconv.Atoi(f[1]); err == nil {
				return n
			}
		}
	}
	return def
}

// today is the day number of the last password change the tools write.
func (s *sys) today() string {
	return strconv.FormatInt(s.now().Unix()/86400, 10)
}

func getentCmd(c *cmd) error {
	args := c.args[1:]
	if len(args) == 0 {
		return c.failf("wrong number of arguments")
	}
	files := map[string]string{"passwd": "/etc/passwd", "group": "/etc/group", "shadow": "/etc/shadow", "gshadow": "/etc/gshadow"}
	p, ok := files[args[0]]
	if !ok {
		return c.unsupported("database %s", args[0])
	}
	lines, err := c.s.readDB(p)
	if err != nil {
		return c.failf("%v", err)
	}
	if len(args) == 1 {
		for _, l := range lines {
			fmt.Fprintln(c.stdout, strings.Join(l, ":"))
		}
		return nil
	}
	st := 0
	for _, key := range args[1:] {
		found := false
		for _, l := range lines {
			if l[0] == key || (len(l) > 2 && (args[0] == "passwd" || args[0] == "group") && l[2] == key) {
				fmt.Fprintln(c.stdout, strings.Join(l, ":"))
				found = true
				break
			}
		}
		if !found {
			c.s.orderMiss("it looks up %s in %s, which is not there", key, args[0])
			st = 2
		}
	}
	return status(st)
}

// newSystemID is the shadow tools' find_new_uid/find_new_gid for a
// system account: preferred (useradd's uid as the user group's gid;
// -1 for none) if free and at most max; else down from just below the
// lowest id in use in min..max (so that a deleted account's id is not
// reused), and when that is min itself or nothing is free below, down
// from max.
func newSystemID(min, max, preferred int, f *acctFile) int {
	used := map[int]bool{}
	lowest := max
	for _, l := range f.lines {
		if len(l) < 3 {
			continue
		}
		id, err := strconv.Atoi(l[2])
		if err != nil {
			continue
		}
		used[id] = true
		if id <= lowest && id >= min {
			lowest = id - 1
		}
	}
	if preferred >= 1 && preferred <= max && !used[preferred] {
		return preferred
	}
	if lowest < min {
		lowest = max
	}
	for id := lowest; id >= min; id-- {
		if !used[id] {
			return id
		}
	}
	if lowest != max {
		for id := max; id >= min; id-- {
			if !used[id] {
				return id
			}
		}
	}
	return -1
}

// useraddDefault is a setting of /etc/default/useradd (KEY=value), as
// useradd reads it, or useradd's built-in default.
func (s *sys) useraddDefault(key, def string) string {
	data, err := s.readFile("/etc/default/useradd")
	if err != nil {
		return def
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && k == key {
			return v
		}
	}
	return def
}

// sysIDRange is SYS_UID_MIN..SYS_UID_MAX (or the GID pair) as the shadow
// tools read them: -K overrides, then login.defs, then 101 and one below
// UID_MIN (GID_MIN).
func (s *sys) sysIDRange(keys map[string]int, kind string) (int, int) {
	min := keyInt(keys, "SYS_"+kind+"_MIN", s.loginDefs("SYS_"+kind+"_MIN", 101))
	max := keyInt(keys, "SYS_"+kind+"_MAX", s.loginDefs("SYS_"+kind+"_MAX", keyInt(keys, kind+"_MIN", s.loginDefs(kind+"_MIN", 1000))-1))
	if min == 0 {
		min = 1
	}
	return min, max
}

// addGroup adds a group to /etc/group and, when it exists, /etc/gshadow.
func (s *sys) addGroup(name string, gid int, members string) error {
	a, err := s.loadAccts("/etc/group", "/etc/gshadow")
	if err != nil {
		return err
	}
	group, gshadow := a[0], a[1]
	if err := s.lockPasswd(); err != nil {
		return err
	}
	group.add(dbLine{name, "x", strconv.Itoa(gid), members})
	if err := s.saveAcct(group, 0o644, 0); err != nil {
		return err
	}
	if gshadow.exists {
		gshadow.add(dbLine{name, "!", "", members})
		if err := s.saveAcct(gshadow, 0o640, 0); err != nil {
			return err
		}
	}
	return nil
}

func groupaddCmd(c *cmd) error {
	o, err := c.parse(optSpec{"g|gid=", "r|system", "f|force", "K|key=", "o|non-unique", "p|password=", "U|users=", "P|prefix=", "R|root="}, false)
	if err != nil {
		return err
	}
	if o.has("prefix") || o.has("root") || o.has("password") {
		return c.unsupported("--root/--prefix/--password")
	}
	if len(o.operands) != 1 {
		return c.failf("usage: groupadd [options] GROUP")
	}
	name := o.operands[0]
	group, err := c.s.loadAcct("/etc/group")
	if err != nil {
		return c.failf("%v", err)
	}
	if group.find(name) != nil {
		if o.has("force") {
			return nil
		}
		fmt.Fprintf(c.stderr, "groupadd: group '%s' already exists\n", name)
		return status(9)
	}
	keys := keyOverrides(o.set["key"])
	gid := -1
	if g := o.get("gid"); g != "" {
		if gid, err = strconv.Atoi(g); err != nil {
			return c.failf("invalid group ID '%s'", g)
		}
		if group.findID(gid) != nil && !o.has("non-unique") {
			if !o.has("force") {
				fmt.Fprintf(c.stderr, "groupadd: GID '%d' already exists\n", gid)
				return status(4)
			}
			gid = -1
		}
	}
	if gid < 0 {
		if o.has("system") {
			min, max := c.s.sysIDRange(keys, "GID")
			gid = newSystemID(min, max, -1, group)
		} else {
			return c.unsupported("allocating a non-system group id")
		}
		if gid < 0 {
			return c.failf("Can't get unique system GID (no more available GIDs)")
		}
	}
	members := strings.Join(strings.Split(o.get("users"), ","), ",")
	return c.s.addGroup(name, gid, members)
}

// keyOverrides reads -K KEY=VALUE options.
func keyOverrides(vals []string) map[string]int {
	out := map[string]int{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if n, err := strconv.Atoi(val); ok && err == nil {
			out[k] = n
		}
	}
	return out
}

func keyInt(m map[string]int, k string, def int) int {
	if v, ok := m[k]; ok {
		return v
	}
	return def
}

func useraddCmd(c *cmd) error {
	o, err := c.parse(optSpec{"r|system", "u|uid=", "g|gid=", "G|groups=", "d|home-dir=", "s|shell=", "c|comment=", "M|no-create-home",
		"m|create-home", "N|no-user-group", "U|user-group", "K|key=", "o|non-unique", "p|password=", "l|no-log-init", "f|inactive=", "e|expiredate=", "R|root=", "P|prefix="}, false)
	if err != nil {
		return err
	}
	if o.has("create-home") || o.has("root") || o.has("prefix") || o.has("groups") {
		return c.unsupported("--create-home/--root/--prefix/--groups")
	}
	if len(o.operands) != 1 {
		return c.failf("usage: useradd [options] LOGIN")
	}
	name := o.operands[0]
	s := c.s
	a, err := s.loadAccts("/etc/passwd", "/etc/shadow", "/etc/group")
	if err != nil {
		return c.failf("%v", err)
	}
	passwd, shadow, group := a[0], a[1], a[2]
	if passwd.find(name) != nil {
		fmt.Fprintf(c.stderr, "useradd: user '%s' already exists\n", name)
		return status(9)
	}
	keys := keyOverrides(o.set["key"])
	system := o.has("system")
	uid := -1
	if u := o.get("uid"); u != "" {
		if uid, err = strconv.Atoi(u); err != nil {
			return c.failf("invalid user ID '%s'", u)
		}
		if passwd.findID(uid) != nil && !o.has("non-unique") {
			fmt.Fprintf(c.stderr, "useradd: UID %d is not unique\n", uid)
			return status(4)
		}
	} else {
		if !system {
			return c.unsupported("allocating a non-system user id")
		}
		min, max := s.sysIDRange(keys, "UID")
		uid = newSystemID(min, max, -1, passwd)
		if uid < 0 {
			return c.failf("Can't get unique system UID (no more available UIDs)")
		}
	}
	gid := -1
	if g := o.get("gid"); g != "" {
		l := group.find(g)
		if l == nil {
			if n, err := strconv.Atoi(g); err == nil {
				l = group.findID(n)
			}
		}
		if l == nil {
			fmt.Fprintf(c.stderr, "useradd: group '%s' does not exist\n", g)
			return status(6)
		}
		gid, _ = strconv.Atoi(l[2])
	} else if o.has("no-user-group") {
		gid = s.loginDefs("USERS_GID", 100)
	} else {
		// USERGROUPS_ENAB: a group of the user's name, the uid as gid
		// when free.
		if l := group.find(name); l != nil {
			fmt.Fprintf(c.stderr, "useradd: group %s exists - if you want to add this user to that group, use -g.\n", name)
			return status(9)
		}
		if system {
			min, max := s.sysIDRange(keys, "GID")
			gid = newSystemID(min, max, uid, group)
		} else if gid = uid; group.findID(gid) != nil || gid < s.loginDefs("GID_MIN", 1000) || gid > s.loginDefs("GID_MAX", 60000) {
			return c.unsupported("allocating a non-system group id")
		}
		if gid < 0 {
			fmt.Fprintf(c.stderr, "useradd: can't create group\n")
			return status(4)
		}
		if err := s.addGroup(name, gid, ""); err != nil {
			return err
		}
	}
	home := o.get("home-dir")
	if home == "" {
		home = strings.TrimSuffix(s.useraddDefault("HOME", "/home"), "/") + "/" + name
	}
	shell := o.get("shell")
	if !o.has("shell") {
		shell = s.useraddDefault("SHELL", "/bin/bash")
	}
	pw := "!"
	if p := o.get("password"); p != "" {
		pw = p
	}
	if err := s.lockPasswd(); err != nil {
		return err
	}
	passwd.add(dbLine{name, "x", strconv.Itoa(uid), strconv.Itoa(gid), o.get("comment"), home, shell})
	if err := s.saveAcct(passwd, 0o644, 0); err != nil {
		return err
	}
	if shadow.exists {
		sp := dbLine{name, pw, s.today(), "", "", "", "", "", ""}
		if !system {
			sp[3] = strconv.Itoa(s.loginDefs("PASS_MIN_DAYS", 0))
			sp[4] = strconv.Itoa(s.loginDefs("PASS_MAX_DAYS", 99999))
			sp[5] = strconv.Itoa(s.loginDefs("PASS_WARN_AGE", 7))
		}
		shadow.add(sp)
		if err := s.saveAcct(shadow, 0o640, 0); err != nil {
			return err
		}
	}
	return nil
}

func usermodCmd(c *cmd) error {
	o, err := c.parse(optSpec{"a|append", "G|groups="}, false)
	if err != nil {
		return err
	}
	if !o.has("append") || !o.has("groups") || len(o.operands) != 1 {
		return c.unsupported("only usermod -a -G GROUPS USER is implemented")
	}
	user := o.operands[0]
	if _, ok := c.s.userID(user); !ok {
		fmt.Fprintf(c.stderr, "usermod: user '%s' does not exist\n", user)
		return status(6)
	}
	for _, f := range []string{"/etc/group", "/etc/gshadow"} {
		db, err := c.s.loadAcct(f)
		if err != nil {
			return c.failf("%v", err)
		}
		if !db.exists {
			continue
		}
		for _, g := range strings.Split(o.get("groups"), ",") {
			l := db.find(g)
			if l == nil {
				if f == "/etc/group" {
					fmt.Fprintf(c.stderr, "usermod: group '%s' does not exist\n", g)
					return status(6)
				}
				continue
			}
			if len(l) < 4 {
				continue
			}
			members := splitMembers(l[3])
			if contains(members, user) {
				continue
			}
			l[3] = strings.Join(append(members, user), ",")
			db.changed = true
		}
		if err := c.s.lockPasswd(); err != nil {
			return err
		}
		if err := c.s.saveAcct(db, 0o644, 0); err != nil {
			return err
		}
	}
	return nil
}

func splitMembers(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pwconvCmd is pwconv and grpconv: move the password fields into the
// shadow file, creating entries for accounts that have none.
func pwconvCmd(c *cmd) error {
	if len(c.args) > 1 {
		return c.unsupported("options")
	}
	s := c.s
	src, dst := "/etc/passwd", "/etc/shadow"
	if c.name() == "grpconv" {
		src, dst = "/etc/group", "/etc/gshadow"
	}
	plain, err := s.loadAcct(src)
	if err != nil {
		return c.failf("%v", err)
	}
	if !plain.exists {
		return c.failf("cannot open %s", src)
	}
	sh, err := s.loadAcct(dst)
	if err != nil {
		return c.failf("%v", err)
	}
	if err := s.lockPasswd(); err != nil {
		return err
	}
	// Shadow entries without an account go.
	var keep []dbLine
	for _, l := range sh.lines {
		if plain.find(l[0]) != nil {
			keep = append(keep, l)
		} else {
			sh.changed = true
		}
	}
	sh.lines = keep
	for _, l := range plain.lines {
		if len(l) < 2 {
			continue
		}
		e := sh.find(l[0])
		if e == nil {
			if c.name() == "grpconv" {
				members := ""
				if len(l) > 3 {
					members = l[3]
				}
				e = dbLine{l[0], l[1], "", members}
			} else {
				e = dbLine{l[0], l[1], s.today(), strconv.Itoa(s.loginDefs("PASS_MIN_DAYS", 0)),
					strconv.Itoa(s.loginDefs("PASS_MAX_DAYS", 99999)), strconv.Itoa(s.loginDefs("PASS_WARN_AGE", 7)), "", "", ""}
			}
			sh.add(e)
		} else if l[1] != "x" {
			e[1] = l[1]
			sh.changed = true
		}
		if l[1] != "x" {
			l[1] = "x"
			plain.changed = true
		}
	}
	bmode := int64(-1)
	if c.name() == "pwconv" {
		bmode = 0o600
	}
	if err := s.saveAcctBackup(plain, 0o644, 0, bmode); err != nil {
		return err
	}
	shadowGid, _ := s.groupID("shadow")
	return s.saveAcct(sh, 0o640, shadowGid)
}

// pwckCmd checks read-only (-r); nothing to report on what the tools
// made, so it succeeds when the files are there.
func pwckCmd(c *cmd) error {
	o, err := c.parse(optSpec{"q|quiet", "r|read-only", "s|sort"}, false)
	if err != nil {
		return err
	}
	if !o.has("read-only") {
		return c.unsupported("checking without -r")
	}
	f := "/etc/passwd"
	if c.name() == "grpck" {
		f = "/etc/group"
	}
	if !c.s.exists(f) {
		return c.failf("cannot open %s", f)
	}
	return nil
}
