package native

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/debstrap/debstrap/internal/jks"
	"github.com/debstrap/debstrap/rootfs"
)

// ca-certificates-java keeps Java's trust store, /etc/ssl/certs/java/cacerts,
// in step with /etc/ssl/certs: its postinst and its trigger (activated by
// the jks-keystore hook of update-ca-certificates) pipe "+PATH"/"-PATH"
// lines into `java -jar ca-certificates-java.jar`, which adds or removes
// the certificate under the alias "debian:NAME" and writes the store.
// Native mode does what that program does, through internal/jks: the
// same entries in the same order, the same digest; each new entry dated
// SOURCE_DATE_EPOCH instead of the time of the run (so the store is
// reproducible). Any other Java program is not run.

const (
	caJavaJar      = "/usr/share/ca-certificates-java/ca-certificates-java.jar"
	caJavaKeystore = "/etc/ssl/certs/java/cacerts"
	// caJavaHandler is the class that opens the store; the updater
	// carried out here asks for a "JKS" store by name (older ones took
	// the JVM's default type, PKCS12 since Java 9).
	caJavaHandler = "org/debian/security/KeyStoreHandler.class"
	maxJar        = 1 << 20
)

func init() {
	registerShared(javaCmd, "java")
}

func javaCmd(c *cmd) error {
	args := c.args[1:]
	// The JVM's own options: the heap size is all the scripts pass.
	for len(args) > 0 && (strings.HasPrefix(args[0], "-Xmx") || strings.HasPrefix(args[0], "-Xms") || strings.HasPrefix(args[0], "-Xss")) {
		args = args[1:]
	}
	if len(args) == 1 && args[0] == "-version" {
		return c.javaVersion()
	}
	if len(args) < 2 || args[0] != "-jar" || args[1] != caJavaJar {
		return c.unsupported("a Java program (only %s and -version are carried out natively)", caJavaJar)
	}
	if err := c.checkCaJavaJar(); err != nil {
		return err
	}
	args = args[2:]
	password := "changeit"
	switch {
	case len(args) == 2 && args[0] == "-storepass":
		password = args[1]
	case len(args) > 0:
		fmt.Fprintln(c.stderr, "Usage: java UpdateCertificates [-storepass <password>]")
		return status(1)
	}
	s := c.s
	store := jks.New()
	if data, err := s.readFile(caJavaKeystore); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return c.failf("%v", err)
		}
	} else if store, err = jks.Read(data, password); err != nil {
		if errors.Is(err, jks.ErrNotJKS) {
			return c.unsupported("%s is not a JKS keystore", caJavaKeystore)
		}
		fmt.Fprintf(c.stderr, "Cannot open Java keystore. Is the password correct? (%v)\n", err)
		return status(1)
	}
	sc := bufio.NewScanner(c.stdin)
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			// The updater's line.substring(1) throws.
			fmt.Fprintln(c.stderr, "Exception in thread \"main\" java.lang.StringIndexOutOfBoundsException: begin 1, end 0, length 0")
			return status(1)
		}
		p := line[1:]
		name := p[strings.LastIndex(p, "/")+1:]
		alias := "debian:" + name
		switch line[0] {
		case '+':
			der, err := c.readCert(p)
			if err != nil {
				fmt.Fprintf(c.stderr, "Warning: there was a problem reading the certificate file %s. Message:\n  %v\n", p, err)
				continue
			}
			if store.Delete(jks.Lower(alias)) {
				fmt.Fprintln(c.stdout, "Replacing "+alias)
			} else {
				fmt.Fprintln(c.stdout, "Adding "+alias)
			}
			store.Put(&jks.Entry{Alias: jks.Lower(alias), Date: s.now().Truncate(time.Millisecond), Type: "X.509", Cert: der})
		case '-':
			for _, a := range []string{alias, name} {
				if store.Delete(jks.Lower(a)) {
					fmt.Fprintln(c.stdout, "Removing "+a)
				}
			}
		default:
			fmt.Fprintln(c.stderr, "Unknown input: "+line)
		}
	}
	if err := sc.Err(); err != nil {
		return c.failf("reading the changes: %v", err)
	}
	var out bytes.Buffer
	if err := store.Write(&out, password); err != nil {
		return c.failf("%v", err)
	}
	if _, ok := s.lookup(path.Dir(caJavaKeystore)); !ok {
		fmt.Fprintf(c.stderr, "There was a problem saving the new Java keystore: %s (No such file or directory)\n", caJavaKeystore)
		return status(1)
	}
	return s.writeFile(caJavaKeystore, out.Bytes(), rootfs.Entry{Mode: 0o666 &^ int64(c.run.umask)})
}

// javaVersion is `java -version` of the JDK the command resolves to, as
// HotSpot prints it from the JDK's release file: the version and its
// date, the runtime's build, and the VM with "sharing" when the default
// CDS archive is there (trixie's ca-certificates-java checks that Java
// runs, and whether it is Java 8, this way).
func (c *cmd) javaVersion() error {
	real, _, ok, err := c.s.resolve("/", c.path, true)
	if err != nil || !ok {
		return c.unsupported("java -version: %s does not resolve", c.path)
	}
	home := path.Dir(path.Dir(real))
	data, err := c.s.readFile(home + "/release")
	if err != nil {
		return c.unsupported("java -version: no %s/release", home)
	}
	rel := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			rel[k] = strings.Trim(v, `"`)
		}
	}
	version, date, build := rel["JAVA_VERSION"], rel["JAVA_VERSION_DATE"], rel["JAVA_RUNTIME_VERSION"]
	if impl := rel["IMPLEMENTOR"]; version == "" || date == "" || build == "" || impl != "Debian" && impl != "Ubuntu" {
		return c.unsupported("java -version: %s/release lacks the version, its date or the build, or is not Debian's or Ubuntu's", home)
	}
	switch rel["OS_ARCH"] {
	case "x86_64", "amd64", "aarch64", "ppc64le", "s390x", "riscv64":
	default:
		return c.unsupported("java -version: the VM of %s is not known here", rel["OS_ARCH"])
	}
	if _, ok := c.s.lookup(home + "/lib/server/libjvm.so"); !ok {
		return c.unsupported("java -version: no server VM in %s", home)
	}
	mode := "mixed mode"
	if _, ok := c.s.lookup(home + "/lib/server/classes.jsa"); ok {
		mode += ", sharing"
	}
	fmt.Fprintf(c.stderr, "openjdk version %q %s\nOpenJDK Runtime Environment (build %s)\nOpenJDK 64-Bit Server VM (build %s, %s)\n",
		version, date, build, build, mode)
	return nil
}

// checkCaJavaJar makes sure the updater in the image is one that writes
// a JKS store.
func (c *cmd) checkCaJavaJar() error {
	data, err := c.s.readFile(caJavaJar)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: Unable to access jarfile %s\n", caJavaJar)
		return status(1)
	}
	if len(data) > maxJar {
		return c.unsupported("%s of %d bytes", caJavaJar, len(data))
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return c.unsupported("%s: %v", caJavaJar, err)
	}
	for _, f := range zr.File {
		if f.Name != caJavaHandler || f.UncompressedSize64 > maxJar {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return c.unsupported("%s: %v", caJavaJar, err)
		}
		var class bytes.Buffer
		_, err = class.ReadFrom(rc)
		rc.Close()
		if err != nil {
			return c.unsupported("%s: %v", caJavaJar, err)
		}
		// The constant pool's UTF8 entry "JKS".
		if bytes.Contains(class.Bytes(), []byte("\x01\x00\x03JKS")) {
			return nil
		}
	}
	return c.unsupported("%s does not ask for a JKS keystore", caJavaJar)
}

// readCert is CertificateFactory.generateCertificate on the file: the
// first PEM certificate, or DER.
func (c *cmd) readCert(p string) ([]byte, error) {
	data, err := c.s.readFile(c.abs(p))
	if err != nil {
		return nil, fmt.Errorf("%s (No such file or directory)", p)
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE" && b.Type != "X509 CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %s", b.Type)
		}
		data = b.Bytes
	}
	if len(data) < 2 || data[0] != 0x30 {
		return nil, errors.New("Could not parse certificate: java.io.IOException: Empty input")
	}
	return data, nil
}
