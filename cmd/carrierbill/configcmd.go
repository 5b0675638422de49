package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/stores"
)

func init() {
	registerVerbs("config", "check a configuration file (config check -config FILE) or list the SMS texts (config texts)", "The configuration file: check it, or list the SMS texts it can override.", []verb{
		{name: "check", synopsis: "-config FILE", summary: "check a configuration file; errors name the field", run: runConfigCheck},
		{name: "texts", synopsis: "", summary: "print every default SMS text as a texts: section to copy into the configuration", run: runConfigTexts},
	})
}

// runConfig runs `carrierbill config` with args, its verb first.
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return commands["config"].run(ctx, args, stdout, stderr)
}

func runConfigTexts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newVerbFlagSet("carrierbill config texts", "", "Print every default SMS text, by the name under which texts: in the configuration overrides it.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return printTexts(stdout)
}

func runConfigCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newVerbFlagSet("carrierbill config check", "-config FILE", "Check a configuration file as serve would load it (environment overrides included); an error names the field.", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		return fmt.Errorf("%w: -config FILE is required", errUsage)
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	bc := BillingConfig(c)
	if err := bc.Validate(); err != nil {
		return err
	}
	store, _ := stores.Describe(StoreOptions(c, nil, nil))
	smsc := "built-in SMSC simulator"
	if n := len(c.SMSC.Binds); n > 0 {
		smsc = fmt.Sprintf("%d SMPP bind(s)", n)
	}
	fmt.Fprintf(stdout, "%s: OK (%d merchants, store: %s, SMSC: %s, time zone %s)\n",
		*path, len(c.Merchants), store, smsc, c.Timezone)
	if c.Accounts.AutoOpen {
		fmt.Fprintf(stdout, "note: accounts.auto_open is on: any unknown number opens a postpaid account with %s of credit (labs, demos); production sets it per the operator's account policy\n",
			c.Accounts.CreditLimit.Money)
	}
	return nil
}

// printTexts lists every MT text the gateway sends, by the name under which
// the configuration's texts: section overrides it.
func printTexts(w io.Writer) error {
	texts := sms.DefaultTexts()
	names := make([]string, 0, len(texts))
	for n := range texts {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "# Default SMS texts. Override any of them under `texts:` in the configuration;")
	fmt.Fprintln(w, "# {placeholders} are filled in by the gateway. `config check` rejects unknown names.")
	fmt.Fprintln(w, "texts:")
	for _, n := range names {
		fmt.Fprintf(w, "  %s: %q\n", n, texts[n])
	}
	return nil
}
