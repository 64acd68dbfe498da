package reconcile_test

import (
	"testing"

	"github.com/custody/custody/adapters/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
