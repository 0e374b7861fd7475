// Package storetest gives tests of store-backed packages (rate limits, audit) a fresh, migrated
// database on a real PostgreSQL cluster, opened by several Store instances as several server
// replicas would.
package storetest
