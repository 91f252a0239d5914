package imagenet

import (
	"strings"
	"testing"
)

func TestClasses(t *testing.T) {
	if len(Classes) != 1000 {
		t.Fatalf("%d classes, want 1000", len(Classes))
	}
	// Spot checks at both ends and in the middle of torchvision's order; a list
	// sorted by name, or shifted by one, fails them.
	for i, want := range map[int]string{0: "tench", 1: "goldfish", 134: "crane bird", 281: "tabby", 517: "crane", 999: "toilet tissue"} {
		if Classes[i] != want {
			t.Errorf("Classes[%d] = %q, want %q", i, Classes[i], want)
		}
	}
	seen := map[string]int{}
	for i, c := range Classes {
		if strings.TrimSpace(c) == "" || c != strings.TrimSpace(c) {
			t.Errorf("Classes[%d] = %q is empty or padded", i, c)
		}
		if j, dup := seen[c]; dup {
			t.Errorf("Classes[%d] and [%d] are both %q", j, i, c)
		}
		seen[c] = i
	}
}
