//go:build ignore

// A dispatcher like `govalent start --foreground`, with one setting govalent has no flag for yet:
// dispatcher.Config.Native, so that bench/native_run.sh can compare the tiers on the same build.
// Usage: serve --native always|never|auto --worker PATH-OF-GOVALENT --host H --port P --data-dir D
// (worker processes are `PATH-OF-GOVALENT worker --pipe`; the token file is $GOVALENT_TOKEN_FILE).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors/builtins"
)

func main() {
	tier := flag.String("native", dispatcher.NativeAuto, "auto, always or never")
	worker := flag.String("worker", "", "the govalent binary, which worker processes run")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 0, "port to listen on")
	dataDir := flag.String("data-dir", "", "the dispatcher's data directory")
	flag.Parse()
	if err := serve(*tier, *worker, net.JoinHostPort(*host, strconv.Itoa(*port)), *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func serve(tier, worker, addr, dataDir string) error {
	if worker == "" || dataDir == "" {
		return errors.New("--worker and --data-dir are required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	execs, err := builtins.New(builtins.Config{WorkerCommand: []string{worker, "worker", "--pipe"}, Logger: log})
	if err != nil {
		return err
	}
	d, err := dispatcher.New(dispatcher.Config{DataDir: dataDir, Executors: execs, Logger: log, Native: tier})
	if err != nil {
		return err
	}
	defer d.Close()
	srv := &http.Server{Handler: d.Handler()}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Info("dispatcher listening", "addr", ln.Addr().String(), "native", tier, "pid", os.Getpid())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
