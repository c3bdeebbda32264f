package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/interp"
	"github.com/govalent/govalent/native"
	"github.com/govalent/govalent/results"
)

func parseClient(name string, args []string, extra func(*flag.FlagSet)) (config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	s := newSettings(fs)
	if extra != nil {
		extra(fs)
	}
	var positional []string
	for { // flags may come after positional arguments: `govalent result ID --json`
		if err := fs.Parse(args); err != nil {
			return config{}, fs, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	fs.Parse(append([]string{"--"}, positional...))
	c, err := s.resolve()
	return c, fs, err
}

func cmdStatus(args []string) error {
	c, _, err := parseClient("status", args, nil)
	if err != nil {
		return err
	}
	var rep dispatcher.StatusReport
	if err := c.client().Status(&rep); err != nil {
		if errors.Is(err, ct.ErrUnreachable) {
			fmt.Printf("govalent dispatcher is not running at %s (start it with `govalent start`)\n", c.Dispatcher)
			return exitError{3}
		}
		return err
	}
	fmt.Printf("govalent dispatcher at %s: running (pid %d, up %s, data in %s)\n", c.Dispatcher, rep.PID, rep.Uptime, rep.DataDir)
	if rep.ServiceManager != "" {
		fmt.Printf("run by %s\n", rep.ServiceManager)
	} else {
		fmt.Println("run by no service manager (govalent start)")
	}
	fmt.Printf("dispatches running: %d\n", rep.Running)
	if h := rep.Storage; h != nil {
		fmt.Printf("STORAGE CANNOT WRITE since %s (%d writes held in memory and retried; new dispatches are refused): %s\n",
			h.Since.Local().Format("2006-01-02 15:04:05"), h.Held, h.Error)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXECUTOR\tWORKERS\tBUSY\tQUEUED\tDONE")
	for _, ex := range rep.Executors {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", ex.Name, ex.Workers, ex.Busy, ex.Queued, ex.Done)
	}
	if len(rep.Workers) > 0 || len(rep.Queues) > 0 {
		fmt.Fprintln(tw, "\nWORKER\tHOST\tPID\tPLATFORM\tCONCURRENCY\tRUNNING\tQUEUES\tLAST HEARTBEAT")
		for _, w := range rep.Workers {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s ago\n", w.ID, w.Host, w.PID, cmp.Or(w.Platform, "?"), w.Concurrency, len(w.Running),
				strings.Join(w.Queues, ","), time.Since(w.LastHeartbeat).Round(100*time.Millisecond))
		}
		fmt.Fprintln(tw, "\nQUEUE\tDEPTH")
		for q, n := range rep.Queues {
			fmt.Fprintf(tw, "%s\t%d\n", q, n)
		}
		fmt.Fprintf(tw, "(leased)\t%d\n", rep.Leased)
	}
	return tw.Flush()
}

func cmdList(args []string) error {
	var status string
	var limit int
	c, _, err := parseClient("list", args, func(fs *flag.FlagSet) {
		fs.StringVar(&status, "status", "", "only dispatches with this status")
		fs.IntVar(&limit, "limit", 20, "how many")
	})
	if err != nil {
		return err
	}
	items, total, err := c.client().List(status, limit, 0)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DISPATCH ID\tNAME\tSTATUS\tSTARTED\tRUNTIME")
	for _, r := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.DispatchID, r.Name, r.Status, fmtTime(r.StartTime), runtimeOf(r.StartTime, r.EndTime))
	}
	tw.Flush()
	fmt.Printf("%d of %d\n", len(items), total)
	return nil
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func runtimeOf(start, end *time.Time) string {
	switch {
	case start == nil:
		return "-"
	case end == nil:
		return time.Since(*start).Round(time.Millisecond).String() + "+"
	}
	return end.Sub(*start).Round(time.Millisecond).String()
}

func cmdResult(args []string) error {
	var wait, asJSON bool
	c, fs, err := parseClient("result", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&wait, "wait", false, "wait until the dispatch has finished")
		fs.BoolVar(&asJSON, "json", false, "print the whole result as JSON")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: govalent result ID [--wait] [--json]")
	}
	res, err := c.client().GetResult(fs.Arg(0), wait)
	if err != nil {
		return err
	}
	if asJSON {
		// The JSON renderings only: the encodings the SDK fetched are for decoding into Go values.
		res.EncodedResult, res.EncodedInputs = nil, nil
		for i := range res.Nodes {
			res.Nodes[i].EncodedOutput = nil
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Printf("dispatch %s (%s): %s\n", res.DispatchID, res.Name, res.Status)
	fmt.Printf("started %s, runtime %s\n", fmtTime(res.StartTime), runtimeOf(res.StartTime, res.EndTime))
	if len(res.RawResult) > 0 {
		fmt.Printf("result: %s\n", res.RawResult)
	}
	if res.Error != "" {
		fmt.Printf("error: %s\n", res.Error)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNAME\tSTATUS\tRUNTIME\tOUTPUT / ERROR")
	for _, n := range res.Nodes {
		detail := string(n.RawOutput)
		if n.Error != "" {
			detail = firstLine(n.Error)
		}
		if len(detail) > 60 {
			detail = detail[:57] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", n.NodeID, n.Name, n.Status, runtimeOf(n.StartTime, n.EndTime), detail)
	}
	tw.Flush()
	if res.Status == ct.StatusFailed {
		return exitError{1}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func cmdCancel(args []string) error {
	c, fs, err := parseClient("cancel", args, nil)
	if err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return errors.New("usage: govalent cancel ID [NODE...]")
	}
	var nodes []int
	for _, a := range fs.Args()[1:] {
		n, err := strconv.Atoi(a)
		if err != nil {
			return fmt.Errorf("bad node id %q", a)
		}
		nodes = append(nodes, n)
	}
	if err := c.client().Cancel(fs.Arg(0), nodes...); err != nil {
		return err
	}
	fmt.Println("cancel requested for", fs.Arg(0))
	return nil
}

// cmdRun evaluates a file the way a notebook cell is evaluated, with the same interpreter and SDK.
func cmdRun(args []string) error {
	var embedded bool
	c, fs, err := parseClient("run", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&embedded, "embedded", false, "start a dispatcher inside this process (data in a temporary directory unless --data-dir)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: govalent run [--embedded] FILE.go")
	}
	path := fs.Arg(0)
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	moduleDir, err := runModule(path, src)
	if err != nil {
		return err
	}
	if embedded {
		stop, err := startEmbedded(c, fs)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		os.Setenv("GOVALENT_DISPATCHER", c.Dispatcher)
		if t := c.token(); t != "" {
			os.Setenv("GOVALENT_TOKEN", t) // the SDK reads it from the environment
		}
	}
	s, err := interp.New(interp.Options{Exit: os.Exit, ModuleDir: moduleDir})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if _, err := s.EvalNamed(ctx, filepath.Base(path), string(src)); err != nil {
		var exit *interp.ExitError
		if errors.As(err, &exit) {
			return exitError{exit.Code}
		}
		fmt.Fprintln(os.Stderr, err)
		var ce *interp.CellError
		if errors.As(err, &ce) && ce.Stack != "" {
			fmt.Fprintln(os.Stderr, ce.Stack)
		}
		return exitError{1}
	}
	return nil
}

// runModule finds the module of a file given to govalent run: the nearest directory up from it holding a go.mod,
// which the file's dispatches ship (their electrons are built natively with its versions). A file importing
// modules needs one, and the interpreter needs compiled symbols for each such package its top level imports.
func runModule(file string, src []byte) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	dir := ""
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !st.IsDir() {
			dir = d
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	var gomod []byte
	if dir != "" {
		if gomod, err = os.ReadFile(filepath.Join(dir, "go.mod")); err != nil {
			return "", err
		}
	}
	if _, err := parser.ParseFile(token.NewFileSet(), file, src, parser.ImportsOnly); err != nil {
		src = append([]byte("package main;"), src...) // a file without a package clause, as cells are
	}
	modules := native.ModulePackages(string(src), string(gomod))
	var unknown []string
	for _, p := range modules {
		if interp.PackageSymbols(p) == nil {
			unknown = append(unknown, p)
		}
	}
	switch {
	case len(modules) > 0 && dir == "":
		return "", fmt.Errorf("%s imports %s, outside the standard library, and no go.mod is in its directory or a parent: create one there (go mod init) and go get the modules", file, strings.Join(modules, ", "))
	case len(unknown) > 0:
		return "", fmt.Errorf("%s imports %s at its top level, which govalent run interprets, and this govalent has no compiled symbols for it: the interpreter can import only the standard library and govalent's packages (electrons using modules run natively, but the file that declares them is interpreted)", file, strings.Join(unknown, ", "))
	}
	return dir, nil
}

// cmdBackup asks the running dispatcher for a consistent copy of its store (GET /api/v1/backup, a tar stream)
// and unpacks it into DIR, which becomes a data directory to start a dispatcher on.
func cmdBackup(args []string) error {
	c, fs, err := parseClient("backup", args, nil)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: govalent backup DIR (a new or empty directory)")
	}
	dir := fs.Arg(0)
	resp, err := c.client().Stream(context.Background(), "/api/v1/backup")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dispatches, objects, err := results.Unpack(resp.Body, dir)
	if err != nil {
		return fmt.Errorf("backup into %s failed (remove it before trying again): %w", dir, err)
	}
	fmt.Printf("backup in %s: %d dispatches, %d objects; to use it, start a dispatcher with --data-dir %s\n", dir, dispatches, objects, dir)
	if loc := resp.Header.Get(dispatcher.ObjectStoreHeader); loc != "" {
		fmt.Printf("values over the inline limit stay in %s: start with --object-store %s too\n", loc, loc)
	}
	return nil
}
