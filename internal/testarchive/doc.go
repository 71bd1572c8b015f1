// Package testarchive builds complete fake Debian archives for hermetic
// tests: generated .deb files, Packages indexes, a Release file signed by a
// throw-away OpenPGP key, all served by an httptest server with hooks to
// inject faults.
//
// A typical test:
//
//	srv := testarchive.Serve(t, testarchive.Minimal())
//	keyring := srv.Key.WriteKeyring(t, t.TempDir())
//	// point the code under test at srv.URL, suite "stable", keyring …
//	srv.Inject(testarchive.Times(1, testarchive.ServerError("InRelease")))
//	srv.Inject(testarchive.Corrupt("*.deb"))
//	…
//	if got := srv.Count("by-hash/SHA256/*"); …
//
// Archives are described by value (Archive, Suite, Deb, File), so a test
// starts from Minimal() or its own literal and changes what it needs;
// NewDeb("name", "1.0-1", "Depends: x") is the short form for index-only
// packages. Faults (NotFound, Status, ServerError, Replace, Modify,
// Corrupt, Truncate, Delay, Hang, Redirect, limited by Times) select
// requests with path patterns (see Matches); any func with the Fault
// signature works too.
//
// The tree written (by Serve and Write) is laid out as on a real mirror:
//
//	pool/<component>/<prefix>/<source>/<name>_<version>_<arch>.deb
//	dists/<suite>/{InRelease,Release,Release.gpg}
//	dists/<suite>/<component>/binary-<arch>/{Packages.xz,Packages.gz,Release}
//	dists/<suite>/<component>/binary-<arch>/by-hash/SHA256/<sha256>
//
// Everything is deterministic except the key material and signatures.
//
// BuildDeb alone is useful for tests of the .deb reader and the unpacker:
// File entries may carry evil paths, device nodes, hardlinks, setuid modes
// and PAX xattrs, and Ar/DebMembers allow corrupt or reordered members.
package testarchive
