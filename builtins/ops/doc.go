// Package ops defines nsh's operations: small values that each make one
// change to the kernel, know how to revert it, and know the iproute2,
// iptables or sysctl command that a person would type to do the same.
//
// Operations are data. Each kind is registered under a name and encodes to
// JSON, so that the journal can record an operation before it is applied and
// a different nsh process (nsh down after a crash) can decode and revert it.
// Revert is idempotent: an object that is already gone counts as reverted.
package ops
