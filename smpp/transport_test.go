package smpp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smsc.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestTLSBind binds over TLS and carries an MO and an MT both ways.
func TestTLSBind(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	sim := smsc.New(smsc.Config{SystemID: sysID, Password: pw})
	go sim.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { sim.Close() })

	cons := newConsumer()
	bc := bindCfg(ln.Addr().String())
	bc.TLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	c := newClient(t, cons, nil, bc)
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 1); err != nil {
		t.Fatalf("no TLS bind: %v", err)
	}
	if _, err := c.Submit(ctx, smpp.MT{From: "106580088001", To: "8613800000001", Text: "支付成功"}); err != nil {
		t.Fatalf("Submit over TLS: %v", err)
	}
	if _, err := sim.WaitMT(ctx, func(m smsc.MT) bool { return m.Text == "支付成功" }); err != nil {
		t.Fatal(err)
	}
	if st, err := sim.InjectMO(ctx, smsc.MO{From: "8613800000001", To: "106580088001", Text: "查询"}); err != nil || len(st) != 1 || st[0] != 0 {
		t.Fatalf("InjectMO over TLS: %v %v", st, err)
	}
	eventually(t, "the MO over TLS", func() bool { return len(cons.MOs()) == 1 && cons.MOs()[0].Text == "查询" })
}

// TestTLSRefusesUntrustedSMSC: a certificate the ESME does not trust is
// never bound to.
func TestTLSRefusesUntrustedSMSC(t *testing.T) {
	cert, _ := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	sim := smsc.New(smsc.Config{SystemID: sysID, Password: pw})
	go sim.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { sim.Close() })
	bc := bindCfg(ln.Addr().String())
	bc.TLS = &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	c := newClient(t, newConsumer(), nil, bc)
	ctx, cancel := ctxTimeout(t, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Submit(ctx, smpp.MT{From: "1", To: "2", Text: "x"}); err == nil {
		t.Fatal("Submit succeeded through an SMSC whose certificate is not trusted")
	}
	if n := sim.Binds(); n != 0 {
		t.Fatalf("%d binds through an untrusted certificate", n)
	}
}

// TestThroughputCap: a bind capped at N MT/s never sends faster, however
// many callers push. (A lower bound on duration: load can only slow it.)
func TestThroughputCap(t *testing.T) {
	sim := newSim(t, smsc.Config{})
	bc := bindCfg(sim.Addr())
	bc.MaxPerSecond = 20
	c := newClient(t, newConsumer(), nil, bc)
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 1); err != nil {
		t.Fatal(err)
	}
	const n = 30
	start := time.Now()
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Submit(ctx, smpp.MT{From: "1", To: "8613800000001", Text: "cap"})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// 30 messages at 20/s: at least the 10 beyond the first second's burst
	// wait for tokens, so no less than ~0.5 s whatever the burst policy.
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Fatalf("%d MTs at a cap of 20/s took %v: the cap was not applied", n, d)
	}
}

// TestSimulatorHTTPInject drives the simulator's HTTP control endpoint as
// `carrierbill smsc -http` exposes it: POST /mo reaches the ESME and the
// ESME's ack comes back; GET /mts lists what the ESME sent.
func TestSimulatorHTTPInject(t *testing.T) {
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	c := newClient(t, cons, nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)

	body, _ := json.Marshal(smsc.MO{From: "8613800000001", To: "106580088001", Text: "VIP"})
	resp, err := http.Post(srv.URL+"/mo", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Statuses []uint32 }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(got.Statuses) != 1 || got.Statuses[0] != 0 {
		t.Fatalf("POST /mo: %s %+v", resp.Status, got)
	}
	if mos := cons.MOs(); len(mos) != 1 || mos[0].Text != "VIP" {
		t.Fatalf("ESME got %+v", mos)
	}
	if _, err := c.Submit(ctx, smpp.MT{From: "106580088001", To: "8613800000001", Text: "reply"}); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(srv.URL + "/mts")
	if err != nil {
		t.Fatal(err)
	}
	var mts []smsc.MT
	if err := json.NewDecoder(resp.Body).Decode(&mts); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(mts) != 1 || mts[0].Text != "reply" {
		t.Fatalf("GET /mts = %+v", mts)
	}

	bad, err := http.Post(srv.URL+"/mo", "application/json", bytes.NewReader([]byte("{")))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest {
		t.Fatalf("a broken request got %s, want 400", bad.Status)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) (ctx context.Context, cancel context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(context.Background(), d)
}
