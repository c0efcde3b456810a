package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/herdsec/herd/agent/clamav"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/agent/yara"
)

// engineFlags are the optional scanning engines' flags, shared by scan
// and watch.
type engineFlags struct {
	clamd      string
	yaraPaths  stringList
	noArchives bool
}

func (e *engineFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&e.clamd, "clamd", "", "also scan with the ClamAV daemon at `ADDR` (a unix socket such as /run/clamav/clamd.ctl, or host:port)")
	fl.Var(&e.yaraPaths, "yara", "also scan with the YARA rules in `PATH` (a .yar file or a folder of them; repeatable; needs a build with -tags yara)")
	fl.BoolVar(&e.noArchives, "no-archives", false, "do not look inside archives")
}

// open connects the engines asked for (clamd must answer a ping) and
// returns them with a function that releases them.
func (e *engineFlags) open(ctx context.Context, opt *scan.Options) (func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	opt.NoArchives = e.noArchives
	if e.clamd != "" {
		c, err := clamav.New(e.clamd, clamav.Options{})
		if err != nil {
			return closeAll, err
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = c.Ping(pctx)
		cancel()
		if err != nil {
			return closeAll, fmt.Errorf("clamd %s: %w", e.clamd, err)
		}
		opt.Engines = append(opt.Engines, c)
	}
	if len(e.yaraPaths) > 0 {
		y, err := yara.Load(e.yaraPaths, yara.Options{})
		if err != nil {
			return closeAll, err
		}
		closers = append(closers, func() { y.Close() })
		opt.Engines = append(opt.Engines, y)
	}
	return closeAll, nil
}
