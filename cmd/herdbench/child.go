package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a server running as a child process. Servers run in their own
// process so that herdd and the bare net/http ceiling are measured alike,
// each with its own runtime and GOMAXPROCS, and never share a heap with
// the load generator.
type child struct {
	name   string
	cmd    *exec.Cmd
	URL    string
	log    *os.File
	exited chan struct{} // closed once Wait returned
	err    error         // Wait's result, set before exited is closed

	stopOnce sync.Once
	stopErr  error
}

// startChild starts argv with its output in logPath and waits until it
// logs readyMsg (slog text format: msg="..." url=...), whose url it keeps.
func startChild(ctx context.Context, argv []string, logPath, readyMsg string) (*child, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	w := &readyWatcher{w: log, msg: readyMsg, url: make(chan string, 1)}
	c := &child{name: argv[0], cmd: exec.Command(argv[0], argv[1:]...), log: log, exited: make(chan struct{})}
	c.cmd.Stdout = log
	c.cmd.Stderr = w
	if err := c.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	select {
	case c.URL = <-w.url:
		return c, nil
	case <-c.exited:
		log.Close()
		return nil, fmt.Errorf("%s exited before it was ready (%v); see %s", c.name, c.err, logPath)
	case <-time.After(60 * time.Second):
		c.Stop()
		return nil, fmt.Errorf("%s not ready after 60s; see %s", c.name, logPath)
	case <-ctx.Done():
		c.Stop()
		return nil, ctx.Err()
	}
}

// Stop asks the child to shut down with SIGTERM, as an operator would, and
// kills it if it has not exited after 10 s. Later calls return the first's result.
func (c *child) Stop() error {
	c.stopOnce.Do(func() {
		defer c.log.Close()
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
			c.stopErr = c.err
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
			c.stopErr = fmt.Errorf("%s: did not stop within 10s of SIGTERM; killed", c.name)
		}
	})
	return c.stopErr
}

// readyWatcher copies a child's log and picks the url out of its ready
// line. exec calls Write from one goroutine only.
type readyWatcher struct {
	w     io.Writer
	msg   string
	url   chan string
	buf   []byte
	found bool
}

func (r *readyWatcher) Write(p []byte) (int, error) {
	_, _ = r.w.Write(p)
	if r.found {
		return len(p), nil
	}
	r.buf = append(r.buf, p...)
	for {
		i := bytes.IndexByte(r.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(r.buf[:i])
		r.buf = r.buf[i+1:]
		if !strings.Contains(line, `msg="`+r.msg+`"`) {
			continue
		}
		if u, ok := logValue(line, "url"); ok {
			r.found, r.buf = true, nil
			r.url <- u
			return len(p), nil
		}
	}
}

// logValue returns the value of key in a slog text line, unquoting it if needed.
func logValue(line, key string) (string, bool) {
	_, v, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		return "", false
	}
	if strings.HasPrefix(v, `"`) {
		q, err := strconv.QuotedPrefix(v)
		if err != nil {
			return "", false
		}
		s, err := strconv.Unquote(q)
		return s, err == nil
	}
	v, _, _ = strings.Cut(v, " ")
	return v, v != ""
}

// startHerdd starts herdd on a fresh data folder out/name and a free
// loopback port, and returns it with its admin token. The caller stops it.
// herdd serves plain HTTP here (--insecure-http), as the bare net/http
// servers it is compared with do: the figures leave TLS out on both sides.
func startHerdd(ctx context.Context, herdd, out, name string, logf func(string, ...any)) (*child, string, error) {
	data := filepath.Join(out, name)
	if err := os.RemoveAll(data); err != nil {
		return nil, "", err
	}
	logPath := filepath.Join(out, name+".log")
	logf("starting herdd (log: %s)", logPath)
	h, err := startChild(ctx, []string{herdd, "--data", data, "--listen", "127.0.0.1:0", "--insecure-http"}, logPath, "herdd ready")
	if err != nil {
		return nil, "", err
	}
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		h.Stop()
		return nil, "", fmt.Errorf("admin token: %w", err)
	}
	return h, strings.TrimSpace(string(token)), nil
}
