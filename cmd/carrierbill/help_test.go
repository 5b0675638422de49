package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/smpp/smsc"
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
	// No -bank-file: the configured bank (bank.sim_file, by default
	// data_dir/banksim.json, empty here) does not know the card.
	if got := card(1, "bind", "-pan", pan, "-name", "张三", "-id", "11010119900307123X"); !strings.Contains(got, "unknown card") {
		t.Fatalf("bind on the configured (empty) simulated bank: %q", got)
	}
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

// Issue 20.1 and 20.3: serve's built-in simulator takes MOs over HTTP with
// the handler of `carrierbill smsc --http`, and the example of the
// documented POST /mo body (smsc -h, the README) really works: posted as
// documented it is stored (status 0), the gateway answers with a prompt and
// GET /mts shows it.
func TestSimulatorHTTPDocExampleWorks(t *testing.T) {
	h := bootWith(t, "accounts: {auto_open: true}\n"+testMerchants, io.Discard, GatewayOptions{SimulatorHTTP: "127.0.0.1:0"})
	if h.g.SimulatorHTTPAddr == "" {
		t.Fatal("no HTTP endpoint on the built-in simulator")
	}
	var printed bytes.Buffer
	printSimulator(&printed, h.g)
	if !strings.Contains(printed.String(), "http://"+h.g.SimulatorHTTPAddr+"/mo") {
		t.Fatalf("serve's start message does not say where to POST MOs:\n%s", printed.String())
	}

	// The example of the doc, with the example's address swapped for this
	// gateway's endpoint.
	m := regexp.MustCompile(`curl -sS -d '([^']+)' http://127\.0\.0\.1:2776/mo`).FindStringSubmatch(simulatorHTTPDoc)
	if m == nil {
		t.Fatal("the doc has no curl example of POST /mo")
	}
	var body smsc.MO
	dec := json.NewDecoder(strings.NewReader(m[1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("the doc's body %s is not an MO: %v", m[1], err)
	}
	resp, err := http.Post("http://"+h.g.SimulatorHTTPAddr+"/mo", "application/json", strings.NewReader(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	ack, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(ack)) != `{"statuses":[0]}` {
		t.Fatalf("POST /mo: %s %s", resp.Status, ack)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prompt, err := h.sim.WaitMT(ctx, func(mt smsc.MT) bool { return strings.HasSuffix(mt.To, "13800000001") })
	if err != nil {
		t.Fatal(err)
	}
	if !sixDigits.MatchString(prompt.Text) {
		t.Fatalf("the answer is no prompt with a code: %q", prompt.Text)
	}
	resp, err = http.Get("http://" + h.g.SimulatorHTTPAddr + "/mts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var mts []smsc.MT
	if err := json.NewDecoder(resp.Body).Decode(&mts); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mt := range mts {
		found = found || mt.Text == prompt.Text
	}
	if !found {
		t.Fatalf("GET /mts does not show the prompt %q: %+v", prompt.Text, mts)
	}
}
