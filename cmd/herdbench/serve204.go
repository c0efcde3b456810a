package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// serve204 is the ceiling server: bare net/http answering 204 No Content
// to every request after reading its body, with herdd's server timeouts.
// Whatever herdd adds on top of this is the cost of Herd's own code.
func serve204(ctx context.Context, addr string, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	slog.New(slog.NewTextHandler(stderr, nil)).Info(serve204Ready, "url", "http://"+ln.Addr().String(), "pid", os.Getpid())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve-204: %w", err)
	}
	return nil
}

// serve204Ready is the message of the line that tells the parent the
// ceiling server accepts connections.
const serve204Ready = "serve-204 ready"
