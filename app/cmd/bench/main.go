// Command bench measures Mailer on this machine, each benchmark on a throwaway database:
// go run ./app/cmd/bench all|send|web|faults [flags]. It is not part of the product's
// binaries (mailer, worker) or of their image.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		os.Exit(1)
	}
}
