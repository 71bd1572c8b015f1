package resolve

import (
	"context"
	"log/slog"
	"math/rand"
	"os"
	"strconv"
	"testing"
)

func TestZZDebug(t *testing.T) {
	seed, err := strconv.ParseInt(os.Getenv("ZZSEED"), 10, 64)
	if err != nil {
		t.Skip()
	}
	indexes, variant, include := randomArchive(rand.New(rand.NewSource(seed)))
	dir := "/tmp/zzarchive"
	os.RemoveAll(dir)
	writeArchive(t, dir, indexes)
	t.Logf("variant %s include %v", variant, include)
	res, err := Resolve(context.Background(), Request{Packages: buildPackages(t, indexes), Variant: variant, Include: include, Architecture: "amd64",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Log(err)
		return
	}
	t.Log("\n" + lines(res.Packages))
}
