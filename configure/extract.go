package configure

import (
	"context"
	"fmt"

	"github.com/debstrap/debstrap/rootfs"
)

// extractMode leaves the packages unpacked and writes SecondStage.
type extractMode struct{}

func (extractMode) Name() string { return string(ModeExtract) }

func (extractMode) Configure(ctx context.Context, st *rootfs.Stage, opts Options) error {
	log := opts.logger()
	pending, essential, work, err := readStatus(st)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		log.Info("no package left to configure; no second stage written")
		return nil
	}
	order := opts.Order
	if order == nil {
		order = st.Packages()
	}
	script, err := secondStage(scriptParams{Order: order, Essential: essential, Work: work, Env: opts.env(), State: secondStageDir, Bare: true, Cleanup: !opts.KeepLogs})
	if err != nil {
		return err
	}
	if err := st.MkdirAll(secondStageDir, rootfs.Entry{Mode: 0o755}); err != nil {
		return fmt.Errorf("writing the second stage: %w", err)
	}
	if err := st.WriteFile(SecondStage, []byte(script), rootfs.Entry{Mode: 0o755}); err != nil {
		return fmt.Errorf("writing the second stage: %w", err)
	}
	log.Info("packages left unpacked; to finish, run as root: chroot ROOT "+SecondStage,
		"unpacked", len(pending))
	return nil
}
