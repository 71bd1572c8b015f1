package native

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// date prints the build's time (SOURCE_DATE_EPOCH), in UTC: the root's
// time zone is UTC and a build has no other "now".

func init() {
	register(dateCmd, "date")
}

func dateCmd(c *cmd) error {
	o, err := c.parse(optSpec{"u|utc|universal", "d|date=", "R|rfc-email", "r|reference=", "I|iso-8601="}, false)
	if err != nil {
		return err
	}
	t := c.s.now()
	switch {
	case o.has("date"):
		if t, err = parseDate(o.get("date"), t); err != nil {
			return c.failf("invalid date '%s'", o.get("date"))
		}
	case o.has("reference"):
		e, ok := c.s.lookup(c.abs(o.get("reference")))
		if !ok {
			return c.failf("%s: No such file or directory", o.get("reference"))
		}
		t = e.ModTime
	}
	t = t.UTC()
	format := "%a %b %e %H:%M:%S %Z %Y"
	switch {
	case o.has("rfc-email"):
		format = "%a, %d %b %Y %H:%M:%S %z"
	case o.has("iso-8601"):
		format = "%Y-%m-%d"
	}
	for _, op := range o.operands {
		if !strings.HasPrefix(op, "+") {
			return c.unsupported("setting the date")
		}
		format = op[1:]
	}
	out, err := strftime(format, t)
	if err != nil {
		return c.unsupported("%v", err)
	}
	fmt.Fprintln(c.stdout, out)
	return nil
}

// parseDate understands what scripts feed date -d: "@seconds", date's
// own default output, RFC 3339 and "YYYY-MM-DD[ HH:MM[:SS]]", and "now".
func parseDate(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return now, nil
	}
	if strings.HasPrefix(s, "@") {
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		return time.Unix(n, 0), nil
	}
	for _, layout := range []string{"Mon Jan _2 15:04:05 MST 2006", "Mon Jan 2 15:04:05 MST 2006", time.RFC3339,
		"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", time.RFC1123Z, time.RFC1123} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q", s)
}

// strftime formats t in the C locale.
func strftime(f string, t time.Time) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'k':
			fmt.Fprintf(&b, "%2d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'l':
			fmt.Fprintf(&b, "%2d", (t.Hour()+11)%12+1)
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'C':
			fmt.Fprintf(&b, "%02d", t.Year()/100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'u':
			fmt.Fprintf(&b, "%d", (int(t.Weekday())+6)%7+1)
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 's':
			fmt.Fprintf(&b, "%d", t.Unix())
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'D':
			b.WriteString(t.Format("01/02/06"))
		case 'R':
			b.WriteString(t.Format("15:04"))
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("date format %%%c", f[i])
		}
	}
	return b.String(), nil
}
