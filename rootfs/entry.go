// Package rootfs is a staging root built by an ordinary user: file contents
// on disk under the builder's uid, and the truth about every path (owner,
// mode, type, device numbers, xattrs, hardlinks) in a metadata table.
//
// A Stage unpacks packages' data.tar as dpkg --unpack places files
// (directories merge, symlinks to directories count as directories,
// file conflicts go to a Replaces callback, merged /usr as debootstrap
// and mmdebstrap make it) and resolves every path in its table with the
// root as "/", so that no entry, by "..", absolute name, symlink or hard
// link, reaches outside the staging directory. Save writes the table
// next to the directory (MetaPath); export reads it with Entries.
package rootfs

import "time"

// Entry is the metadata of one path of the root. Export writes images
// from entries, never from stat(2) of the staging directory.
type Entry struct {
	Path     string // absolute and clean inside the root: "/", "/usr/bin/ls"
	Type     byte   // archive/tar type: TypeReg, TypeDir, TypeSymlink, TypeLink, TypeChar, TypeBlock, TypeFifo
	Mode     int64  // permission bits with setuid, setgid and sticky (07777)
	Uid, Gid int
	Size     int64  // regular files (0 for TypeLink)
	Linkname string // symlink target as shipped; for TypeLink the path of the group's TypeReg entry (its least path, so sorted first)
	Devmajor int64
	Devminor int64
	Xattrs   map[string]string // e.g. "security.capability" → raw value
	ModTime  time.Time
	Package  string // the package that shipped it ("" for paths the build made)
}
