package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/httpserver"
)

// TestServeHTTPServersAreHardened (issue 18.9): every HTTP server the
// gateway starts has header, read, write and idle timeouts and a header
// limit, and an idle keep-alive connection to each is closed.
func TestServeHTTPServersAreHardened(t *testing.T) {
	t.Parallel()
	yaml := "admin: {listen: \"127.0.0.1:0\"}\nsettlement: {listen: \"127.0.0.1:0\"}\n" + testMerchants
	h := bootWith(t, yaml, io.Discard, GatewayOptions{
		Bank: banksim.New(clock.Real{}), CardKey: []byte(testCardKey), WalletPepper: []byte(testPepper), AdminToken: testAdminToken,
		HTTPTimeouts: httpserver.Timeouts{Idle: 300 * time.Millisecond},
	})
	if h.g.AdminAddr == "" || h.g.DownloadAddr == "" {
		t.Fatalf("admin %q, downloads %q: both must be served", h.g.AdminAddr, h.g.DownloadAddr)
	}
	if len(h.g.servers) != 2 {
		t.Fatalf("%d HTTP servers recorded, want 2 (admin, downloads)", len(h.g.servers))
	}
	for i, s := range h.g.servers {
		if !httpserver.Hardened(s) {
			t.Errorf("server %d lacks a timeout or header limit: %+v", i, s)
		}
	}
	for _, addr := range []string{h.g.AdminAddr, h.g.DownloadAddr} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s kept an idle keep-alive connection open", addr)
		}
	}
}

// TestServeCardAdminRefusesMalformedRequests (issue 18.9) through the
// running gateway: wrong methods are 405 with Allow, trailing JSON and
// absurd numbers are 400.
func TestServeCardAdminRefusesMalformedRequests(t *testing.T) {
	t.Parallel()
	h := bootCards(t, true)
	phone := h.newPhone()
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"GET a POST route", "GET", "/admin/cards/bind", "", 405},
		{"POST the list", "POST", "/admin/cards", `{}`, 405},
		{"trailing JSON", "POST", "/admin/wallet/unlock", fmt.Sprintf(`{"msisdn":%q}{"msisdn":%q}`, phone, phone), 400},
		{"1,000-digit number", "POST", "/admin/wallet/unlock", `{"msisdn":"` + strings.Repeat("9", 1000) + `"}`, 400},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://"+h.g.AdminAddr+tt.path, strings.NewReader(tt.body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if tt.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", tt.name)
		}
	}
	if status, _ := h.admin("GET", "/admin/cards?msisdn="+phone, "wrong-token-wrong-token", ""); status != 401 {
		t.Fatalf("wrong token: %d", status)
	}
	if !strings.Contains(h.logs.String(), "authentication failed") {
		t.Fatal("a failed authentication is not logged")
	}
}
