package native

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// adduser and addgroup, Debian's front ends, for what maintainer scripts
// ask of them: system users and groups, and adding a user to a group.
// Like the Perl program they pick the first free id upward from
// FIRST_SYSTEM_UID/GID of /etc/adduser.conf and leave the work to
// groupadd, useradd and usermod (here, the same Go units).

// adduserConf reads the numeric settings of /etc/adduser.conf.
func (s *sys) adduserConf() map[string]string {
	conf := map[string]string{
		"FIRST_SYSTEM_UID": "100", "LAST_SYSTEM_UID": "999",
		"FIRST_SYSTEM_GID": "100", "LAST_SYSTEM_GID": "999",
		"DIR_MODE": "0700", "SYS_DIR_MODE": "0755",
	}
	data, err := s.readFile("/etc/adduser.conf")
	if err != nil {
		return conf
	}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			conf[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return conf
}

func confInt(conf map[string]string, k string) int {
	n, _ := strconv.Atoi(conf[k])
	return n
}

// firstFree is adduser's first_avail_uid/gid: upward from min.
func firstFree(min, max int, f *acctFile) int {
	for id := min; id <= max; id++ {
		if f.findID(id) == nil {
			return id
		}
	}
	return -1
}

func adduserCmd(c *cmd) error {
	o, err := c.parse(optSpec{"system", "group", "ingroup=", "gid=", "uid=", "home=", "shell=", "no-create-home",
		"disabled-password", "disabled-login", "gecos=", "comment=", "q|quiet", "force-badname", "allow-badname",
		"allow-bad-names", "firstuid=", "lastuid=", "firstgid=", "lastgid=", "debug", "verbose", "stdoutmsglevel=", "stderrmsglevel=", "logmsglevel="}, false)
	if err != nil {
		return err
	}
	s := c.s
	conf := s.adduserConf()
	ops := o.operands
	isAddgroup := c.name() == "addgroup"
	system := o.has("system")
	switch {
	case len(ops) == 2 && !system && !o.has("group"):
		return s.addUserToGroup(c, ops[0], ops[1])
	case len(ops) != 1:
		return c.failf("Only one or two names allowed.")
	case !system:
		return c.unsupported("adding a non-system user or group")
	}
	name := ops[0]
	a, err := s.loadAccts("/etc/group", "/etc/passwd")
	if err != nil {
		return c.failf("%v", err)
	}
	group, passwd := a[0], a[1]
	firstGid, lastGid := confInt(conf, "FIRST_SYSTEM_GID"), confInt(conf, "LAST_SYSTEM_GID")
	firstUid, lastUid := confInt(conf, "FIRST_SYSTEM_UID"), confInt(conf, "LAST_SYSTEM_UID")
	if v := o.get("firstuid"); v != "" {
		firstUid, _ = strconv.Atoi(v)
	}
	if v := o.get("lastuid"); v != "" {
		lastUid, _ = strconv.Atoi(v)
	}
	if v := o.get("firstgid"); v != "" {
		firstGid, _ = strconv.Atoi(v)
	}
	if v := o.get("lastgid"); v != "" {
		lastGid, _ = strconv.Atoi(v)
	}
	if isAddgroup {
		// addgroup --system NAME
		if l := group.find(name); l != nil {
			gid, _ := strconv.Atoi(l[2])
			if v := o.get("gid"); v != "" && v != l[2] {
				fmt.Fprintf(c.stderr, "addgroup: The group `%s' already exists, but has a different GID. Exiting.\n", name)
				return status(1)
			}
			if gid >= firstGid && gid <= lastGid {
				return nil
			}
			fmt.Fprintf(c.stderr, "addgroup: The group `%s' already exists and is not a system group. Exiting.\n", name)
			return status(1)
		}
		gid := -1
		if v := o.get("gid"); v != "" {
			if gid, err = strconv.Atoi(v); err != nil {
				return c.failf("invalid gid %s", v)
			}
			if group.findID(gid) != nil {
				return c.failf("The GID `%d' is already in use.", gid)
			}
		} else if gid = firstFree(firstGid, lastGid, group); gid < 0 {
			return c.failf("No GID is available in the range %d-%d (FIRST_SYS_GID - LAST_SYS_GID).", firstGid, lastGid)
		}
		return s.runUnit(c, "groupadd", "-g", strconv.Itoa(gid), name)
	}

	// adduser --system NAME
	if l := passwd.find(name); l != nil {
		uid, _ := strconv.Atoi(l[2])
		if v := o.get("uid"); v != "" && v != l[2] {
			fmt.Fprintf(c.stderr, "adduser: The user `%s' already exists with a different UID. Exiting.\n", name)
			return status(1)
		}
		if uid >= firstUid && uid <= lastUid {
			return nil
		}
		fmt.Fprintf(c.stderr, "adduser: The user `%s' already exists, but is not a system user. Exiting.\n", name)
		return status(1)
	}
	makeGroup := o.has("group")
	ingroup := o.get("ingroup")
	gidOpt := -1
	if v := o.get("gid"); v != "" {
		if gidOpt, err = strconv.Atoi(v); err != nil {
			return c.failf("invalid gid %s", v)
		}
	}
	if ingroup == "" && gidOpt < 0 && !makeGroup {
		gidOpt, _ = s.groupID("nogroup")
		if gidOpt == 0 {
			gidOpt = 65534
		}
	}
	if makeGroup {
		if l := group.find(name); l != nil {
			gid, _ := strconv.Atoi(l[2])
			if gid < firstGid || gid > lastGid {
				return c.failf("The group `%s' already exists and is not a system group.", name)
			}
		}
	}
	uid := -1
	if v := o.get("uid"); v != "" {
		if uid, err = strconv.Atoi(v); err != nil {
			return c.failf("invalid uid %s", v)
		}
	}
	switch {
	case uid < 0 && makeGroup:
		if uid = firstFree(firstUid, lastUid, passwd); uid < 0 {
			return c.failf("No UID/GID pair is available in the range %d-%d (FIRST_SYS_UID - LAST_SYS_UID).", firstUid, lastUid)
		}
		if gidOpt = firstFree(firstGid, lastGid, group); gidOpt < 0 {
			return c.failf("No GID is available in the range %d-%d.", firstGid, lastGid)
		}
		ingroup = name
	case uid < 0:
		if uid = firstFree(firstUid, lastUid, passwd); uid < 0 {
			return c.failf("No UID is available in the range %d-%d (FIRST_SYS_UID - LAST_SYS_UID).", firstUid, lastUid)
		}
		fallthrough
	default:
		switch {
		case gidOpt >= 0:
			ingroup = s.groupName(gidOpt)
		case ingroup != "":
			g, ok := s.groupID(ingroup)
			if !ok {
				return c.failf("The group `%s' does not exist.", ingroup)
			}
			gidOpt = g
		case makeGroup:
			gidOpt, ingroup = uid, name
		}
	}
	if makeGroup && group.find(name) == nil {
		if err := s.runUnit(c, "groupadd", "-g", strconv.Itoa(gidOpt), name); err != nil {
			return err
		}
	}
	home := o.get("home")
	if home == "" {
		home = "/nonexistent"
	}
	// adduser never creates a home under /nonexistent.
	rel := strings.TrimLeft(home, "/")
	noCreateHome := o.has("no-create-home") || rel == "nonexistent" || strings.HasPrefix(rel, "nonexistent/")
	shell := o.get("shell")
	if shell == "" {
		shell = "/usr/sbin/nologin"
	}
	if err := s.runUnit(c, "useradd", "-r",
		"-K", fmt.Sprintf("SYS_UID_MIN=%d", firstUid), "-K", fmt.Sprintf("SYS_UID_MAX=%d", lastUid),
		"-d", home, "-g", ingroup, "-s", shell, "-u", strconv.Itoa(uid), name); err != nil {
		return err
	}
	comment := o.get("comment")
	if comment == "" {
		comment = o.get("gecos")
	}
	if comment != "" {
		if script, err := s.readFile(c.path); err == nil && adduserUsesChfn.Match(script) {
			// adduser up to 3.137 sets the comment with chfn, which
			// writes all four fields: "Name,,,".
			old := ""
			if passwd, err := s.loadAcct("/etc/passwd"); err == nil {
				if l := passwd.find(name); l != nil && len(l) > 4 {
					old = l[4]
				}
			}
			comment = chfnGecos(old, comment)
		}
		if err := s.setGecos(name, comment); err != nil {
			return err
		}
	}
	if !noCreateHome && !s.exists(home) {
		mode, err := strconv.ParseInt(conf["SYS_DIR_MODE"], 8, 64)
		if err != nil {
			mode = 0o755
		}
		if err := s.st.MkdirAll(home, rootfs.Entry{Mode: 0o755}); err != nil {
			return &stageError{err}
		}
		real, _, _, _ := s.resolve("/", home, true)
		if err := s.st.Update(real, func(e *rootfs.Entry) { e.Mode, e.Uid, e.Gid = mode, uid, gidOpt }); err != nil {
			return &stageError{err}
		}
	}
	return nil
}

// runUnit runs another registry command from a command (adduser calling
// useradd), with the same standard streams; a failure status is
// returned as is.
func (s *sys) runUnit(c *cmd, name string, args ...string) error {
	cm, ok := registry[name]
	if !ok {
		return c.unsupported("%s is not implemented", name)
	}
	sub := *c
	sub.args = append([]string{name}, args...)
	return cm.fn(&sub) // the caller holds s.mu already
}

var adduserUsesChfn = regexp.MustCompile(`\$chfn,\s*'-f'`)

// chfnGecos is the GECOS chfn -f NAME [-r ROOM -w WORK -h HOME -o OTHER]
// leaves, for adduser's comment split on commas as adduser splits it.
func chfnGecos(old, comment string) string {
	f := strings.SplitN(old, ",", 5)
	for len(f) < 5 {
		f = append(f, "")
	}
	if !strings.Contains(comment, ",") {
		f[0] = comment
	} else {
		parts := strings.Split(comment, ",")
		// Perl's split drops trailing empty fields; an undefined room
		// is passed as "".
		for len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		f[0], f[1] = "", ""
		for i := 0; i < len(parts) && i < 5; i++ {
			f[i] = parts[i]
		}
	}
	g := strings.Join(f[:4], ",")
	if f[4] != "" {
		g += "," + f[4]
	}
	return g
}

func (s *sys) setGecos(user, gecos string) error {
	passwd, err := s.loadAcct("/etc/passwd")
	if err != nil {
		return err
	}
	if l := passwd.find(user); l != nil && len(l) > 4 && l[4] != gecos {
		l[4] = gecos
		passwd.changed = true
	}
	return s.saveAcct(passwd, 0o644, 0)
}

func (s *sys) addUserToGroup(c *cmd, user, group string) error {
	if _, ok := s.userID(user); !ok {
		return c.failf("The user `%s' does not exist.", user)
	}
	if _, ok := s.groupID(group); !ok {
		return c.failf("The group `%s' does not exist.", group)
	}
	return s.runUnit(c, "usermod", "-a", "-G", group, user)
}
