package ipt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// This file reads and tidies the nf_tables tables that iptables-nft keeps,
// through netlink (github.com/google/nftables) rather than the nft
// program, which a machine with iptables need not have.
//
// iptables-nft makes the table of a rule (e.g. "table ip nat") and the
// base chain (e.g. "chain POSTROUTING { type nat hook postrouting ... }")
// when the first rule is added to them, and never removes them, even when
// they are empty again. iptables-save does not show such empty leftovers
// (a base chain without rules looks like a builtin chain that was always
// there), but `nft list ruleset` does.
//
// The connections are made on the calling thread, so they talk to the
// network namespace of that thread, as the iptables children do: callers
// that work in another namespace are inside kernel.Namespace.Do, on a
// locked thread. (nftables.WithNetNSFd would also work, but it needs the
// namespace's file, which the package's callers do not pass, and it
// enters the namespace once more on a thread of its own for every socket.)

// family returns the nf_tables family of the binary's tables: ip6 for
// ip6tables, else ip.
func (h *Handle) family() nftables.TableFamily {
	if strings.HasPrefix(filepath.Base(h.Path), "ip6tables") {
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyIPv4
}

// nftTable is what nf_tables holds of one iptables table.
type nftTable struct {
	table  *nftables.Table // nil if there is no such table
	chains []*nftables.Chain
	rules  map[string]int // number of rules, by chain
	sets   int
	// (nftables.Table.Use would count chains and sets together, but
	// v0.3.0 decodes it in the wrong byte order, so it is not used.)
}

// lookNFT lists a table, its chains, the number of rules in each and its
// sets.
func (h *Handle) lookNFT(c *nftables.Conn, table string) (*nftTable, error) {
	st := &nftTable{rules: map[string]int{}}
	ts, err := c.ListTablesOfFamily(h.family())
	if err != nil {
		return nil, fmt.Errorf("failed to list the nf_tables tables: %w", err)
	}
	for _, t := range ts {
		if t.Name == table {
			st.table = t
		}
	}
	if st.table == nil {
		return st, nil
	}
	chains, err := c.ListChainsOfTableFamily(h.family())
	if err != nil {
		return nil, fmt.Errorf("failed to list the nf_tables chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != table {
			continue
		}
		rules, err := c.GetRules(st.table, ch)
		if err != nil {
			return nil, fmt.Errorf("failed to list the rules of chain %s in nf_tables table %s: %w", ch.Name, table, err)
		}
		st.chains = append(st.chains, ch)
		st.rules[ch.Name] = len(rules)
	}
	sets, err := c.GetSets(st.table)
	if err != nil {
		return nil, fmt.Errorf("failed to list the sets of nf_tables table %s: %w", table, err)
	}
	st.sets = len(sets)
	return st, nil
}

// chain returns the named chain, or nil.
func (st *nftTable) chain(name string) *nftables.Chain {
	for _, ch := range st.chains {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}

// bare reports whether a chain is as iptables-nft makes it: a base chain
// (one with a hook) of a builtin name, with no rules and an ACCEPT policy.
func (st *nftTable) bare(ch *nftables.Chain) bool {
	return ch.Hooknum != nil && IsBuiltinChain(st.table.Name, ch.Name) &&
		ch.Policy != nil && *ch.Policy == nftables.ChainPolicyAccept &&
		st.rules[ch.Name] == 0
}

// empty reports whether the table holds nothing but bare chains.
func (st *nftTable) empty() bool {
	if st.sets > 0 {
		return false
	}
	for _, ch := range st.chains {
		if !st.bare(ch) {
			return false
		}
	}
	return true
}

// withNFT runs fn with a connection to nf_tables in the namespace of the
// calling thread.
func withNFT(fn func(c *nftables.Conn) error) error {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return fmt.Errorf("failed to connect to nf_tables: %w", err)
	}
	defer c.CloseLasting()
	return fn(c)
}

// nftTableExists is TableExists with nf_tables.
func (h *Handle) nftTableExists(table string) (bool, error) {
	var ok bool
	err := withNFT(func(c *nftables.Conn) error {
		st, err := h.lookNFT(c, table)
		ok = err == nil && st.table != nil
		return err
	})
	return ok, err
}

// ChainMade reports whether the chain is in the kernel. With nf_tables,
// iptables-nft makes a builtin chain when the first rule is added to it
// (and iptables -S shows it before that, as if it were there); with the
// legacy backend, every builtin chain of a table is always there.
func (h *Handle) ChainMade(table, chain string) (bool, error) {
	if !h.NFT() {
		return true, nil
	}
	var ok bool
	err := withNFT(func(c *nftables.Conn) error {
		st, err := h.lookNFT(c, table)
		ok = err == nil && st.table != nil && st.chain(chain) != nil
		return err
	})
	return ok, err
}

// nftTableEmpty is TableEmpty with nf_tables: a table that does not
// exist is empty too.
func (h *Handle) nftTableEmpty(table string) (bool, error) {
	var ok bool
	err := withNFT(func(c *nftables.Conn) error {
		st, err := h.lookNFT(c, table)
		ok = err == nil && st.empty()
		return err
	})
	return ok, err
}

// DropTable removes an nf_tables table that iptables-nft made, with its
// chains, if it holds nothing but base chains with no rules and ACCEPT
// policies. It reports whether it removed the table. Legacy tables cannot
// be removed.
func (h *Handle) DropTable(table string) (bool, error) {
	if !h.NFT() {
		return false, nil
	}
	return h.drop(table, "")
}

// DropChain removes a builtin chain that iptables-nft made in an nf_tables
// table, if it has no rules and an ACCEPT policy. It reports whether it
// removed the chain. Legacy chains cannot be removed.
func (h *Handle) DropChain(table, chain string) (bool, error) {
	if !h.NFT() {
		return false, nil
	}
	return h.drop(table, chain)
}

// dropTries bounds how often drop looks again when the ruleset changed
// between its look and its deletion.
const dropTries = 5

// drop removes one bare chain, or (chain == "") the table with all its
// chains if it is empty. It reads the ruleset and deletes in one
// transaction that the kernel refuses if anything changed in between:
// the batch carries the ruleset's generation from before the look (so the
// kernel answers ERESTART after any change, even of a policy, and drop
// looks again), and its deletions are not recursive (NLM_F_NONREC: the
// kernel answers EBUSY rather than delete a rule, and drop leaves the
// chain, which is not empty any more).
func (h *Handle) drop(table, chain string) (bool, error) {
	what := "table " + table
	if chain != "" {
		what = "chain " + chain + " of table " + table
	}
	raw, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return false, fmt.Errorf("failed to remove the empty nf_tables %s: failed to connect to nf_tables: %w", what, err)
	}
	defer raw.Close()
	var last error
	for range dropTries {
		var dropped, again bool
		err := withNFT(func(c *nftables.Conn) error {
			gen, err := genID(raw)
			if err != nil {
				return err
			}
			st, err := h.lookNFT(c, table)
			if err != nil {
				again = true
				return err
			}
			if st.table == nil {
				return nil
			}
			var chains []string
			if chain != "" {
				ch := st.chain(chain)
				if ch == nil || !st.bare(ch) {
					return nil
				}
				chains = []string{chain}
			} else {
				if !st.empty() {
					return nil
				}
				for _, ch := range st.chains {
					chains = append(chains, ch.Name)
				}
			}
			err = deleteNonRec(raw, gen, h.family(), table, chains, chain == "")
			switch {
			case err == nil:
				dropped = true
			case errors.Is(err, unix.ERESTART), errors.Is(err, unix.ENOENT):
				// The ruleset changed, or something went: look again.
				again = true
			case errors.Is(err, unix.EBUSY):
				// Something was added meanwhile: not empty any more.
				err = nil
			}
			return err
		})
		if !again {
			if err != nil {
				return false, fmt.Errorf("failed to remove the empty nf_tables %s: %w", what, err)
			}
			return dropped, nil
		}
		last = err
	}
	return false, fmt.Errorf("failed to remove the empty nf_tables %s: the ruleset kept changing (%d tries): %w", what, dropTries, last)
}

// nfgenmsg returns the header of an nfnetlink message.
func nfgenmsg(family nftables.TableFamily, resID uint16) []byte {
	return append([]byte{byte(family), unix.NFNETLINK_V0}, binaryutil.BigEndian.PutUint16(resID)...)
}

// genID returns the generation of the ruleset, which every change bumps.
func genID(raw *netlink.Conn) (uint32, error) {
	msgs, err := raw.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		Data: nfgenmsg(nftables.TableFamilyUnspecified, 0),
	})
	if err != nil {
		return 0, fmt.Errorf("failed to read the ruleset's generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, fmt.Errorf("failed to read the ruleset's generation: %w", err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("failed to read the ruleset's generation: no generation in the kernel's answer")
}

// deleteNonRec deletes chains, and then the table if withTable, in one
// batch that commits only if the ruleset is still at generation gen and
// that deletes nothing recursively: the kernel answers ERESTART if the
// ruleset changed, and EBUSY if a chain has a rule or the table a chain
// or set left. (nftables.Conn.DelChain and DelTable would delete the
// chain's rules and the table's chains with them.)
func deleteNonRec(raw *netlink.Conn, gen uint32, family nftables.TableFamily, table string, chains []string, withTable bool) error {
	genAttr, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFNL_BATCH_GENID, Data: binaryutil.BigEndian.PutUint32(gen)},
	})
	if err != nil {
		return err
	}
	msgs := []netlink.Message{{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
		Data:   append(nfgenmsg(nftables.TableFamilyUnspecified, unix.NFNL_SUBSYS_NFTABLES), genAttr...),
	}}
	del := func(typ int, attrs []netlink.Attribute) error {
		b, err := netlink.MarshalAttributes(attrs)
		if err != nil {
			return err
		}
		msgs = append(msgs, netlink.Message{
			Header: netlink.Header{
				Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ),
				Flags: netlink.Request | netlink.Acknowledge | unix.NLM_F_NONREC,
			},
			Data: append(nfgenmsg(family, 0), b...),
		})
		return nil
	}
	for _, ch := range chains {
		if err := del(unix.NFT_MSG_DELCHAIN, []netlink.Attribute{
			{Type: unix.NFTA_CHAIN_TABLE, Data: []byte(table + "\x00")},
			{Type: unix.NFTA_CHAIN_NAME, Data: []byte(ch + "\x00")},
		}); err != nil {
			return err
		}
	}
	if withTable {
		if err := del(unix.NFT_MSG_DELTABLE, []netlink.Attribute{
			{Type: unix.NFTA_TABLE_NAME, Data: []byte(table + "\x00")},
		}); err != nil {
			return err
		}
	}
	n := len(msgs) - 1
	msgs = append(msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
		Data:   nfgenmsg(nftables.TableFamilyUnspecified, unix.NFNL_SUBSYS_NFTABLES),
	})
	if _, err := raw.SendMessages(msgs); err != nil {
		return err
	}
	// The kernel acknowledges each message once the whole batch has been
	// processed (an error for those that failed, and then nothing is
	// committed), or, if the generation moved on, answers the batch with
	// a single ERESTART.
	var errs error
	for range n {
		if _, err := raw.Receive(); err != nil {
			if errors.Is(err, unix.ERESTART) {
				return err
			}
			errs = errors.Join(errs, err)
		}
	}
	return errs
}
