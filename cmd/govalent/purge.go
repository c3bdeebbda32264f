package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/govalent/govalent/ct"
)

// cmdPurge deletes finished dispatches older than a date or with a status, through the API (DELETE
// /api/v1/dispatches/{id}, as the web UI's delete does): their records and nodes go, then the dispatcher removes
// the stored values and programs no dispatch refers to any more (POST /api/v1/objects/collect: objects are
// shared by content, so a value another dispatch has stays).
func cmdPurge(args []string) error {
	var before, status string
	var yes bool
	var grace time.Duration
	c, fs, err := parseClient("purge", args, func(fs *flag.FlagSet) {
		fs.StringVar(&before, "before", "", "dispatches started before a date (2024-05-01), a time (RFC 3339) or an age ago (30d, 12h)")
		fs.StringVar(&status, "status", "", "dispatches with this status: COMPLETED, FAILED or CANCELLED")
		fs.BoolVar(&yes, "yes", false, "delete them; without it, purge only shows what would go")
		fs.DurationVar(&grace, "grace", 10*time.Minute, "stored values are removed once nothing refers to them and they are older than this")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 || (before == "" && status == "") {
		return usageError(fs, "usage: govalent purge --before DATE|AGE and/or --status STATUS [--yes]")
	}
	var cutoff time.Time
	if before != "" {
		if cutoff, err = parseBefore(before, time.Now()); err != nil {
			return err
		}
	}
	cl := c.client()
	var doomed []ct.Result
	kept := 0 // matching, but not finished
	for offset := 0; ; {
		items, total, err := cl.List(status, 1000, offset)
		if err != nil {
			return err
		}
		for _, r := range items {
			when := r.StartTime
			if when == nil {
				when = r.EndTime // cancelled before it started
			}
			switch {
			case before != "" && (when == nil || !when.Before(cutoff)):
			case r.Status != ct.StatusCompleted && r.Status != ct.StatusFailed && r.Status != ct.StatusCancelled:
				kept++
			default:
				doomed = append(doomed, r)
			}
		}
		offset += len(items)
		if len(items) == 0 || offset >= total {
			break
		}
	}
	if kept > 0 {
		fmt.Printf("%d matching dispatches have not finished and stay (cancel them first)\n", kept)
	}
	if len(doomed) == 0 {
		fmt.Println("no dispatch to purge")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DISPATCH ID\tNAME\tSTATUS\tSTARTED")
	for _, r := range doomed {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.DispatchID, r.Name, r.Status, fmtTime(r.StartTime))
	}
	tw.Flush()
	if !yes {
		fmt.Printf("%d dispatches would be deleted; run again with --yes to delete them\n", len(doomed))
		return nil
	}
	deleted := 0
	var failed []string
	for _, r := range doomed {
		if err := cl.Delete(r.DispatchID); err != nil {
			var apiErr *ct.APIError
			if !errors.As(err, &apiErr) {
				return fmt.Errorf("deleted %d of %d dispatches, then: %w", deleted, len(doomed), err)
			}
			failed = append(failed, r.DispatchID+": "+apiErr.Message)
			continue
		}
		deleted++
	}
	fmt.Printf("deleted %d dispatches\n", deleted)
	col, err := cl.CollectObjects(grace)
	if err != nil {
		return fmt.Errorf("deleted %d dispatches; then, removing their stored values: %w", deleted, err)
	}
	fmt.Printf("removed %d stored values and %d programs no dispatch refers to any more\n", col.Objects, col.Programs)
	if len(failed) > 0 {
		return fmt.Errorf("%d not deleted:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// parseBefore reads a cutoff: a date (local midnight), an RFC 3339 time, or an age such as 30d or 12h.
func parseBefore(s string, now time.Time) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--before %q: want a date (2024-05-01), a time (2024-05-01T12:00:00Z) or an age (30d, 12h)", s)
}
