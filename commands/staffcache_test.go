package commands

import (
	"fmt"
	"testing"
)

// TestStaffCacheEvictsLeastRecentlyUsed: a full cache drops the entry used
// longest ago, not one in use.
func TestStaffCacheEvictsLeastRecentlyUsed(t *testing.T) {
	var c staffCache
	first := c.entry("c", "m0")
	second := c.entry("c", "m1")
	for i := 2; i < staffCacheSize; i++ {
		c.entry("c", fmt.Sprint("m", i))
	}
	if c.entry("c", "m0") != first { // m0 is now the most recently used
		t.Fatal("m0 was dropped from a cache that was not full")
	}
	c.entry("c", "new") // full: drops m1, the least recently used
	if c.entry("c", "m0") != first {
		t.Error("m0, used recently, was dropped")
	}
	if c.entry("c", "m1") == second {
		t.Error("m1, the least recently used, was kept")
	}
	if n := c.lru.Len(); n != staffCacheSize {
		t.Errorf("cache holds %d entries, want %d", n, staffCacheSize)
	}
}
