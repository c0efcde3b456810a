package rules

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkEvaluate evaluates process-start events against every shipped
// Linux rule (those for process_creation apply), one goroutine: the
// proactive-defense leg's cost per event.
func BenchmarkEvaluate(b *testing.B) {
	s, err := Shipped()
	if err != nil {
		b.Fatal(err)
	}
	images := []string{"/usr/bin/bash", "/usr/bin/curl", "/usr/bin/python3", "/usr/sbin/sshd", "/usr/bin/apt", "/usr/bin/ls", "/usr/bin/git", "/usr/bin/at"}
	evs := make([]Event, 256)
	for i := range evs {
		img := images[i%len(images)]
		evs[i] = Event{Fields: map[string]any{
			"Image": img, "CommandLine": fmt.Sprintf("%s --option %d /home/user/project/file%d.txt", img, i, i),
			"ParentImage": "/usr/bin/bash", "ParentCommandLine": "bash", "User": "user", "CurrentDirectory": "/home/user",
			"ProcessId": 1000 + i, "ParentProcessId": 999,
		}}
		evs[i].Logsource.Category, evs[i].Logsource.Product = "process_creation", "linux"
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Evaluate(ctx, evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
