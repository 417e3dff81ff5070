package ops

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// linkKindSamples has one LinkAdd of every registered kind of link, with
// every parameter set.
var linkKindSamples = []*LinkAdd{
	{NS: "earth", Name: "e0", Type: &Veth{Peer: "n0", PeerNS: "neptune"}, Index: 7},
	{NS: "host", Name: "br0", Type: &Bridge{}, Index: 8},
	{NS: "earth", Name: "d0", Type: &Dummy{}, Index: 9},
	{NS: "earth", Name: "mv0", Type: &Macvlan{Parent: "e0", Mode: "vepa"}, Index: 10},
	{NS: "earth", Name: "vx0", Type: &Vxlan{ID: 42, Remote: "10.0.0.2", Local: "10.0.0.1", Group: "239.1.1.1", Dev: "e0", Port: 4789}, Index: 11},
	{NS: "earth", Name: "tap0", Type: &Tap{}, Index: 12},
	{NS: "earth", Name: "tun0", Type: &Tun{}, Index: 13},
	{NS: "earth", Name: "e0.7", Type: &Vlan{Parent: "e0", ID: 7}, Index: 14},
}

// TestLinkKindsRoundTrip encodes and decodes a LinkAdd of every registered
// kind of link, so that a new kind cannot be forgotten here, and checks
// that its parameters do not take the names of LinkAdd's own fields.
func TestLinkKindsRoundTrip(t *testing.T) {
	var seen []string
	for _, op := range linkKindSamples {
		seen = append(seen, op.Type.Name())
		b, err := Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode("link.add", b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, op) {
			t.Errorf("%s: round trip gave %#v, want %#v", b, got, op)
		}
		params, _ := json.Marshal(op.Type)
		var m map[string]any
		if err := json.Unmarshal(params, &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"ns", "name", "type", "index"} {
			if _, ok := m[f]; ok {
				t.Errorf("link kind %s has a parameter %q, which is a field of LinkAdd", op.Type.Name(), f)
			}
		}
	}
	slices.Sort(seen)
	if kinds := LinkKinds(); !slices.Equal(seen, kinds) {
		t.Errorf("samples of %v, registered kinds %v: add a sample of every kind", seen, kinds)
	}
}

// TestLinkAddJournalCompatible decodes link.add records as nsh wrote them
// before kinds of link had files of their own: they must still decode,
// scope and explain as they did.
func TestLinkAddJournalCompatible(t *testing.T) {
	for _, c := range []struct {
		rec     string
		want    *LinkAdd
		scope   []string
		explain string
	}{
		{`{"ns":"earth","name":"e0","type":"veth","peer":"n0","peer_ns":"neptune","index":5}`,
			&LinkAdd{NS: "earth", Name: "e0", Type: &Veth{Peer: "n0", PeerNS: "neptune"}, Index: 5},
			[]string{"earth", "neptune"}, "ip link add e0 netns earth type veth peer name n0 netns neptune"},
		{`{"ns":"host","name":"br0","type":"bridge","index":6}`,
			&LinkAdd{NS: "host", Name: "br0", Type: &Bridge{}, Index: 6},
			[]string{"host"}, "ip link add br0 type bridge"},
		{`{"ns":"host","name":"d0","type":"dummy"}`,
			&LinkAdd{NS: "host", Name: "d0", Type: &Dummy{}},
			[]string{"host"}, "ip link add d0 type dummy"},
	} {
		op, err := Decode("link.add", []byte(c.rec))
		if err != nil {
			t.Fatalf("%s: %v", c.rec, err)
		}
		if !reflect.DeepEqual(op, c.want) {
			t.Errorf("%s decoded to %#v, want %#v", c.rec, op, c.want)
			continue
		}
		la := op.(*LinkAdd)
		if got := la.Namespaces(); !slices.Equal(got, c.scope) {
			t.Errorf("%s: Namespaces() = %v, want %v", c.rec, got, c.scope)
		}
		if got := la.Explain(""); !slices.Equal(got, []string{c.explain}) {
			t.Errorf("%s: Explain() = %q, want %q", c.rec, got, c.explain)
		}
		// Encoding gives back the same record, key for key.
		b, _ := Encode(op)
		var got, want map[string]any
		json.Unmarshal(b, &got)
		json.Unmarshal([]byte(c.rec), &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s encodes as %s", c.rec, b)
		}
	}
	if _, err := Decode("link.add", []byte(`{"ns":"host","name":"x","type":"warp"}`)); err == nil || !strings.Contains(err.Error(), `"warp"`) {
		t.Errorf("a link of an unknown type decoded: %v", err)
	}
}

// TestLinkAddCheck checks the parameters each kind refuses before
// anything is journaled.
func TestLinkAddCheck(t *testing.T) {
	for _, c := range []struct {
		op   *LinkAdd
		want string // "" for none
	}{
		{&LinkAdd{NS: "host", Name: "a", Type: &Veth{Peer: "b", PeerNS: "host"}}, ""},
		{&LinkAdd{NS: "host", Name: "a", Type: &Veth{Peer: "a", PeerNS: "host"}}, "different names"},
		{&LinkAdd{NS: "earth", Name: "a", Type: &Veth{Peer: "a", PeerNS: "mars"}}, ""},
		{&LinkAdd{NS: "host", Name: "a", Type: &Veth{Peer: "0123456789abcdef", PeerNS: "host"}}, "longer than"},
		{&LinkAdd{NS: "host", Name: "br0", Type: &Bridge{}}, ""},
		{&LinkAdd{NS: "host", Name: "m", Type: &Macvlan{Parent: "e0", Mode: "bridge"}}, ""},
		{&LinkAdd{NS: "host", Name: "m", Type: &Macvlan{Parent: "e0", Mode: "Bridge"}}, `unknown mode "Bridge"`},
		{&LinkAdd{NS: "host", Name: "m", Type: &Macvlan{Parent: "", Mode: "vepa"}}, "parent: interface name is empty"},
		{&LinkAdd{NS: "host", Name: "m", Type: &Macvlan{Parent: "m", Mode: "vepa"}}, "its own parent"},
		{&LinkAdd{NS: "host", Name: "x"}, "no type"},
	} {
		err := c.op.Check()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: Check() = %v", c.op.Type, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: Check() = %v, want an error with %q", c.op.Type, err, c.want)
		}
	}
}
