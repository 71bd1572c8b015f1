package profile

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/debstrap/debstrap/rootfs"
)

// The user configure_oci adds to ubuntu:SUITE (lunar on):
//
//	useradd ubuntu -U -u 1000 --comment Ubuntu \
//	  --groups adm,audio,cdrom,dialout,dip,floppy,plugdev,sudo,video \
//	  --shell /bin/bash -m
const (
	ubuntuUser  = "ubuntu"
	ubuntuID    = 1000
	ubuntuHome  = "/home/ubuntu"
	ubuntuShell = "/bin/bash"
)

var ubuntuGroups = []string{"adm", "audio", "cdrom", "dialout", "dip", "floppy", "plugdev", "sudo", "video"}

// addUbuntuUser does what that useradd (shadow's) does: the passwd,
// group, shadow and gshadow entries (each file's previous content kept
// as its "-" backup, with its mode and owner), a subordinate id range,
// the home directory from /etc/skel with login.defs' HOME_MODE, and a
// zeroed lastlog and faillog record for the uid.
func addUbuntuUser(st *rootfs.Stage, arch string, epoch time.Time) error {
	defs := loginDefs(st)
	id := strconv.Itoa(ubuntuID)
	days := strconv.FormatInt(epoch.Unix()/86400, 10)
	edits := []struct {
		file string
		edit func([]string) ([]string, error)
	}{
		{"/etc/passwd", func(l []string) ([]string, error) {
			return append(l, strings.Join([]string{ubuntuUser, "x", id, id, "Ubuntu", ubuntuHome, ubuntuShell}, ":")), nil
		}},
		{"/etc/group", func(l []string) ([]string, error) {
			l, err := addMembers(l, 3)
			return append(l, ubuntuUser+":x:"+id+":"), err
		}},
		{"/etc/shadow", func(l []string) ([]string, error) {
			return append(l, strings.Join([]string{ubuntuUser, "!", days, defs.get("PASS_MIN_DAYS", "0"), defs.get("PASS_MAX_DAYS", "99999"), defs.get("PASS_WARN_AGE", "7"), "", "", ""}, ":")), nil
		}},
		{"/etc/gshadow", func(l []string) ([]string, error) {
			l, err := addMembers(l, 3)
			return append(l, ubuntuUser+":!::"), err
		}},
		{"/etc/subuid", func(l []string) ([]string, error) {
			return append(l, ubuntuUser+":"+defs.get("SUB_UID_MIN", "100000")+":"+defs.get("SUB_UID_COUNT", "65536")), nil
		}},
		{"/etc/subgid", func(l []string) ([]string, error) {
			return append(l, ubuntuUser+":"+defs.get("SUB_GID_MIN", "100000")+":"+defs.get("SUB_GID_COUNT", "65536")), nil
		}},
	}
	for _, e := range edits {
		old, err := st.ReadFile(e.file)
		if err != nil {
			if e.file == "/etc/passwd" || e.file == "/etc/group" {
				return err
			}
			continue // shadow's files are optional, as to useradd
		}
		entry, _ := st.Lookup(e.file)
		if strings.HasSuffix(e.file, "/etc/subuid") || strings.HasSuffix(e.file, "/etc/subgid") {
			if strings.Contains("\n"+string(old), "\n"+ubuntuUser+":") {
				continue
			}
		}
		lines := strings.Split(strings.TrimSuffix(string(old), "\n"), "\n")
		if len(old) == 0 {
			lines = nil
		}
		for _, l := range lines {
			if strings.HasPrefix(l, ubuntuUser+":") && e.file != "/etc/subuid" && e.file != "/etc/subgid" {
				return fmt.Errorf("%s has %s already", e.file, ubuntuUser)
			}
		}
		if lines, err = e.edit(lines); err != nil {
			return fmt.Errorf("%s: %w", e.file, err)
		}
		keep := rootfs.Entry{Mode: entry.Mode, Uid: entry.Uid, Gid: entry.Gid}
		if err := st.WriteFile(e.file+"-", old, keep); err != nil {
			return err
		}
		if err := st.WriteFile(e.file, []byte(strings.Join(lines, "\n")+"\n"), keep); err != nil {
			return err
		}
	}
	mode, err := strconv.ParseInt(defs.get("HOME_MODE", "0750"), 8, 64)
	if err != nil {
		return fmt.Errorf("login.defs HOME_MODE: %w", err)
	}
	if err := st.MkdirAll(path.Dir(ubuntuHome), rootfs.Entry{Mode: 0o755}); err != nil {
		return err
	}
	if err := st.Mkdir(ubuntuHome, rootfs.Entry{Mode: mode, Uid: ubuntuID, Gid: ubuntuID}); err != nil {
		return err
	}
	if err := copySkel(st, "/etc/skel", ubuntuHome); err != nil {
		return err
	}
	// lastlog_reset and faillog_reset: a zero record at the uid's offset,
	// in files that exist.
	for f, size := range map[string]int{"/var/log/lastlog": lastlogSize(arch), "/var/log/faillog": 32} {
		e, ok := st.Lookup(f)
		if !ok || e.Type != '0' {
			continue
		}
		data, err := st.ReadFile(f)
		if err != nil {
			return err
		}
		if need := (ubuntuID + 1) * size; len(data) < need {
			data = append(data, make([]byte, need-len(data))...)
			if err := st.WriteFile(f, data, rootfs.Entry{Mode: e.Mode, Uid: e.Uid, Gid: e.Gid}); err != nil {
				return err
			}
		}
	}
	return nil
}

// addMembers adds the user to the member list (field i) of each of
// ubuntuGroups in a group or gshadow file; a group missing is an error,
// as to useradd.
func addMembers(lines []string, i int) ([]string, error) {
	for _, g := range ubuntuGroups {
		found := false
		for n, l := range lines {
			f := strings.Split(l, ":")
			if len(f) <= i || f[0] != g {
				continue
			}
			found = true
			if f[i] == "" {
				f[i] = ubuntuUser
			} else {
				f[i] += "," + ubuntuUser
			}
			lines[n] = strings.Join(f, ":")
		}
		if !found {
			return nil, fmt.Errorf("group %s does not exist", g)
		}
	}
	return lines, nil
}

// copySkel copies dir's files into home, owned by the user, modes kept.
func copySkel(st *rootfs.Stage, dir, home string) error {
	kids, err := st.List(dir)
	if err != nil {
		return nil // no skeleton: an empty home
	}
	for _, k := range kids {
		dst := home + "/" + path.Base(k.Path)
		own := rootfs.Entry{Mode: k.Mode, Uid: ubuntuID, Gid: ubuntuID}
		switch k.Type {
		case '5':
			if err := st.Mkdir(dst, own); err != nil {
				return err
			}
			if err := copySkel(st, k.Path, dst); err != nil {
				return err
			}
		case '2':
			if err := st.Symlink(k.Linkname, dst, own); err != nil {
				return err
			}
		default:
			data, err := st.ReadFile(k.Path)
			if err != nil {
				return err
			}
			if err := st.WriteFile(dst, data, own); err != nil {
				return err
			}
		}
	}
	return nil
}

// lastlogSize is glibc's struct lastlog: a 32-bit time on amd64 (kept
// for its i386 compatibility) and on 32-bit architectures, else time_t.
func lastlogSize(arch string) int {
	switch arch {
	case "amd64", "i386", "armhf", "armel":
		return 4 + 32 + 256
	}
	return 8 + 32 + 256
}

type defs map[string]string

func (d defs) get(k, def string) string {
	if v, ok := d[k]; ok {
		return v
	}
	return def
}

// loginDefs reads /etc/login.defs' KEY VALUE lines.
func loginDefs(st *rootfs.Stage) defs {
	d := defs{}
	data, err := st.ReadFile("/etc/login.defs")
	if err != nil {
		return d
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			d[f[0]] = f[1]
		}
	}
	return d
}
