package profile

import "github.com/debstrap/debstrap/rootfs"

// ubuntuConfigured is what livecd-rootfs does to ubuntu:SUITE's root.
func (p *Profile) ubuntuConfigured(st *rootfs.Stage, pkgs []Installed, arch string, manual []string) error {
	return markAuto(st, pkgs, arch, manual)
}
