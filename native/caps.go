package native

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// setcap and getcap: file capabilities are the security.capability
// extended attribute (VFS_CAP_REVISION_2), kept in the staging table and
// written by export as a PAX record.

func init() {
	register(setcapCmd, "setcap")
	register(getcapCmd, "getcap")
}

const xattrCaps = "security.capability"

var capNames = []string{"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
	"sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
	"mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"}

// parseCaps reads the text form ("cap_net_raw+ep", "cap_a,cap_b=p").
func parseCaps(text string) (perm, inh uint64, eff bool, err error) {
	for _, clause := range strings.Fields(text) {
		i := strings.IndexAny(clause, "=+-")
		if i < 0 {
			return 0, 0, false, fmt.Errorf("invalid capability %q", clause)
		}
		var set uint64
		for _, n := range strings.Split(clause[:i], ",") {
			n = strings.TrimPrefix(strings.ToLower(n), "cap_")
			if n == "all" || n == "" {
				set = 1<<uint(len(capNames)) - 1
				continue
			}
			found := false
			for b, cn := range capNames {
				if cn == n {
					set |= 1 << uint(b)
					found = true
				}
			}
			if !found {
				return 0, 0, false, fmt.Errorf("unknown capability %q", n)
			}
		}
		rest := clause[i:]
		for len(rest) > 0 {
			op := rest[0]
			j := 1
			for j < len(rest) && strings.IndexByte("eip", rest[j]) >= 0 {
				j++
			}
			flags := rest[1:j]
			rest = rest[j:]
			if op == '=' {
				perm &^= set
				inh &^= set
				eff = false
			}
			for _, f := range flags {
				switch {
				case f == 'p' && op != '-':
					perm |= set
				case f == 'p':
					perm &^= set
				case f == 'i' && op != '-':
					inh |= set
				case f == 'i':
					inh &^= set
				case f == 'e':
					eff = op != '-'
				}
			}
		}
	}
	return perm, inh, eff, nil
}

// capsXattr encodes vfs_cap_data revision 2.
func capsXattr(perm, inh uint64, eff bool) string {
	b := make([]byte, 20)
	magic := uint32(0x02000000)
	if eff {
		magic |= 1
	}
	binary.LittleEndian.PutUint32(b[0:], magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(perm))
	binary.LittleEndian.PutUint32(b[8:], uint32(inh))
	binary.LittleEndian.PutUint32(b[12:], uint32(perm>>32))
	binary.LittleEndian.PutUint32(b[16:], uint32(inh>>32))
	return string(b)
}

// capsText is getcap's form of an xattr: "cap_net_raw=ep".
func capsText(x string) string {
	if len(x) < 12 {
		return ""
	}
	b := []byte(x)
	magic := binary.LittleEndian.Uint32(b[0:])
	perm := uint64(binary.LittleEndian.Uint32(b[4:]))
	inh := uint64(binary.LittleEndian.Uint32(b[8:]))
	if len(b) >= 20 {
		perm |= uint64(binary.LittleEndian.Uint32(b[12:])) << 32
		inh |= uint64(binary.LittleEndian.Uint32(b[16:])) << 32
	}
	var names []string
	for i, n := range capNames {
		if (perm|inh)&(1<<uint(i)) != 0 {
			names = append(names, "cap_"+n)
		}
	}
	sort.Strings(names)
	flags := ""
	if magic&1 != 0 {
		flags += "e"
	}
	if inh != 0 {
		flags += "i"
	}
	if perm != 0 {
		flags += "p"
	}
	return strings.Join(names, ",") + "=" + flags
}

func setcapCmd(c *cmd) error {
	args := c.args[1:]
	for len(args) > 0 && (args[0] == "-q" || args[0] == "-v") {
		args = args[1:]
	}
	remove := false
	if len(args) > 0 && args[0] == "-r" {
		remove, args = true, args[1:]
	}
	var text, file string
	switch {
	case remove && len(args) == 1:
		file = args[0]
	case !remove && len(args) == 2:
		text, file = args[0], args[1]
	default:
		return c.unsupported("arguments %v", args)
	}
	real, _, ok, err := c.s.resolve(c.dir, file, true)
	if err != nil || !ok {
		return c.failf("Failed to set capabilities on file '%s': No such file or directory", file)
	}
	var val string
	if !remove {
		perm, inh, eff, err := parseCaps(text)
		if err != nil {
			return c.failf("%v", err)
		}
		val = capsXattr(perm, inh, eff)
	}
	if err := c.s.st.Update(real, func(x *rootfs.Entry) {
		if x.Xattrs == nil {
			x.Xattrs = map[string]string{}
		}
		if remove {
			delete(x.Xattrs, xattrCaps)
		} else {
			x.Xattrs[xattrCaps] = val
		}
	}); err != nil {
		return &stageError{err}
	}
	return nil
}

func getcapCmd(c *cmd) error {
	for _, f := range c.args[1:] {
		if strings.HasPrefix(f, "-") {
			return c.unsupported("option %s", f)
		}
		e, ok := c.s.lookup(c.abs(f))
		if !ok {
			fmt.Fprintf(c.stderr, "Failed to get capabilities of file '%s' (No such file or directory)\n", f)
			continue
		}
		if x, ok := e.Xattrs[xattrCaps]; ok {
			fmt.Fprintf(c.stdout, "%s %s\n", f, capsText(x))
		}
	}
	return nil
}
