package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/install/service"
)

// usageError prints msg and the flags of fs, and exits 2, as a command given wrong arguments does.
func usageError(fs *flag.FlagSet, msg string) error {
	fmt.Fprintln(os.Stderr, msg)
	if fs != nil {
		fs.SetOutput(os.Stderr)
		fs.PrintDefaults()
	}
	return exitError{2}
}

// cmdService installs or removes the units (launchd plists on macOS) that run the dispatcher or its workers.
func cmdService(args []string) error {
	const use = "usage: govalent service install|uninstall [--user|--system] [--worker --redis URL] [--root DIR]"
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), use); fs.PrintDefaults() }
	var o service.Options
	fs.Bool("user", true, "for this user: runs while they are logged in, or always with loginctl enable-linger (the default)")
	fs.BoolVar(&o.System, "system", false, "for the whole machine, as a dynamic user (or --run-as), settings in /etc/govalent")
	fs.BoolVar(&o.Worker, "worker", false, "the workers' service (govalent-worker@QUEUE) instead of the dispatcher's")
	fs.StringVar(&o.Redis, "redis", "", "with --worker: the dispatcher's Redis URL, kept in a file only its owner reads")
	fs.StringVar(&o.Queue, "queue", "", "with --worker: the queue served by the instance enabled (default: default)")
	fs.StringVar(&o.RunAs, "run-as", "", "with --system: the account to run as instead of a dynamic user")
	fs.StringVar(&o.Root, "root", "", "write under DIR instead of / (package builds); nothing is started")
	manager := fs.String("manager", string(service.Native()), "systemd or launchd")
	if len(args) == 0 || (args[0] != "install" && args[0] != "uninstall") {
		if err := fs.Parse(args); err != nil {
			return err
		}
		return usageError(fs, use)
	}
	action := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, use)
	}
	o.Manager = service.Manager(*manager)
	live := service.ManagerRunning(o)
	if action == "uninstall" {
		if live {
			run(service.StopCommands(o), true)
		}
		removed, err := service.Uninstall(o)
		for _, p := range removed {
			fmt.Println("removed", p)
		}
		if err != nil {
			return err
		}
		if len(removed) == 0 {
			fmt.Println("no govalent service was installed there")
		}
		if live {
			return run(service.ReloadCommands(o), false)
		}
		if o.Root == "" {
			show("if it runs, stop it and make the service manager forget it:", append(service.StopCommands(o), service.ReloadCommands(o)...))
		}
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if o.Binary, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	files, err := service.Install(o)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Println("wrote", f.Path)
	}
	if o.System && !o.Worker {
		fmt.Println("settings: /etc/govalent/config.toml; data and the API token: /var/lib/govalent (journalctl -u govalent for the log)")
		fmt.Println("to use the CLI as another user: sudo install -m 600 -o $USER /var/lib/govalent/token ~/.config/govalent/token")
	}
	if o.Worker && o.System {
		fmt.Println("the workers need the dispatcher's Redis key: copy its <data-dir>/redis.key to /etc/govalent/redis.key (mode 600)")
	}
	cmds := service.StartCommands(o, files)
	if live {
		return run(cmds, false)
	}
	if o.Root == "" {
		show("to start it:", cmds)
	}
	return nil
}

func show(what string, cmds []service.Command) {
	fmt.Println(what)
	for _, c := range cmds {
		fmt.Println("  " + c.String())
	}
}

// run runs cmds in order, showing each; with lenient, a failure (stopping what does not run) is only shown.
func run(cmds []service.Command, lenient bool) error {
	for _, c := range cmds {
		fmt.Println("+ " + c.String())
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil && !lenient {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

// underManager refuses to stop a dispatcher that a service manager runs: it would not know, and would restart
// it or leave it stopped against its own state. It returns nil when no dispatcher answers.
func underManager(c config, what string) error {
	var rep dispatcher.StatusReport
	if c.client().Status(&rep) != nil || rep.ServiceManager == "" {
		return nil
	}
	return fmt.Errorf("the dispatcher is run by %s: %s there", rep.ServiceManager, what)
}

// cmdRestart stops the dispatcher and starts it again with the settings given, as `start` takes them.
func cmdRestart(args []string) error {
	fs := flag.NewFlagSet("restart", flag.ContinueOnError)
	s := newSettings(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, "usage: govalent restart [flags of start]")
	}
	c, err := s.resolve()
	if err != nil {
		return err
	}
	if err := underManager(c, "restart it"); err != nil {
		return fmt.Errorf("%w (systemctl [--user] restart govalent)", err)
	}
	if err := cmdStop(args); err != nil {
		return err
	}
	if healthy(c) {
		return errors.New("the dispatcher still answers after stop; not starting another")
	}
	return cmdStart(args)
}
