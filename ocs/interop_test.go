package ocs_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/ocs"
)

// TestInteropFreeDiameter runs the client against an independent Diameter
// implementation, freeDiameter (Debian's freediameter package:
// freeDiameterd and its extensions under /usr/lib/freeDiameter): the
// capabilities exchange (CER/CEA; freeDiameter announces itself as a relay),
// our watchdog (DWR/DWA) and freeDiameter's (it sends a DWR every TwTimer,
// 6s here, which we answer), and a CCR that freeDiameter parses with its
// credit-control dictionary and, serving no credit-control application
// itself, answers with a 3xxx protocol error: an unknown outcome, never a
// refusal. The test skips when freeDiameterd is not installed; .ci/run
// installs it when apt-get can.
func TestInteropFreeDiameter(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("freeDiameterd")
	if err != nil {
		t.Skip("SKIP: freeDiameterd is not installed (apt-get install freediameter); the interop test needs an independent Diameter peer")
	}
	const exts = "/usr/lib/freeDiameter"
	for _, e := range []string{"acl_wl", "dict_nasreq", "dict_dcca"} {
		if _, err := os.Stat(filepath.Join(exts, e+".fdx")); err != nil {
			t.Skipf("SKIP: freeDiameter extension %s missing: %v", e, err)
		}
	}
	dir := t.TempDir()
	writeCert(t, dir)
	port, secPort := freePort(t), freePort(t)
	write(t, filepath.Join(dir, "acl.conf"), "ALLOW_IPSEC gw1.carrierbill.test\n")
	write(t, filepath.Join(dir, "fd.conf"), fmt.Sprintf(`Identity = "ocs.fd.test";
Realm = "fd.test";
Port = %d;
SecPort = %d;
No_SCTP;
No_IPv6;
ListenOn = "127.0.0.1";
TwTimer = 6;
TLS_Cred = "%[3]s/cert.pem", "%[3]s/key.pem";
TLS_CA = "%[3]s/cert.pem";
LoadExtension = "%[4]s/acl_wl.fdx" : "%[3]s/acl.conf";
LoadExtension = "%[4]s/dict_nasreq.fdx";
LoadExtension = "%[4]s/dict_dcca.fdx";
`, port, secPort, dir, exts))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", filepath.Join(dir, "fd.conf"))
	logf, err := os.Create(filepath.Join(dir, "fd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "fd.log"))
			t.Logf("freeDiameterd log:\n%s", b)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, "freeDiameterd to listen", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	connect := func(watchdog time.Duration) *ocs.Charger {
		retries := 1
		ch, err := ocs.New(ocs.Options{
			Client: ocs.ClientOptions{
				OriginHost: "gw1.carrierbill.test", OriginRealm: "carrierbill.test", DestinationRealm: "fd.test",
				Peers: []ocs.Peer{{Addr: addr, Host: "ocs.fd.test"}}, AnswerTimeout: time.Second, Retries: &retries,
				WatchdogInterval: watchdog, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
			},
			ServiceContextID: "32274@3gpp.org",
			Default:          ocs.Service{Identifier: 1, RatingGroup: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		if err := ch.Client().WaitOpen(wctx); err != nil {
			t.Fatalf("CER/CEA with freeDiameter: %v", err)
		}
		return ch
	}

	// 1. CER/CEA, our DWR answered, a CCR answered 3xxx.
	ch := connect(200 * time.Millisecond)
	eventually(t, "two DWAs from freeDiameter", func() bool { return ch.Client().Stats().DWAs >= 2 })
	err = ch.Debit(ctx5(t), "order:1", "+8613800138000", 100)
	var d *billing.Declined
	if err == nil || errors.As(err, &d) || !strings.Contains(err.Error(), "OCS answered 30") {
		t.Fatalf("a CCR to freeDiameter (no credit-control server): %v, want an unknown outcome from a 3xxx answer", err)
	}
	if s := ch.Client().Stats(); s.Opens != 1 {
		t.Fatalf("stats %+v: the connection did not stay up", s)
	}
	ch.Close() // DPR/DPA

	// 2. freeDiameter's own DWR (our link idle: our watchdog is slower
	// than its TwTimer), answered with a DWA: the link stays open.
	ch = connect(time.Minute)
	defer ch.Close()
	deadline := time.Now().Add(15 * time.Second)
	for ch.Client().Stats().DWRsAnswered == 0 {
		if time.Now().After(deadline) {
			t.Fatal("freeDiameter's DWR never came (TwTimer 6s)")
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline for freeDiameter's own timer
	}
	if len(ch.Client().OpenPeers()) != 1 {
		t.Fatal("freeDiameter closed the link after our DWA")
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeCert writes cert.pem and key.pem (freeDiameter insists on TLS
// credentials even when a peer talks plain TCP).
func writeCert(t *testing.T, dir string) {
	t.Helper()
	cert, _ := selfSigned(t)
	write(t, filepath.Join(dir, "cert.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
}
