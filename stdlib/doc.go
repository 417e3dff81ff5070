// Package stdlib embeds nsh's Starlark standard library: modules that
// scripts load as "@nsh//NAME.star". They are built only from the
// builtins, so everything they do is journaled and explained like a
// script's own calls. Exports indexes the names they define, so that an
// error about an undefined name can say which module to load.
//
// Layer: a leaf (docs/architecture.md): it imports no nsh package, and
// package interp, which resolves load("@nsh//..."), reads it.
package stdlib

import "embed"

// FS holds the .star modules, and the lessons of nsh learn under
// lessons/ (built on lesson.star; they are not modules to load).
//
//go:embed *.star lessons/*.star
var FS embed.FS
