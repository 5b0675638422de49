package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/clock"
)

// Issue 20.5: every command and every verb answers -h (and --help) with its
// own usage and exit status 0; a verb's help lists only its own flags.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	help := func(t *testing.T, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("carrierbill %s: exit %d, want 0\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		text := out.String() + errb.String()
		if strings.Contains(text, "usage: ") || strings.Contains(text, "is required") {
			t.Fatalf("carrierbill %s: an error instead of help:\n%s", strings.Join(args, " "), text)
		}
		return text
	}

	for _, a := range []string{"-h", "--help", "help"} {
		text := help(t, a)
		for name := range commands {
			if !strings.Contains(text, "  "+name+" ") {
				t.Errorf("carrierbill %s does not list %s:\n%s", a, name, text)
			}
		}
	}

	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var walk func(t *testing.T, path []string, verbs []verb)
	walk = func(t *testing.T, path []string, verbs []verb) {
		for _, flagArg := range []string{"-h", "--help"} {
			text := help(t, append(append([]string(nil), path...), flagArg)...)
			if want := "Usage: carrierbill " + strings.Join(path, " "); !strings.Contains(text, want) {
				t.Errorf("%s %s: no %q:\n%s", strings.Join(path, " "), flagArg, want, text)
			}
			for _, v := range verbs {
				if !strings.Contains(text, "  "+v.name+" ") {
					t.Errorf("%s -h does not list its verb %s:\n%s", strings.Join(path, " "), v.name, text)
				}
			}
		}
		for _, v := range verbs {
			walk(t, append(append([]string(nil), path...), v.name), v.verbs)
		}
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) { walk(t, []string{n}, verbsOf[n]) })
	}

	// A verb's help has its own flags, not its siblings'.
	for _, tc := range []struct {
		args      []string
		has, hasn []string
	}{
		{[]string{"card", "bind"}, []string{"-pan", "-name", "-id", "-bank-file", "-msisdn"}, []string{"-last4"}},
		{[]string{"card", "list"}, []string{"-msisdn"}, []string{"-pan", "-last4", "-bank-file", "-name"}},
		{[]string{"card", "unbind"}, []string{"-last4"}, []string{"-pan", "-bank-file"}},
		{[]string{"card", "owner"}, []string{"-name", "-id"}, []string{"-pan", "-last4", "-bank-file"}},
		{[]string{"merchant", "key", "issue"}, []string{"-merchant"}, []string{"-id ", "-revenue-share", "-timezone"}},
		{[]string{"merchant", "key", "revoke"}, []string{"-id"}, []string{"-merchant", "-revenue-share"}},
		{[]string{"config", "texts"}, nil, []string{"\ntexts:\n"}},
	} {
		text := help(t, append(tc.args, "-h")...)
		for _, f := range tc.has {
			if !strings.Contains(text, "  "+f) {
				t.Errorf("%s -h lacks %s:\n%s", strings.Join(tc.args, " "), f, text)
			}
		}
		for _, f := range tc.hasn {
			if strings.Contains(text, f) {
				t.Errorf("%s -h shows %q, not its own:\n%s", strings.Join(tc.args, " "), f, text)
			}
		}
	}
}

// A command with verbs run without one, or with an unknown one, exits 2 and
// names the verbs.
func TestVerbMissingOrUnknown(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"card"}, {"card", "frobnicate"}, {"merchant"}, {"merchant", "key"}, {"config"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("carrierbill %s: exit %d, want 2", strings.Join(args, " "), code)
		}
		if v := verbsOf[args[0]]; !strings.Contains(errb.String(), v[0].name) {
			t.Errorf("carrierbill %s: the error does not name the verbs:\n%s", strings.Join(args, " "), errb.String())
		}
	}
}

// The card verbs, each with its own flag set, still do their job on the
// embedded store: owner, bind, list, default, unlock, unbind.
func TestCardVerbsOnEmbeddedStore(t *testing.T) {
	t.Setenv(envCardKey, strings.Repeat("k", 32))
	t.Setenv(envWalletPepper, strings.Repeat("p", 16))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bankFile := filepath.Join(dir, "bank.json")
	b, err := banksim.Open(bankFile, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	const pan, phone = "6222020000000000018", "8613800000001"
	if _, err := b.AddCard(pan, "张三", "11010119900307123X", 10000); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	card := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		args = append([]string{"card"}, append(args, "-config", cfg, "-msisdn", phone)...)
		if code := run(ctx, args, &out, &errb); code != want {
			t.Fatalf("carrierbill %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	card(0, "owner", "-name", "张三", "-id", "11010119900307123X")
	if got := card(0, "list"); !strings.Contains(got, "no cards") {
		t.Fatalf("list before bind: %q", got)
	}
	card(2, "bind", "-pan", pan, "-name", "张三", "-id", "11010119900307123X") // no -bank-file
	if got := card(0, "bind", "-pan", pan, "-name", "张三", "-id", "11010119900307123X", "-bank-file", bankFile); !strings.Contains(got, "0018") || strings.Contains(got, pan) {
		t.Fatalf("bind: %q", got)
	}
	if got := card(0, "list"); !strings.Contains(got, "0018") || !strings.Contains(got, "default") {
		t.Fatalf("list after bind: %q", got)
	}
	card(2, "default") // no -last4
	card(0, "default", "-last4", "0018")
	card(0, "unlock")
	card(0, "unbind", "-last4", "0018")
	if got := card(0, "list"); strings.Contains(got, "default") {
		t.Fatalf("list after unbind: %q", got)
	}
}
