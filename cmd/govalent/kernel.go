package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/govalent/govalent/install/kernelspec"
	"github.com/govalent/govalent/kernel"
)

// cmdKernel runs the Jupyter kernel (`govalent kernel -f CONNECTION_FILE`, as the kernelspec says) or
// installs and removes its kernelspec.
func cmdKernel(args []string) error {
	if len(args) > 0 && (args[0] == "install" || args[0] == "uninstall") {
		return kernelspecCmd(args[0], args[1:])
	}
	fs := flag.NewFlagSet("kernel", flag.ContinueOnError)
	conn := fs.String("f", "", "connection file written by Jupyter")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conn == "" {
		return errors.New("usage: govalent kernel -f CONNECTION_FILE | govalent kernel install|uninstall [--user|--sys-prefix|--prefix DIR]")
	}
	return kernel.Run(*conn, kernel.Options{Logger: newLogger(kernel.SavedStderr(), *level)})
}

func kernelspecCmd(action string, args []string) error {
	fs := flag.NewFlagSet("kernel "+action, flag.ContinueOnError)
	var opts kernelspec.Options
	fs.BoolVar(&opts.User, "user", false, "for this user (the default)")
	fs.BoolVar(&opts.SysPrefix, "sys-prefix", false, "in the Python environment's prefix that runs jupyter")
	fs.StringVar(&opts.Prefix, "prefix", "", "under DIR/share/jupyter")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if action == "uninstall" {
		dir, err := kernelspec.Uninstall(opts)
		if err != nil {
			return err
		}
		fmt.Println("removed the govalent kernelspec from", dir)
		return nil
	}
	dir, err := kernelspec.Install(opts)
	if err != nil {
		return err
	}
	fmt.Println("installed the govalent kernelspec (\"Go (govalent)\") in", dir)
	return nil
}
