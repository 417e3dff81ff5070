package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAddrBroadcastAsIp checks that addr() sets what `ip addr add` sets: no
// broadcast address unless asked, the subnet's with brd="+", a given one,
// and an IPv6 address usable at once with nodad=True.
func TestAddrBroadcastAsIp(t *testing.T) {
	requireRoot(t)
	session, ns := uniq("brd"), uniq("brd")
	downAtEnd(t, session)
	r := mustNsh(t, "run", writeLab(t, "brd", `
n = netns("`+ns+`")
a, b = veth("a0", "b0", ns = n, peer_ns = n)
a.addr("10.10.0.10/16")
a.addr("10.11.0.1/24", brd = "+")
a.addr("10.12.0.1/24", brd = "10.12.0.7")
b.addr("2001:db8::1/64", nodad = True)
b.addr("2001:db8:1::1/64")
a.up()
b.up()
`), "--session", session, "--sandbox", "--explain")
	for _, cmd := range []string{
		"ip -n " + ns + " addr add 10.10.0.10/16 dev a0\n",
		"ip -n " + ns + " addr add 10.11.0.1/24 brd + dev a0\n",
		"ip -n " + ns + " addr add 10.12.0.1/24 brd 10.12.0.7 dev a0\n",
		"ip -n " + ns + " addr add 2001:db8::1/64 dev b0 nodad\n",
	} {
		if !strings.Contains(r.stdout+r.stderr, cmd) {
			t.Errorf("--explain lacks %q:\n%s", cmd, r)
		}
	}
	out := mustNsh(t, "exec", "--session", session, ns, "--", "ip", "-j", "addr", "show").stdout
	var links []struct {
		Ifname   string `json:"ifname"`
		AddrInfo []struct {
			Local     string   `json:"local"`
			Broadcast string   `json:"broadcast"`
			Tentative bool     `json:"tentative"`
			Flags     []string `json:"flags"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("ip -j addr show: %v\n%s", err, out)
	}
	brd := map[string]string{}
	tentative := map[string]bool{}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			brd[a.Local] = a.Broadcast
			tentative[a.Local] = a.Tentative
		}
	}
	for addr, want := range map[string]string{"10.10.0.10": "", "10.11.0.1": "10.11.0.255", "10.12.0.1": "10.12.0.7"} {
		if got, ok := brd[addr]; !ok || got != want {
			t.Errorf("%s: broadcast %q (present %v), want %q", addr, got, ok, want)
		}
	}
	if tentative["2001:db8::1"] {
		t.Errorf("2001:db8::1 was added with nodad=True but is tentative:\n%s", out)
	}
}

func TestAddrBadBroadcast(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct{ call, want string }{
		{`a.addr("10.0.0.1/24", brd = "10.0.0")`, `bad brd "10.0.0"`},
		{`a.addr("10.0.0.1/24", brd = 5)`, "for parameter brd: got int"},
		{`a.addr("2001:db8::1/64", brd = "+")`, "IPv6 has no broadcast"},
		{`a.addr("10.0.0.1/24", nodad = "yes")`, "nodad"},
	} {
		session := uniq("brdbad")
		downAtEnd(t, session)
		r := nsh(t, "run", writeLab(t, "bad", "a, b = veth(\"a0\", \"b0\")\n"+c.call+"\n"), "--session", session, "--sandbox")
		if r.code == 0 || !strings.Contains(r.stderr, "bad.star:2:") || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: want an error at bad.star:2 with %q, got %s", c.call, c.want, r)
		}
	}
}
