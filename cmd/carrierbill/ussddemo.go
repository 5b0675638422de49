package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// ussdScript is the demo's USSD part: the subscriber of the SMS script
// dials *100# through the simulator (deliver_sm with ussd_service_op) and
// reads the quota, the recent payments, then tries a purchase over the
// day's limit and reads the same reason the SMS channel gives. It charges
// nothing, so the statements show the SMS script's payments only.
func (d *demo) ussdScript(ctx context.Context, phone string) error {
	if d.g.USSD == nil {
		return nil
	}
	d.step("USSD：拨 *100# 查询额度、最近支付，再购买 30.00 元 (a USSD session over SMPP ussd_service_op)")
	for _, script := range [][]string{{"2"}, {"3"}, {"1", "1", "3", "30", "1"}} {
		if err := d.ussdDialog(ctx, phone, script); err != nil {
			return err
		}
	}
	return nil
}

// ussdDialog opens one dialog, answers script and prints every screen.
func (d *demo) ussdDialog(ctx context.Context, phone string, script []string) error {
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	fmt.Fprintf(d.out, "📱 %s ☎ *100#\n", redact.Phone(phone))
	dlg, st, err := d.sim.OpenUSSD(wctx, phone, "*100#", "*100#", smsc.DialogOptions{})
	if err != nil || st != 0 {
		return fmt.Errorf("opening a USSD dialog through the simulator: status %#x: %w", uint32(st), err)
	}
	for i := 0; ; i++ {
		sc, err := dlg.Next(wctx)
		if err != nil {
			return fmt.Errorf("the USSD dialog: no screen from the gateway (see its log): %w", err)
		}
		kind := "CON"
		if sc.Op == 17 {
			kind = "END"
		}
		fmt.Fprintf(d.out, "🏦 gateway %s (ussd_service_op %d, %d octets):\n   %s\n", kind, sc.Op, sc.Octets, strings.ReplaceAll(sc.Text, "\n", "\n   "))
		if sc.Op == 17 || i >= len(script) {
			return nil
		}
		fmt.Fprintf(d.out, "📱 %s ▶ %s\n", redact.Phone(phone), script[i])
		if st, err := dlg.Answer(wctx, script[i]); err != nil || st != 0 {
			return fmt.Errorf("answering the USSD dialog: status %#x: %w", uint32(st), err)
		}
	}
}
