package native

import (
	"archive/tar"
	"strconv"
	"strings"
)

// systemd-sysusers for the configuration files packages name
// (dh_installsysusers): users and groups that do not exist yet are
// added, ids picked downward from 999 as systemd does, passwords locked
// ("!*"), the day of the change from SOURCE_DATE_EPOCH.

func init() {
	registerShared(sysusersCmd, "systemd-sysusers")
}

var sysusersDirs = []string{"/etc/sysusers.d", "/run/sysusers.d", "/usr/local/lib/sysusers.d", "/usr/lib/sysusers.d"}

type suItem struct {
	typ         string // u or g
	locked      bool   // u!
	name        string
	id          int // -1: allocate
	group       string
	gid         int // for u with "uid:gid"
	gecos, home string
	shell       string
}

func sysusersCmd(c *cmd) error {
	o, err := c.parse(optSpec{"root=", "replace=", "inline", "dry-run", "tldr"}, false)
	if err != nil {
		return err
	}
	if r := o.get("root"); r != "" && r != "/" {
		return c.unsupported("--root=%s", r)
	}
	if o.has("inline") || o.has("replace") || len(o.operands) == 0 {
		return c.unsupported("only named configuration files are implemented")
	}
	s := c.s
	// Like systemd-sysusers, explicit "g" lines are processed before
	// users, whose own groups are created as each user is.
	var groups, implicit, users []*suItem
	var members [][2]string
	for _, name := range o.operands {
		file := ""
		if strings.Contains(name, "/") {
			file = c.abs(name)
		} else {
			for _, d := range sysusersDirs {
				if e, ok := s.lookup(d + "/" + name); ok && e.Type != tar.TypeDir {
					file = d + "/" + name
					break
				}
			}
		}
		if file == "" {
			return c.failf("Failed to find %s", name)
		}
		data, err := s.readFile(file)
		if err != nil {
			return c.failf("%s: %v", file, err)
		}
		for _, l := range lines(data) {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			f := splitQuotedFields(l)
			for len(f) < 6 {
				f = append(f, "-")
			}
			it := &suItem{typ: f[0][:1], locked: strings.Contains(f[0], "!"), name: f[1], id: -1, gid: -1}
			if f[3] != "-" {
				it.gecos = f[3]
			}
			if f[4] != "-" {
				it.home = f[4]
			}
			if f[5] != "-" {
				it.shell = f[5]
			}
			switch it.typ {
			case "g":
				if f[2] != "-" {
					n, err := strconv.Atoi(f[2])
					if err != nil {
						return c.unsupported("sysusers group id %q", f[2])
					}
					it.id = n
				}
				groups = append(groups, it)
			case "u":
				idf := f[2]
				if idf != "-" {
					// "uid", "uid:group", "-:group" (openssh-server's
					// sshd -:nogroup: an allocated uid, an existing group).
					u, g, hasG := strings.Cut(idf, ":")
					if u != "-" {
						n, err := strconv.Atoi(u)
						if err != nil {
							return c.unsupported("sysusers user id %q", idf)
						}
						it.id = n
					}
					if hasG {
						if gn, err := strconv.Atoi(g); err == nil {
							it.gid = gn
						} else {
							it.group = g
						}
					}
				}
				users = append(users, it)
				if it.group == "" && it.gid < 0 {
					// The user's own group, allocated with the groups.
					implicit = append(implicit, &suItem{typ: "g", name: it.name, id: it.id})
				}
			case "m":
				members = append(members, [2]string{f[1], f[2]})
			default:
				return c.unsupported("sysusers type %q", f[0])
			}
		}
	}
	return s.sysusersApply(c, append(groups, implicit...), users, members)
}

func (s *sys) sysusersApply(c *cmd, groups, users []*suItem, members [][2]string) error {
	a, err := s.loadAccts("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")
	if err != nil {
		return c.failf("%v", err)
	}
	passwd, shadow, group, gshadow := a[0], a[1], a[2], a[3]
	gidOf := map[string]int{}
	uidFree := func(id int) bool { return passwd.findID(id) == nil }
	gidFree := func(id int) bool { return group.findID(id) == nil }
	const sysMax = 999
	for _, g := range groups {
		if l := group.find(g.name); l != nil {
			gidOf[g.name], _ = strconv.Atoi(l[2])
			continue
		}
		gid := -1
		switch {
		case g.id >= 0 && gidFree(g.id):
			gid = g.id
		default:
			// A user of the same name with an id: the same number.
			for _, u := range users {
				if u.name == g.name && u.id >= 0 && gidFree(u.id) {
					gid = u.id
				}
			}
		}
		if gid < 0 {
			for id := sysMax; id > 0; id-- {
				if gidFree(id) && uidFree(id) {
					gid = id
					break
				}
			}
		}
		if gid < 0 {
			return c.failf("no free group id for %s", g.name)
		}
		gidOf[g.name] = gid
		group.add(dbLine{g.name, "x", strconv.Itoa(gid), ""})
		// Written even where there was no gshadow (or shadow) yet:
		// sysusers makes the file, and pwconv/grpconv later add the
		// entries of the others after its own (trixie's systemd runs
		// before passwd's postinst).
		gshadow.add(dbLine{g.name, "!*", "", ""})
	}
	for _, u := range users {
		if passwd.find(u.name) != nil {
			continue
		}
		gid := u.gid
		if gid < 0 {
			gname := u.group
			if gname == "" {
				gname = u.name
			}
			g, ok := gidOf[gname]
			if !ok {
				if n, ok2 := s.groupID(gname); ok2 {
					g, ok = n, true
				}
			}
			if !ok {
				return c.failf("group %s of user %s does not exist", gname, u.name)
			}
			gid = g
		}
		// As systemd-sysusers' add_user: the uid asked for if free, else
		// the primary group's gid if no user has it, else down from 999
		// an id neither a user nor another's group has.
		uid := u.id
		if uid < 0 || !uidFree(uid) {
			uid = -1
			if uidFree(gid) {
				uid = gid
			} else {
				for id := sysMax; id > 0; id-- {
					if l := group.findID(id); uidFree(id) && (l == nil || l[0] == u.name) {
						uid = id
						break
					}
				}
			}
		}
		if uid < 0 {
			return c.failf("no free user id for %s", u.name)
		}
		home, shell := u.home, u.shell
		if home == "" {
			home = "/"
		}
		if shell == "" {
			shell = "/usr/sbin/nologin"
			if uid == 0 {
				shell = "/bin/sh"
			}
		}
		passwd.add(dbLine{u.name, "x", strconv.Itoa(uid), strconv.Itoa(gid), u.gecos, home, shell})
		expire := ""
		if u.locked {
			expire = "1"
		}
		// After the entries already there, as systemd-sysusers 252 and
		// 257 write them (bookworm's and trixie's images built by dpkg).
		shadow.add(dbLine{u.name, "!*", s.today(), "", "", "", "", expire, ""})
	}
	for _, m := range members {
		for _, f := range []*acctFile{group, gshadow} {
			if !f.exists {
				continue
			}
			l := f.find(m[1])
			if l == nil || len(l) < 4 {
				continue
			}
			ms := splitMembers(l[3])
			if !contains(ms, m[0]) {
				l[3] = strings.Join(append(ms, m[0]), ",")
				f.changed = true
			}
		}
	}
	if group.changed || passwd.changed || gshadow.changed || shadow.changed {
		if err := s.lockPasswd(); err != nil {
			return err
		}
	}
	shadowGid, _ := s.groupID("shadow")
	for _, f := range []struct {
		f    *acctFile
		mode int64
		gid  int
	}{{group, 0o644, 0}, {gshadow, 0o640, shadowGid}, {passwd, 0o644, 0}, {shadow, 0o640, shadowGid}} {
		// sysusers copies the old file to FILE- with its mode.
		if f.f.changed && f.f.exists {
			if err := s.saveAcctBackup(f.f, f.mode, f.gid, f.f.entry.Mode); err != nil {
				return err
			}
			continue
		}
		if !f.f.exists && (f.f == shadow || f.f == gshadow) {
			// A shadow file sysusers makes is root's, mode 0000 (252).
			f.mode, f.gid = 0, 0
		}
		if err := s.saveAcct(f.f, f.mode, f.gid); err != nil {
			return err
		}
	}
	return nil
}
