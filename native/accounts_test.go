package native

import (
	"strings"
	"testing"
)

// useradd -r and groupadd -r allocate as shadow's find_new_uid and
// find_new_gid: down from just below the lowest system id in use
// (SYS_UID_MIN defaulting to 101, so adduser's 100 is outside), else
// down from SYS_UID_MAX; the user group takes the uid as gid only when
// free; -K overrides the range; the shell and home base come from
// /etc/default/useradd, /bin/bash without it. The expectations are
// what shadow 4.13's useradd --prefix gave for the same files.
func TestUseraddSystemIDs(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/etc/login.defs": "UID_MIN\t\t\t 1000\nUID_MAX\t\t\t60000\n#SYS_UID_MIN\t\t  100\n#SYS_UID_MAX\t\t  999\nGID_MIN\t\t\t 1000\nGID_MAX\t\t\t60000\n#SYS_GID_MIN\t\t  100\n#SYS_GID_MAX\t\t  999\n",
		"/etc/passwd":     "root:x:0:0:root:/root:/bin/bash\nmb:x:100:101::/x:/bin/false\nhi:x:999:999::/x:/bin/false\nlo:x:997:997::/x:/bin/false\nnobody:x:65534:65534::/x:/bin/false\n",
		"/etc/group":      "root:x:0:\nusers:x:100:\nmb:x:101:\nhi:x:999:\nlo:x:997:\ntaken:x:996:\nnogroup:x:65534:\n",
		"/etc/shadow":     "root:*:1::::::\n",
		"/etc/gshadow":    "root:*::\n",
	})
	mustSh(t, s, `set -e
useradd -r c
useradd -r d
groupadd -r g1
useradd -r -K SYS_UID_MIN=200 -K SYS_UID_MAX=300 e
groupadd -r -K SYS_GID_MIN=150 -K SYS_GID_MAX=160 g2`)
	passwd, group := get(t, st, "/etc/passwd"), get(t, st, "/etc/group")
	if want := "nobody:x:65534:65534::/x:/bin/false\nc:x:996:998::/home/c:/bin/bash\nd:x:995:995::/home/d:/bin/bash\ne:x:300:300::/home/e:/bin/bash\n"; !strings.HasSuffix(passwd, want) {
		t.Errorf("passwd:\n%s\nwant it to end\n%s", passwd, want)
	}
	if want := "nogroup:x:65534:\nc:x:998:\nd:x:995:\ng1:x:994:\ne:x:300:\ng2:x:160:\n"; !strings.HasSuffix(group, want) {
		t.Errorf("group:\n%s\nwant it to end\n%s", group, want)
	}
	put(t, st, map[string]string{"/etc/default/useradd": "# useradd defaults\nSHELL=/bin/sh\n"})
	mustSh(t, s, "useradd -r f; useradd -r g")
	if want := "f:x:299:299::/home/f:/bin/sh\ng:x:298:298::/home/g:/bin/sh\n"; !strings.HasSuffix(get(t, st, "/etc/passwd"), want) {
		t.Errorf("passwd:\n%s\nwant it to end\n%s", get(t, st, "/etc/passwd"), want)
	}
}

// systemd-sysusers allocates down from 999 an id free as uid and gid
// for a user's own group, then the group's id for the user; an explicit
// gid is taken even where a uid has it; "-:nogroup" (openssh-server's
// sshd in trixie) is an allocated uid with an existing group, the group's
// id reused only if no user has it. The files are trixie's (u! as u) and
// the expectations what systemd-sysusers 252 --root gave, run one file
// set after another as the postinsts do.
func TestSysusersAllocation(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/etc/passwd":                              "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\npostgres:x:100:103::/var/lib/postgresql:/bin/bash\n",
		"/etc/group":                               "root:x:0:\nusers:x:100:\n_ssh:x:101:\nnogroup:x:65534:\n",
		"/etc/shadow":                              "root:*:1::::::\nnobody:*:1::::::\npostgres:*:1::::::\n",
		"/etc/gshadow":                             "root:*::\nusers:*::\n_ssh:*::\nnogroup:*::\n",
		"/usr/lib/sysusers.d/basic.conf":           "# generated from /usr/share/base-passwd/{passwd,group}.master\ng adm        4     -\ng tty        5     -\ng disk       6     -\ng man        12    -\ng kmem       15    -\ng dialout    20    -\ng fax        21    -\ng voice      22    -\ng cdrom      24    -\ng floppy     25    -\ng tape       26    -\ng sudo       27    -\ng audio      29    -\ng dip        30    -\ng operator   37    -\ng src        40    -\ng shadow     42    -\ng utmp       43    -\ng video      44    -\ng sasl       45    -\ng plugdev    46    -\ng staff      50    -\ng games      60    -\ng users      100   -\ng nogroup    65534 -\n\nu root       0       - /root                /bin/bash\nu daemon     1       - /usr/sbin            /usr/sbin/nologin\nu bin        2       - /bin                 /usr/sbin/nologin\nu sys        3       - /dev                 /usr/sbin/nologin\nu sync       4:65534 - /bin                 /bin/sync\nu games      5:60    - /usr/games           /usr/sbin/nologin\nu man        6:12    - /var/cache/man       /usr/sbin/nologin\nu lp         7       - /var/spool/lpd       /usr/sbin/nologin\nu mail       8       - /var/mail            /usr/sbin/nologin\nu news       9       - /var/spool/news      /usr/sbin/nologin\nu uucp       10      - /var/spool/uucp      /usr/sbin/nologin\nu proxy      13      - /bin                 /usr/sbin/nologin\nu www-data   33      - /var/www             /usr/sbin/nologin\nu backup     34      - /var/backups         /usr/sbin/nologin\nu list       38      - /var/list            /usr/sbin/nologin\nu irc        39      - /run/ircd            /usr/sbin/nologin\nu _apt       42:65534 - /nonexistent         /usr/sbin/nologin\nu nobody     65534:65534 - /nonexistent         /usr/sbin/nologin\n",
		"/usr/lib/sysusers.d/dbus.conf":            "# sysusers.d snippet for creating the D-Bus system user automatically\n# at boot on systemd-based systems that ship with an unpopulated\n# /etc. See sysusers.d(5) for details.\n\nu messagebus - \"System Message Bus\" /nonexistent\n",
		"/usr/lib/sysusers.d/openssh-server.conf":  "u sshd -:nogroup \"sshd user\" /run/sshd\n",
		"/usr/lib/sysusers.d/systemd-journal.conf": "#  This file is part of systemd.\n#\n#  systemd is free software; you can redistribute it and/or modify it\n#  under the terms of the GNU Lesser General Public License as published by\n#  the Free Software Foundation; either version 2.1 of the License, or\n#  (at your option) any later version.\n\ng systemd-journal - -\n",
		"/usr/lib/sysusers.d/systemd-network.conf": "#  This file is part of systemd.\n#\n#  systemd is free software; you can redistribute it and/or modify it\n#  under the terms of the GNU Lesser General Public License as published by\n#  the Free Software Foundation; either version 2.1 of the License, or\n#  (at your option) any later version.\n\nu systemd-network - \"systemd Network Management\"\n",
		"/usr/lib/sysusers.d/x.conf":               "g shared 997 -\nu takes997 -\n",
		"/usr/lib/sysusers.d/y.conf":               "u nob -:nogroup\n",
	})
	mustSh(t, s, `set -e
systemd-sysusers basic.conf systemd-journal.conf systemd-network.conf
systemd-sysusers openssh-server.conf
systemd-sysusers x.conf
systemd-sysusers dbus.conf
systemd-sysusers y.conf`)
	if got, want := get(t, st, "/etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\npostgres:x:100:103::/var/lib/postgresql:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nbin:x:2:2::/bin:/usr/sbin/nologin\nsys:x:3:3::/dev:/usr/sbin/nologin\nsync:x:4:65534::/bin:/bin/sync\ngames:x:5:60::/usr/games:/usr/sbin/nologin\nman:x:6:12::/var/cache/man:/usr/sbin/nologin\nlp:x:7:7::/var/spool/lpd:/usr/sbin/nologin\nmail:x:8:8::/var/mail:/usr/sbin/nologin\nnews:x:9:9::/var/spool/news:/usr/sbin/nologin\nuucp:x:10:10::/var/spool/uucp:/usr/sbin/nologin\nproxy:x:13:13::/bin:/usr/sbin/nologin\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nbackup:x:34:34::/var/backups:/usr/sbin/nologin\nlist:x:38:38::/var/list:/usr/sbin/nologin\nirc:x:39:39::/run/ircd:/usr/sbin/nologin\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nsystemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\nsshd:x:997:65534:sshd user:/run/sshd:/usr/sbin/nologin\ntakes997:x:996:996::/:/usr/sbin/nologin\nmessagebus:x:995:995:System Message Bus:/nonexistent:/usr/sbin/nologin\nnob:x:994:65534::/:/usr/sbin/nologin\n"; got != want {
		t.Errorf("passwd:\n%s\nwant\n%s", got, want)
	}
	if got, want := get(t, st, "/etc/group"), "root:x:0:\nusers:x:100:\n_ssh:x:101:\nnogroup:x:65534:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nman:x:12:\nkmem:x:15:\ndialout:x:20:\nfax:x:21:\nvoice:x:22:\ncdrom:x:24:\nfloppy:x:25:\ntape:x:26:\nsudo:x:27:\naudio:x:29:\ndip:x:30:\noperator:x:37:\nsrc:x:40:\nshadow:x:42:\nutmp:x:43:\nvideo:x:44:\nsasl:x:45:\nplugdev:x:46:\nstaff:x:50:\ngames:x:60:\nsystemd-journal:x:999:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nlp:x:7:\nmail:x:8:\nnews:x:9:\nuucp:x:10:\nproxy:x:13:\nwww-data:x:33:\nbackup:x:34:\nlist:x:38:\nirc:x:39:\nsystemd-network:x:998:\nshared:x:997:\ntakes997:x:996:\nmessagebus:x:995:\n"; got != want {
		t.Errorf("group:\n%s\nwant\n%s", got, want)
	}
}

// TestSysusersCreatesShadow: with no /etc/shadow or /etc/gshadow yet
// (trixie's systemd is configured before passwd's pwconv), sysusers
// makes them with its own entries, root's, mode 0000 (as
// systemd-sysusers 252 --root does); pwconv adds the others' later.
func TestSysusersCreatesShadow(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
		"/etc/group":  "root:x:0:\nshadow:x:42:\n",
		"/usr/lib/sysusers.d/systemd-network.conf": "u! systemd-network - \"systemd Network Management\"\n",
		"/usr/lib/sysusers.d/systemd-journal.conf": "g systemd-journal - -\n",
	})
	mustSh(t, s, "systemd-sysusers systemd-journal.conf systemd-network.conf")
	day := s.today()
	if got, want := get(t, st, "/etc/shadow"), "systemd-network:!*:"+day+":::::1:\n"; got != want {
		t.Errorf("shadow %q, want %q", got, want)
	}
	if got, want := get(t, st, "/etc/gshadow"), "systemd-journal:!*::\nsystemd-network:!*::\n"; got != want {
		t.Errorf("gshadow %q, want %q", got, want)
	}
	if e := entry(t, st, "/etc/shadow"); e.Mode != 0 || e.Gid != 0 {
		t.Errorf("shadow mode %o gid %d", e.Mode, e.Gid)
	}
}
