package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/agent/rules/bundle"
	"github.com/herdsec/herd/httpapi"
)

// rulesPublish uploads every .yml and .yaml file under a folder as the
// cloud's new rule set. The cloud checks each one and signs the set; one
// bad file publishes nothing, and the answer names every bad file.
func (m *Main) rulesPublish(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 1 {
		return usageError("rules publish: want FOLDER (of Sigma rules, .yml)")
	}
	files, err := readRuleFiles(args[0])
	if err != nil {
		return fmt.Errorf("nothing published: %w", err)
	}
	sum, err := c.PublishRules(ctx, files)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "published generation %d: %d rules, signed by %s, sha256 %s\n", sum.Generation, len(sum.Rules), sum.Signer, sum.SHA256)
	return nil
}

// readRuleFiles reads the rule files under dir, named by their base name
// (the cloud refuses two files of one name).
func readRuleFiles(dir string) ([]bundle.File, error) {
	var files []bundle.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (filepath.Ext(p) != ".yml" && filepath.Ext(p) != ".yaml") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, rules.MaxRuleSize+1))
		if err != nil {
			return err
		}
		if len(b) > rules.MaxRuleSize {
			return fmt.Errorf("%s: larger than %d bytes", p, rules.MaxRuleSize)
		}
		files = append(files, bundle.File{Name: filepath.Base(p), YAML: string(b)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, herd.Errorf(herd.EINVALID, "%s: no rule files (.yml, .yaml)", dir)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// rulesShow prints the rule set the cloud serves.
func (m *Main) rulesShow(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 0 {
		return usageError("rules show: takes no arguments")
	}
	sum, err := c.RulesSummary(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "generation %d, published %s, signed by %s, sha256 %s\n", sum.Generation, sum.Created.Format("2006-01-02 15:04:05Z07:00"), sum.Signer, sum.SHA256)
	for _, r := range sum.Rules {
		fmt.Fprintf(m.Stdout, "  %s  %s  %s (%s)\n", r.File, r.ID, r.Title, r.Level)
	}
	return nil
}
