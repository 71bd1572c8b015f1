package native

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/internal/jks"
	"github.com/debstrap/debstrap/internal/testarchive"
)

// caJavaDebs: ca-certificates-java with an updater jar (handler asking
// for "JKS" or not), a java binary, and two CA certificates linked from
// /etc/ssl/certs, as ca-certificates leaves them.
func caJavaDebs(t *testing.T, jksHandler bool, postinst string) ([]testarchive.Deb, map[string][]byte) {
	t.Helper()
	var jar bytes.Buffer
	zw := zip.NewWriter(&jar)
	w, _ := zw.Create(caJavaHandler)
	if jksHandler {
		w.Write([]byte("\xca\xfe\xba\xbe...\x01\x00\x03JKS..."))
	} else {
		w.Write([]byte("\xca\xfe\xba\xbe...getDefaultType..."))
	}
	zw.Close()
	ca := testarchive.NewDeb("ca-certificates", "1")
	ders := map[string][]byte{}
	for i, name := range []string{"Root_A", "root_b"} {
		_, key, _ := ed25519.GenerateKey(nil)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		ders[name] = der
		ca.Files = append(ca.Files,
			testarchive.File{Path: "usr/share/ca-certificates/mozilla/" + name + ".crt", Body: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
			testarchive.File{Path: "etc/ssl/certs/" + name + ".pem", Type: tar.TypeSymlink, Linkname: "/usr/share/ca-certificates/mozilla/" + name + ".crt"})
	}
	ca.Files = append(ca.Files, testarchive.File{Path: "etc/ssl/certs/java/"})
	cj := testarchive.NewDeb("ca-certificates-java", "1", "Depends: ca-certificates")
	cj.Files = []testarchive.File{{Path: strings.TrimPrefix(caJavaJar, "/"), Body: jar.Bytes()}, binFile("usr/bin/java")}
	cj.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\n" + postinst}
	return []testarchive.Deb{toolbox("printf", "cat"), ca, cj}, ders
}

// TestCaCertificatesJava: the updater's effect — entries "debian:NAME"
// (lower case), the certificates' DER, dated SOURCE_DATE_EPOCH, the
// digest of the store password — and what it prints; removal by "-".
func TestCaCertificatesJava(t *testing.T) {
	const jar = caJavaJar
	debs, ders := caJavaDebs(t, true, "printf '+/etc/ssl/certs/Root_A.pem\\n+/etc/ssl/certs/root_b.pem\\n+/etc/ssl/certs/missing.pem\\nbad\\n' | java -Xmx64m -jar "+jar+" -storepass secret > /out 2>/err\n"+
		"printf '+/etc/ssl/certs/root_b.pem\\n' | java -jar "+jar+" -storepass secret >> /out\n"+
		"printf -- '-/etc/ssl/certs/Root_A.pem\\n' | java -jar "+jar+" -storepass secret >> /out\n"+
		"if printf '+/etc/ssl/certs/Root_A.pem\\n' | java -jar "+jar+" -storepass wrong 2>/dev/null; then echo opened >> /out; fi\n")
	in := unpack(t, debs...)
	rep := in.configure(t)
	if len(rep.Failed) != 0 {
		t.Fatalf("failed %v", rep.Failed)
	}
	if got, want := get(t, in.st, "/out"), "Adding debian:Root_A.pem\nAdding debian:root_b.pem\nReplacing debian:root_b.pem\nRemoving debian:Root_A.pem\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if e := get(t, in.st, "/err"); !strings.Contains(e, "problem reading the certificate file /etc/ssl/certs/missing.pem") || !strings.Contains(e, "Unknown input: bad") {
		t.Errorf("stderr %q", e)
	}
	data := []byte(get(t, in.st, caJavaKeystore))
	store, err := jks.Read(data, "secret")
	if err != nil {
		t.Fatal(err)
	}
	var aliases []string
	for _, e := range store.Entries() {
		aliases = append(aliases, e.Alias)
		if !e.Date.Equal(testEpoch) || e.Type != "X.509" {
			t.Errorf("%s: %+v", e.Alias, e)
		}
	}
	if !slices.Equal(aliases, []string{"debian:root_b.pem"}) || !bytes.Equal(store.Get("debian:root_b.pem").Cert, ders["root_b"]) {
		t.Errorf("entries %v", aliases)
	}
	if e, _ := in.st.Lookup(caJavaKeystore); e.Mode != 0o644 {
		t.Errorf("mode %o", e.Mode)
	}
}

// TestCaCertificatesJavaOther: another Java program, or an updater that
// does not ask for JKS, is not carried out: the package is left.
func TestCaCertificatesJavaOther(t *testing.T) {
	for _, tc := range []struct {
		jks      bool
		postinst string
		want     string
	}{
		{true, "java -cp /x Main\n", "a Java program"},
		{true, "java -version\n", "no /usr/release"}, // not a JDK's layout
		{false, "printf '+/etc/ssl/certs/root_b.pem\\n' | java -jar " + caJavaJar + "\n", "does not ask for a JKS keystore"},
	} {
		debs, _ := caJavaDebs(t, tc.jks, tc.postinst)
		rep := unpack(t, debs...).configure(t)
		if len(rep.Failed) != 1 || rep.Failed[0].Package != "ca-certificates-java" || !strings.Contains(rep.Failed[0].Err.Error(), tc.want) {
			t.Errorf("%q: failed %v", tc.postinst, rep.Failed)
		}
	}
}

// TestJavaVersion: java -version from the JDK's release file, as
// trixie's and noble's openjdk-21 printed it in their images (run under
// chroot).
func TestJavaVersion(t *testing.T) {
	for _, tc := range []struct{ implementor, build string }{
		{"Debian", "21.0.13.1+2-1-deb13u1-Debian"},
		{"Ubuntu", "21.0.13.1+2-1-24.04.1-Ubuntu"},
	} {
		testJavaVersion(t, tc.implementor, tc.build)
	}
}

func testJavaVersion(t *testing.T, implementor, build string) {
	jdk := testarchive.NewDeb("openjdk-21-jre-headless", "21.0.13.1+2-1~deb13u1")
	home := "usr/lib/jvm/java-21-openjdk-amd64/"
	jdk.Files = []testarchive.File{binFile(home + "bin/java"), binFile(home + "lib/server/libjvm.so"),
		{Path: home + "lib/server/classes.jsa", Body: []byte("CDS")},
		{Path: home + "release", Body: []byte("IMPLEMENTOR=\"" + implementor + "\"\nJAVA_RUNTIME_VERSION=\"" + build + "\"\nJAVA_VERSION=\"21.0.13.1\"\nJAVA_VERSION_DATE=\"2026-11-17\"\nLIBC=\"gnu\"\nOS_ARCH=\"x86_64\"\nOS_NAME=\"Linux\"\nSOURCE=\"\"\n")},
		{Path: "usr/bin/java", Type: tar.TypeSymlink, Linkname: "/etc/alternatives/java"},
		{Path: "etc/alternatives/java", Type: tar.TypeSymlink, Linkname: "/" + home + "bin/java"}}
	user := testarchive.NewDeb("user", "1", "Depends: openjdk-21-jre-headless")
	user.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\nif java -version 2>/dev/null; then echo runs > /out; fi\njava -version 2>> /out\n"}
	in := unpack(t, toolbox(), jdk, user)
	if rep := in.configure(t); len(rep.Failed) != 0 {
		t.Fatalf("failed %v", rep.Failed)
	}
	want := "runs\nopenjdk version \"21.0.13.1\" 2026-11-17\nOpenJDK Runtime Environment (build " + build + ")\n" +
		"OpenJDK 64-Bit Server VM (build " + build + ", mixed mode, sharing)\n"
	if got := get(t, in.st, "/out"); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
