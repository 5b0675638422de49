package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/carrierbill/carrierbill/internal/httpserver"
)

// The built-in SMSC simulator's HTTP control endpoint: serve without an SMSC
// starts the simulator and, on -simulator-http, the very handler of
// `carrierbill smsc --http` (smsc.Server.Handler), so a newcomer injects MOs
// with curl and reads the gateway's answers without a second simulator.

// simulatorHTTPDoc documents the HTTP control endpoint, for `smsc -h` and
// the README (TestSimulatorHTTPDocExampleWorks posts its example).
const simulatorHTTPDoc = `HTTP control endpoint (smsc --http ADDR; serve's built-in simulator: -simulator-http ADDR):

  POST /mo       a subscriber sends an MO. JSON body:
                   "from"       the subscriber's number, e.g. "8613800000001" (required)
                   "to"         the service address: service code + merchant code, e.g. "106580088001" (required)
                   "text"       the text, any length: GSM 7-bit when it fits, else UCS2; split when long
                   "system_id"  deliver on the bind with this system_id (default "": any bound client)
                   "split"      how a long text is split: 0 UDH with an 8-bit reference (default),
                                1 UDH with a 16-bit reference, 2 SAR TLVs, 3 one deliver_sm with message_payload
                 It answers once the gateway acknowledged every part: {"statuses":[0]} (0: ESME_ROK, the MO is
                 stored; 100 = 0x64 ESME_RX_T_APPN: not stored, send it again). It waits for a bound client
                 while the request lasts. 400: a bad body; 502: the delivery failed.
  POST /receipt  send a delivery receipt: {"message_id","from","to","state" (default DELIVRD),"system_id"}
  GET  /mts      every MT received so far, oldest first, as JSON:
                 [{"SystemID","From","To","Text","DataCoding","Parts","MessageIDs","RegisteredDelivery"}]

Example (a subscriber texts VIP to merchant 8001, then reads the answers; on a standalone simulator
start it with --http 127.0.0.1:2776):

  curl -sS -d '{"from":"8613800000001","to":"106580088001","text":"VIP"}' http://127.0.0.1:2776/mo
  curl -sS http://127.0.0.1:2776/mts`

// startSimulatorHTTP serves g.Simulator's HTTP control endpoint on addr
// ("" serves none) and records where in g.SimulatorHTTPAddr.
func startSimulatorHTTP(g *Gateway, addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("starting the built-in SMSC simulator's HTTP endpoint on %s (another address: -simulator-http ADDR, or \"\" for none): %w", addr, err)
	}
	srv := httpserver.New(g.Simulator.Handler(), httpserver.Timeouts{})
	g.SimulatorHTTPAddr = ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.Log.Error("built-in SMSC simulator's HTTP endpoint stopped", "err", err)
		}
	}()
	g.closers = append(g.closers, srv.Close)
	return nil
}

// simulatorHTTPHint says in a log line how to reach the simulator.
func simulatorHTTPHint(addr string) string {
	if addr == "" {
		return "over SMPP only (serve -simulator-http ADDR serves POST /mo and GET /mts)"
	}
	return "POST http://" + addr + "/mo, GET http://" + addr + "/mts"
}

// printSimulator tells the operator of a gateway on the built-in simulator
// exactly how to text it: commands that work as printed.
func printSimulator(w io.Writer, g *Gateway) {
	if g.Simulator == nil {
		return
	}
	fmt.Fprintf(w, "built-in SMSC simulator (no SMSC configured): SMPP on %s, system_id carrierbill, password sim\n", g.Simulator.Addr())
	if g.SimulatorHTTPAddr == "" {
		fmt.Fprintln(w, "MO injection over HTTP is off: start serve with -simulator-http 127.0.0.1:2776 to text the gateway with curl")
		return
	}
	to, text := g.Config.ServiceCode+"8001", "VIP"
	if len(g.Config.Merchants) > 0 {
		m := g.Config.Merchants[0]
		to, text = g.Config.ServiceCode+m.Code, "10"
		if len(m.Products) > 0 {
			text = m.Products[0].Keyword
		}
	}
	fmt.Fprintf(w, "text the gateway over HTTP on http://%s (the API of `carrierbill smsc --http`; no standalone smsc is needed, see carrierbill smsc -h):\n", g.SimulatorHTTPAddr)
	fmt.Fprintf(w, "  curl -sS -d '{\"from\":\"8613800000001\",\"to\":%q,\"text\":%q}' http://%s/mo\n", to, text, g.SimulatorHTTPAddr)
	fmt.Fprintf(w, "  curl -sS http://%s/mts\n", g.SimulatorHTTPAddr)
	if len(g.Config.Merchants) == 0 {
		fmt.Fprintln(w, "no merchant is configured yet, so every purchase is refused (unknown_merchant): see the README's quick start for a configuration")
	}
}
