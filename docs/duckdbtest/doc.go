// Package duckdbtest runs the DuckDB examples of docs/analysts.md, as
// written, against a Parquet export made by custody's exporter. It is a
// module of its own so that custody's module does not depend on DuckDB
// (a cgo library of some hundred megabytes); run it with `make test-docs`.
package duckdbtest
